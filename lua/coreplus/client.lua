--- The client: what `coreplus.new` returns.
--
-- It holds checked options, the package's request engine (internal), a limiter, and one field per row of the catalogue
-- (`coreplus.catalogue`), each a resource bound to the engine
-- (`coreplus.resource`): `cp.clients`, `cp.appointments`, ...
--
--     for c in cp.clients:each{} do print(c.clientId, c.lastName) end
--     local body, res = cp:request("GET", "Payment/", { query = { invoiceId = id } })
--
-- Credentials are kept out of the client's fields: printing or dumping a
-- client never shows them (`tostring(cp)` names the base URL and consumer).
-- @module coreplus.client
local core = require "coreplus.core"
local config = require "coreplus.config"
local engine = require "coreplus.engine"
local misuse = require "coreplus.misuse"
local settings = require "coreplus.settings"
local url = require "coreplus.url"
local resource = require "coreplus.resource"
local transports = require "coreplus.transport"
local metrics = require "coreplus.metrics.registry"

local type = type
local pairs = pairs
local rawget = rawget
local rawset = rawset
local tostring = tostring
local setmetatable = setmetatable

local _M = { _VERSION = core.version }


-- Engines live here, not in fields of the client, so that dumping or
-- printing a client can never show the credentials they hold.
local engines = setmetatable({}, { __mode = "k" })

local mt = {}
function mt.__index(self, key)
  local method = _M[key]
  if method ~= nil then return method end
  -- The clock the engine learnt, readable as a field (doctor, specs).
  if key == "clock_offset" then return engines[self].clock_offset end
  -- One field per catalogue row, made by the engine on first use.
  local r = engines[self]:resource(key)
  if r ~= nil then rawset(self, key, r) end
  return r
end

-- What one rate budget covers (option limit_key): one practice's access
-- token (the default), or every practice of the consumer. The key never
-- carries the access token itself (limiter stats are printable).
local function limiter_key(o)
  local key = o.base_url .. " " .. o.consumer_id
  if o.limit_key == "consumer" then return key end
  local digest = core.jwt_encode(o.access_token, "lua-coreplus limiter key"):match("([^.]+)$")
  return key .. " " .. digest:sub(1, 16)
end

-- A URL's password never appears in a message (the C core's one masker).
local without_password = core.mask_url

-- Where the limit is shared when `shared_limit` is not given: the user's own
-- file on this machine (core.default_limit_path), so that a cron job and a
-- web app on one access token keep to one budget with no configuration. The
-- ngx transport shares between its workers by itself. nil, why: not shared.
local function default_shared(transport)
  if transport.name ~= "curl" or not core.default_limit_path then return nil end
  local path, err = core.default_limit_path()
  if not path then return nil, tostring(err and err.message or err) end
  return path
end

-- The limiter, a warning to give once the engine exists (or nil), and the
-- shared file its window lives in (or nil) with the key it has there.
local function make_limiter(transport, o)
  if not transport.limiter then return nil end
  local shared, why = o.shared_limit, nil
  if shared == nil then shared, why = default_shared(transport) end
  local opts = { rate = o.rate, per = o.per, shared = shared or nil,
    on_redis_error = o.on_redis_error, redis_timeout = o.redis_timeout, key = limiter_key(o),
    redis_cafile = o.redis_cafile, redis_certfile = o.redis_certfile,
    redis_keyfile = o.redis_keyfile, redis_insecure = o.redis_insecure }
  local ok, lim = pcall(transport.limiter, opts)
  if not ok and o.shared_limit == nil and shared then
    -- The default file is unusable (another version's, say): the process
    -- limits itself alone rather than refusing to start.
    why = without_password(tostring(lim))
    opts.shared = nil
    ok, lim = pcall(transport.limiter, opts)
  end
  if not ok then
    -- the limiter names its own fields; say the client's option instead
    local msg = without_password(tostring(lim)):gsub("^.-bad field '([%w_]+)'", function(f)
      return "coreplus.new: option '" .. (f == "shared" and "shared_limit" or f) .. "'"
    end)
    misuse.raise("%s", msg)
  end
  return lim, why and ("the rate limit is not shared with other processes on this machine (" .. why
    .. "): set shared_limit to a file of your own, or false to say so"),
    -- the shared file it keeps its window in (not a Redis URL), if any
    transport.name == "curl" and opts.shared and not core.redis_url(opts.shared) and opts.shared or nil,
    opts.key
end

-- The keys (practices) this process keeps in each shared limit file, to say
-- once, when a client is made, that they are more than a file holds
-- (core.defaults.limit_file_keys): while every slot is in use, the others
-- are limited in this process alone (docs/decisions.md#limit-carried-to-file).
local file_keys = {}   -- path -> { keys = {[limiter] = key} (weak), said = true }

local function crowded_file(path, lim, key)
  local f = file_keys[path]
  if not f then
    f = { keys = setmetatable({}, { __mode = "k" }) }
    file_keys[path] = f
  end
  f.keys[lim] = key
  if f.said then return nil end
  local seen, n = {}, 0
  for _, k in pairs(f.keys) do
    if not seen[k] then seen[k], n = true, n + 1 end
  end
  local most = core.defaults.limit_file_keys
  if n <= most then return nil end
  f.said = true
  return ("this process has more rate limits (practices) in the shared limit file %s than the %d it"
    .. " holds: while all are in use the others are limited in this process alone. With many practices,"
    .. " set shared_limit = false (COREPLUS_SHARED_LIMIT=off) or a redis:// URL"):format(path, most)
end

--- Makes a client; `coreplus.new` is the same function, and says what the
-- options are.
-- @tparam table opts the options
-- @return a client
function _M.new(opts)
  local o = config.check(opts)
  local transport = transports.resolve(o.transport)
  local credentials = { consumer_id = o.consumer_id, consumer_secret = o.consumer_secret,
    access_token = o.access_token }
  local limiter, unshared, file, key = make_limiter(transport, o)
  local eng = engine.new(o, credentials, transport, limiter, resource.new)
  eng.metrics = metrics.for_client(o)
  if unshared then eng:warn("limit_not_shared", unshared) end
  local crowded = file and crowded_file(file, limiter, key)
  if crowded then eng:warn("limit_file_full", crowded) end
  -- (a stub is not coreplus: no warning for unit tests)
  if opts.issuer == nil and (transport.name == "curl" or transport.name == "ngx") then
    eng:warn("default_issuer", "no issuer is set: coreplus documents iss as your company's URL; set"
      .. " issuer (COREPLUS_ISSUER), e.g. issuer = \"https://myapp.example\"")
  end
  local self = setmetatable({
    base_url = o.base_url,
    version = o.version,
    base = url.api_base(o.base_url, o.version),
    consumer_id = o.consumer_id,
    issuer = o.issuer, audience = o.audience,
    concurrency = o.concurrency,
    transport = transport,
    limiter = limiter,
    practice = o.practice,
  }, mt)
  engines[self] = eng
  return self
end

function mt.__tostring(self)
  return ("coreplus client %s (consumer %s)"):format(rawget(self, "base"), rawget(self, "consumer_id"))
end

--- A client, from `coreplus.new`. Besides one field per resource
-- (`cp.clients`, ...: `coreplus.catalogue`) and the method `request`, it has
-- these fields to read (setting them changes nothing):
--
-- - `base_url`: the base URL, without a trailing slash
-- - `version`: the API version; `base`: `<base_url>/API/Core/<version>/`
-- - `consumer_id`: the consumer id (not a secret)
-- - `issuer`, `audience`: the `iss` and `aud` claims signed
-- - `concurrency`: pages fetched ahead by the iterators
-- - `transport`: the transport in use (`coreplus.transport`)
-- - `limiter`: the limiter in use (nil when the transport has none)
-- - `practice`: the label of this client's metrics (`coreplus.metrics`)
-- - `clock_offset`: seconds the server's clock is ahead of this machine's,
--   learnt from the responses' `Date` headers (nil until the first response)
-- @type client

--- The API versions this client found its operations answer under, when
-- the version it tried first had no route (see `coreplus.catalogue`'s
-- `versions`): `{["clients:list"] = "v2", ...}`, a copy.
-- @treturn table operation key -> version
function _M:found_versions()
  local out = {}
  for k, v in pairs(engines[self].found_versions) do out[k] = v end
  return out
end

--- Starts from versions found earlier (by another run: the CLI keeps them
-- in a file), and tells `on_found(key, version)` each version found from
-- now on.
-- @tparam table known operation key -> version, as `found_versions` gives
-- @tparam[opt] function on_found
function _M:learn_versions(known, on_found)
  if type(known) ~= "table" then misuse.raise("bad argument #1 to 'learn_versions' (table expected)") end
  if on_found ~= nil and not config.callable(on_found) then
    misuse.raise("bad argument #2 to 'learn_versions' (function expected)")
  end
  local eng = engines[self]
  for k, v in pairs(known) do
    if type(k) == "string" and type(v) == "string" and v:match("^v[%d.]+$") then eng.found_versions[k] = v end
  end
  eng.on_version_found = on_found
end

--- new(opts) for options read from settings (coreplus.from_env,
-- coreplus.from_profile): an option it refuses is named with the variable or
-- profile key that gave it (`from`, coreplus.settings.read's).
-- @tparam table opts the options
-- @tparam table from setting name -> where it was given
-- @return a client
function _M.new_from(opts, from)
  local ok, cp = pcall(_M.new, opts)
  if ok then return cp end
  if type(cp) ~= "string" then error(cp, 0) end
  -- (raised again at the caller's line: the position new gave it goes first)
  misuse.raise("%s", settings.blame((cp:gsub("^.-:%d+: ", "", 1)), from))
end

-- The options cp:request takes.
local REQUEST_OPTION_LIST = "query, body, headers, version, operation, multipart"
local REQUEST_OPTIONS = {}
for k in REQUEST_OPTION_LIST:gmatch("%a+") do REQUEST_OPTIONS[k] = true end

--- Sends one request to any path, for endpoints the catalogue does not
-- have yet: signed, throttled and retried like the resource operations.
-- @tparam string method `"GET"`, `"POST"`, `"PUT"`, `"DELETE"` (any case)
-- @tparam string path relative to `/API/Core/<version>/`, e.g. `"Payment/"`
--  (no `?`, `#`, `..` or spaces: put parameters in `query`)
-- @tparam[opt] table opts `query` (a table: list values become repeated
--  keys), `body` (a table, sent as JSON, or a string), `headers` (extra
--  headers), `version` (this request's API version), `operation` (its label
--  in the metrics, e.g. `"payments:list"`; default `"request"`), `multipart`
--  (a list of parts, for `File/` and `Message/`); any other key raises
-- @treturn table the decoded JSON body, and the transport's response (`status`,
--  `headers`, `body`, `elapsed`, ...); or nil and an error (`coreplus.errors`)
-- @usage local body, res = cp:request("GET", "Payment/", { query = { invoiceId = "..." } })
function _M:request(method, path, opts)
  if type(method) ~= "string" or not method:match("^%a+$") then
    misuse.raise("bad argument #1 to 'request' (HTTP method expected)")
  end
  if type(path) ~= "string" or path:find("[%c ?#]") or path:find("%.%.") then
    misuse.raise("bad argument #2 to 'request' (path without spaces, '?', '#' or '..' expected)")
  end
  if opts ~= nil and type(opts) ~= "table" then
    misuse.raise("bad argument #3 to 'request' (table expected, got %s)", type(opts))
  end
  for k in pairs(opts or {}) do
    -- a misspelt `query` would otherwise be dropped, and the request sent without it
    if not REQUEST_OPTIONS[k] then
      misuse.raise("bad argument #3 to 'request' (unknown option '%s'; known: %s)", tostring(k), REQUEST_OPTION_LIST)
    end
  end
  local op = opts and opts.operation
  if op ~= nil and (type(op) ~= "string" or #op > 64 or not op:match("^[%w_.:-]+$")) then
    misuse.raise("bad argument #3 to 'request' (operation: up to 64 letters, digits, '_', '.', ':' or '-')")
  end
  return engines[self]:call(method:upper(), (path:gsub("^/+", "")), opts)
end

--- This client's metrics: its practice's series in its registry
-- (`coreplus.metrics`), in the Prometheus text format. Every client with the
-- same `practice` and registry adds to the same series.
-- @treturn string the text format, version 0.0.4 (no series with `metrics = false`)
-- @usage io.write(cp:metrics())
function _M:metrics()
  local rec = engines[self].metrics
  return require("coreplus.metrics.exposition").render(rec and rec.registry:flatten{ practice = rec.practice } or {})
end

return _M
