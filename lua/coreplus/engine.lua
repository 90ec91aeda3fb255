--- The request engine: every request of a client goes through here. It owns
-- the attempt loop and the rule for repeating an attempt (coreplus.retry),
-- which methods are idempotent, mapping responses to errors, the call's
-- deadline, and learning the server's clock. The rest of the package
-- (client, resources, pager) uses only this interface:
--
--   engine.new(o, credentials, transport, limiter) -> eng
--   eng:call(method, path, {query=, body=, headers=, version=, multipart=, operation=}) -> decoded, res | nil, err
--     multipart = { {name=, data= | path=, filename=, type=}, ... } (then no body)
--     operation = "clients.list", ...: the metrics' label (default "request")
--   eng:stream() -> s       GETs in flight, fetched ahead (up to `concurrency`)
--     s:add(path, query, version, operation) -> id     s:next() -> id, decoded | id, nil, err | nil
--     s:pending()  s:capacity()  s:close()
--   eng:warn(key, message)  a warning, said once per engine (log option + on_request)
--   eng.concurrency, eng.clock_offset (seconds, server minus local; nil until learnt)
--   eng.metrics     the client's recorder (coreplus.metrics), told of every attempt
--   engine.IDEMPOTENT       the methods that may be repeated after a failure
local cjson = require "cjson.safe"
local config = require "coreplus.config"
local errors = require "coreplus.errors"
local retry = require "coreplus.retry"
local url = require "coreplus.url"
local dates = require "coreplus.dates"

local type = type
local tostring = tostring
local setmetatable = setmetatable
local min = math.min
local max = math.max
local abs = math.abs
local format = string.format

local _M = {}
local mt = { __index = _M }

--- Methods whose repetition cannot do twice what was asked. The C core (which
-- opens a fresh connection for the others) and the ngx transport read this
-- same set.
local IDEMPOTENT = config.core.idempotent
_M.IDEMPOTENT = IDEMPOTENT

-- A Date header further than this from the local clock is not believed: a
-- machine's clock can be wrong by minutes or hours, not by days.
local MAX_CLOCK_OFFSET = 86400

-- Credentials live here, not in fields of the engine, so that walking a
-- client (inspect, a debugger, tostring) can never reach them.
local secrets = setmetatable({}, { __mode = "k" })

-- Where warnings go without a `log` option: nginx's error log inside
-- OpenResty, else standard error.
local function default_log(message)
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.log) == "function" and ngx.WARN then
    ngx.log(ngx.WARN, "coreplus: ", message)
  elseif io and io.stderr then
    io.stderr:write("coreplus: warning: ", message, "\n")
  end
end

-- The User-Agent: the app's name first, then the library's own (the
-- transport's default), as "app/1.2 lua-coreplus/0.1.0 (libcurl/...)".
-- coreplus may block generic and library-default agents (FAQ).
local function user_agent(app, transport)
  if app == nil then return nil end
  local lib = transport.user_agent or ("lua-coreplus/" .. tostring(require("coreplus.core").version))
  if app:find("lua-coreplus/", 1, true) then return app end
  return app .. " " .. lib
end

--- eng = engine.new(o, credentials, transport, limiter): `o` is the checked
-- client options (config.check).
function _M.new(o, credentials, transport, limiter)
  local self = setmetatable({
    base_url = o.base_url, version = o.version,
    issuer = o.issuer, audience = o.audience,
    retries = o.retries, timeout = o.timeout, connect_timeout = o.connect_timeout,
    cafile = o.cafile, capath = o.capath, insecure = o.insecure,
    user_agent = user_agent(o.user_agent, transport), max_body = o.max_body, max_upload = o.max_upload,
    concurrency = o.concurrency,
    policy = retry.new(o),
    on_request = o.on_request, log = o.log or default_log,
    warned = {},
    transport = transport, limiter = limiter,
    sleep = o.sleep or transport.sleep,
    now = o.now or transport.now,
    clock_offset = o.clock_offset,   -- a start (remembered); the first Date corrects it
  }, mt)
  secrets[self] = credentials
  return self
end

--- eng:warn(key, message): says message once per engine, to the `log`
-- option, log(message, key) (else standard error / nginx's log), and to the
-- on_request hook: the next attempt's info carries warnings = {{key =,
-- message =}, ...} (the hook is still called once per attempt).
function _M:warn(key, message)
  if self.warned[key] then return end
  self.warned[key] = true
  pcall(self.log, message, key)
  local pending = self.pending_warnings or {}
  pending[#pending + 1] = { key = key, message = message }
  self.pending_warnings = pending
end

-- ===== one attempt =====

local function encode_body(body)
  if body == nil or type(body) == "string" then return body end
  local misuse = require "coreplus.misuse"
  if type(body) ~= "table" then
    misuse.raise("bad argument 'body' (table or string expected, got %s)", type(body))
  end
  local json, err = cjson.encode(body)
  if not json then misuse.raise("bad argument 'body' (%s)", tostring(err)) end
  return json
end

--- What the transport is given for one attempt: exactly core.request's
-- options, built anew for every attempt so each carries a fresh token. The
-- attempt may use what is left of the call's deadline, no more.
function _M:request_opts(req, deadline)
  local left = deadline and deadline - self.now() or self.timeout
  return {
    method = req.method, url = req.url, body = req.payload, headers = req.headers,
    multipart = req.multipart,
    credentials = secrets[self],
    issuer = self.issuer, audience = self.audience,
    now_offset = self.clock_offset or 0,
    timeout = max(0.001, min(self.timeout, left)), deadline = deadline,
    connect_timeout = max(0.001, min(self.connect_timeout, left)),
    cafile = self.cafile, capath = self.capath, insecure = self.insecure,
    user_agent = self.user_agent, limiter = self.limiter, max_body = self.max_body,
  }
end

-- The Date header says the server's time to the second, truncated, so the
-- estimate is never ahead of the server: nbf is never in the server's future.
-- A Date that cannot be read, or that is days away from the local clock, is
-- not believed (said once), so it can never poison signing.
function _M:learn_clock(res, received_at)
  local text = res.headers and res.headers.date
  if text == nil then return end
  -- Date changes once a second: most responses repeat the one just read.
  local server
  if text == self.date_text then
    server = self.date_epoch
  else
    server = dates.http_date(text)
    self.date_text, self.date_epoch = text, server
  end
  local estimate = server and server - received_at
  if not estimate or abs(estimate) > MAX_CLOCK_OFFSET then
    self:warn("bad_date", format("ignored a Date header that is %s (%q); signing keeps the clock"
      .. " it had", server and "more than a day from this machine's clock" or "not an HTTP date",
      tostring(text):sub(1, 64)))
    return
  end
  local current = self.clock_offset
  if current == nil or estimate > current or current - estimate > 2 then
    self.clock_offset = estimate
  end
end

function _M:notify(info)
  local hook = self.on_request
  info.warnings, self.pending_warnings = self.pending_warnings, nil
  if hook then
    local ok, err = pcall(hook, info)
    if not ok and io and io.stderr then
      io.stderr:write("coreplus: on_request hook failed: ", tostring(err), "\n")
    end
  end
end

-- Response bodies go through the C core's decoder (core.json_decode, libyajl):
-- it builds the same values as lua-cjson, except that integers stay integers
-- under Lua 5.4 (60, not 60.0) without a second pass over the result, and it
-- is faster than cjson.decode alone (bench/RESULTS.md). cjson itself is left
-- as it is, for users who call it.
local decode_json = require("coreplus.core").json_decode

--- Turns a transport response into decoded or (nil, err).
function _M:interpret(method, full_url, res)
  local decoded, decode_error
  local body = res.body
  if body ~= nil and body ~= "" then
    decoded, decode_error = decode_json(body)
    if decoded == nil then decode_error = decode_error or "invalid JSON" end
  elseif res.status >= 200 and res.status < 300 then
    decoded = {}
  end
  local err = errors.from_response{ status = res.status, body = decoded, raw = body,
    decode_error = decode_error, method = method, url = full_url,
    clock_offset = self.clock_offset }
  if err then return nil, err end
  if type(decoded) ~= "table" then
    return nil, errors.new{ kind = "bad_response", status = res.status, method = method,
      url = full_url, message = "response body is not a JSON object or array" }
  end
  return decoded
end

-- The outcome of one attempt: decoded | nil, err (with err.clock_changed when
-- a refused token met a clock that moved meanwhile).
function _M:outcome(req, res, terr, finished, offset_before)
  if not res then return nil, errors.from_transport(terr, req.method, req.url) end
  self:learn_clock(res, finished)
  local decoded, err = self:interpret(req.method, req.url, res)
  if err and err.kind == "invalid_token" then
    local moved = (self.clock_offset or 0) - (offset_before or 0)
    err.clock_changed = moved >= 5 or moved <= -5
  end
  return decoded, err
end

--- Runs req to its end: sends, and repeats while the rule allows and the
-- call's deadline (`timeout`, counted from the first attempt) leaves time.
-- `first` is an attempt already made elsewhere (a page fetched ahead):
-- {res=, terr=, started=, finished=, offset=}.
function _M:run(req, first)
  local transport, policy = self.transport, self.policy
  -- (a stub is not coreplus: no warning for unit tests)
  if self.user_agent == nil and (transport.name == "curl" or transport.name == "ngx") then
    self:warn("default_user_agent", "no user_agent is set: coreplus may block library defaults;"
      .. " name your app, e.g. user_agent = \"my-practice-sync/1.0\"")
  end
  local began = first and first.started or self.now()
  local deadline = began + self.timeout
  local attempt = 0
  while true do
    attempt = attempt + 1
    local res, terr, started, finished, offset_before
    if first then
      res, terr, started, finished, offset_before = first.res, first.terr, first.started,
        first.finished, first.offset
      first = nil
    else
      offset_before = self.clock_offset
      started = self.now()
      res, terr = transport.request(self:request_opts(req, deadline))
      finished = self.now()
    end
    local decoded, err = self:outcome(req, res, terr, finished, offset_before)
    local reason, delay
    if err then
      reason, delay = policy:decide{ idempotent = IDEMPOTENT[req.method], res = res, terr = terr or {},
        err = err, attempt = attempt, left = deadline - finished }
    end
    self:notify{ method = req.method, url = req.url, status = res and res.status, attempt = attempt,
      elapsed = finished - started, error = err and err.kind, retry = reason }
    local metrics = self.metrics   -- coreplus.metrics: the client's recorder, or nil
    if metrics then metrics:attempt(req, res, terr, err, finished - started, reason, self.clock_offset) end
    if not err then return decoded, res end
    if not reason then
      err = retry.final(err, { idempotent = IDEMPOTENT[req.method], res = res, terr = terr,
        attempt = attempt, timeout = self.timeout, began = began, now = finished })
      if metrics then metrics:failed(req, err) end
      return nil, err
    end
    self.sleep(delay)
  end
end

-- ===== the interface =====

local function request(self, method, path, opts)
  local base = url.api_base(self.base_url, opts and opts.version or self.version)
  return { method = method, url = url.build(base, path, opts and opts.query),
    payload = encode_body(opts and opts.body), headers = opts and opts.headers,
    multipart = opts and opts.multipart, operation = opts and opts.operation }
end

--- eng:call(method, path, {query=, body=, headers=, version=}) -> decoded, res | nil, err
function _M:call(method, path, opts)
  return self:run(request(self, method, path, opts))
end

-- GETs fetched ahead: the transport's pipeline sends them; each outcome then
-- goes through run(), so the rule for repeating is the same as for call().
local stream = {}
stream.__index = stream

--- eng:stream() -> a stream of GETs with up to `concurrency` in flight.
function _M:stream()
  return setmetatable({ engine = self, pipe = self.transport.pipeline{ concurrency = self.concurrency },
    reqs = {} }, stream)
end

function stream:add(path, query, version, operation)
  local eng = self.engine
  local req = request(eng, "GET", path, { query = query, version = version, operation = operation })
  local started = eng.now()
  local id = self.pipe:add(eng:request_opts(req, started + eng.timeout))
  self.reqs[id] = { req = req, started = started, offset = eng.clock_offset }
  return id
end

function stream:next()
  local id, res, terr = self.pipe:next()
  if id == nil then return nil end
  local f = self.reqs[id]
  self.reqs[id] = nil
  local eng = self.engine
  local decoded, err = eng:run(f.req, { res = res, terr = terr, started = f.started,
    finished = eng.now(), offset = f.offset })
  return id, decoded, err
end

function stream:pending() return self.pipe:pending() end
function stream:capacity() return self.pipe:capacity() end

function stream:close()
  if self.pipe then self.pipe:close(); self.pipe = nil end
end

return _M
