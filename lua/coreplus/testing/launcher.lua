--- The mock coreplus server's launcher (reached as `coreplus.testing.server`).
-- With `testing` the module coreplus.testing, as your spec loads it:
--
--     local mock = testing.server{ tls = true, seed = 1 }
--     local cp = mock:client{}          -- a coreplus client configured for it
--     ...
--     mock:stop()
--
-- The server is nginx with the Lua module (OpenResty, or a distribution's
-- nginx with its Lua module: see `coreplus.testing.nginx`), started from a
-- generated configuration in a private prefix under `$TMPDIR` (default
-- /tmp). nginx never sees the caller's `LUA_PATH`/`LUA_CPATH`. Unless
-- `detach` is set, a small watchdog process stops nginx and removes the
-- prefix as soon as this process ends, however it ends (SIGKILL and SIGPIPE
-- included). Admin calls go through the curl CLI, so this module works
-- before (and independently of) the project's own HTTP code.
-- @module coreplus.testing.launcher
local conf = require "coreplus.testing.mock.conf"
local nginx = require "coreplus.testing.nginx"
local process = require "coreplus.testing.process"
local WATCHDOG = require("coreplus.testing.watchdog").script
local defaults = require "coreplus.defaults"
local url = require "coreplus.url"

local io, os, type, pairs, ipairs, tostring, tonumber, error, setmetatable =
  io, os, type, pairs, ipairs, tostring, tonumber, error, setmetatable
local format, concat = string.format, table.concat

local _M = { _VERSION = "0.1.0" }
local mt = { __index = {} }
local mock = mt.__index

--- The nginx binary to run, when set (a path or a command name); otherwise
-- the `nginx` option, `$COREPLUS_NGINX` or a search decide (`coreplus.testing.nginx`).
_M.nginx = nil

-- Start-up normally takes ~0.2 s; a loaded machine (sanitizer runs,
-- benchmarks in parallel) can take far longer, and waiting beats failing.
local START_TIMEOUT = 15

local DEFAULTS = { tls = true, latency = 0, skew = 0, clients = 537, seed = 1, workers = 1,
  port = false, rate_limit = true, leeway = 2, month = false, tls_variant = false, detach = false,
  nginx = false, versions = "strict", block_default_user_agent = false, limit_key = "access_token",
  tenants = 1, ignore_filters = false, v2_only = false, jitter = 0 }

local q, exec, capture, sleep = process.q, process.exec, process.capture, process.sleep
local read_file, write_file, random_bytes = process.read_file, process.write_file, process.random_bytes
local alive, is_prefix = process.alive, process.is_prefix

-- nginx's LuaJIT must not see the caller's module paths (coreplus.testing.env
-- says why): its built-in defaults plus nginx.conf's lua_package_path are
-- what it needs. Nor a sanitizer preload.
local NGINX_ENV = require("coreplus.testing.env").shell() .. "unset LD_PRELOAD; "

-- ===== Credentials =====

local function guid()
  local b = { random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 0x40
  b[9] = b[9] % 64 + 0x80
  local h = {}
  for i = 1, 16 do h[i] = format("%02x", b[i]) end
  return concat(h, "", 1, 4) .. "-" .. concat(h, "", 5, 6) .. "-" .. concat(h, "", 7, 8) .. "-" ..
    concat(h, "", 9, 10) .. "-" .. concat(h, "", 11, 16)
end

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local function secret(n)
  local out = {}
  for i, c in ipairs{ random_bytes(n):byte(1, n) } do
    local k = c % #ALNUM + 1
    out[i] = ALNUM:sub(k, k)
  end
  return concat(out)
end

-- ===== Where things are =====

local function cwd()
  return os.getenv("PWD") or capture("pwd"):gsub("%s+$", "")
end

-- The directory holding coreplus/*.lua, whether in the repository or
-- installed: nginx loads the mock's handlers from there.
local function lua_dir()
  local src = debug.getinfo(1, "S").source
  local path = src:sub(1, 1) == "@" and src:sub(2) or "lua/coreplus/testing/launcher.lua"
  local dir = path:match("^(.*)/coreplus/testing/launcher%.lua$") or "."
  if dir:sub(1, 1) ~= "/" then dir = cwd() .. "/" .. dir end
  return dir
end

-- Where prefixes are made: $TMPDIR (absolute), else /tmp.
local function temp_root()
  local t = os.getenv("TMPDIR")
  if t == nil or t == "" then t = "/tmp" end
  if t:sub(1, 1) ~= "/" then t = cwd() .. "/" .. t end
  return (t:gsub("(.)/+$", "%1"))
end

local is_root
local function running_as_root()
  if is_root == nil then is_root = capture("id -u 2>/dev/null"):match("^0%s*$") ~= nil end
  return is_root
end

-- ===== TLS material (openssl CLI, EC keys: a few milliseconds each) =====

-- make_certs(dir, variant): ca.crt, server.crt, server.key (mode 0600) in dir.
-- variant: nil (valid for localhost and 127.0.0.1), "expired" (notAfter a
-- day ago), "wrong_host" (valid only for wrong.example).
local function make_certs(dir, variant)
  local san = "DNS:localhost,IP:127.0.0.1"
  local cn = "localhost"
  if variant == "wrong_host" then san, cn = "DNS:wrong.example", "wrong.example" end
  -- OpenSSL 3.0's x509 takes a negative -days: notAfter lands in the past.
  local days = variant == "expired" and "-1" or "825"
  local ext = format("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" ..
    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n", san)
  write_file(dir .. "/server.ext", ext)
  local d = q(dir)
  local script = concat({
    "set -e", "umask 077", "cd " .. d,
    "openssl ecparam -name prime256v1 -genkey -noout -out ca.key",
    "openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj '/CN=coreplus mock test CA'" ..
      " -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'",
    "openssl ecparam -name prime256v1 -genkey -noout -out server.key",
    "openssl req -new -key server.key -out server.csr -subj " .. q("/CN=" .. cn),
    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 0x" ..
      format("%x", os.time()) .. " -out server.crt -days " .. days .. " -extfile server.ext",
    "rm -f server.csr ca.key",
    -- The certificates are public (clients read ca.crt); the key is not.
    "chmod 644 ca.crt server.crt",
  }, "\n")
  if not exec("sh -c " .. q(script) .. " >" .. q(dir .. "/openssl.log") .. " 2>&1") then
    error("coreplus.testing: openssl failed: " .. (read_file(dir .. "/openssl.log") or "?"), 0)
  end
end

--- Makes a test CA and a server certificate signed by it (prime256v1 keys,
-- with the `openssl` command).
-- @function make_certs
-- @tparam string dir where to write `ca.crt`, `server.crt` and `server.key` (0600)
-- @tparam[opt] string variant nil (valid for `localhost` and `127.0.0.1`),
--  `"expired"` (notAfter a day ago) or `"wrong_host"` (for `wrong.example` only)
_M.make_certs = make_certs

-- ===== Processes and ports =====

--- Stops a mock by pid and/or prefix (`mock:stop()` and `coreplus-mock stop`
-- use it): `coreplus.testing.process.stop_instance`.
-- @function stop_instance
-- @tparam table o `{pid = master pid, prefix = directory}` (either may be nil)
_M.stop_instance = process.stop_instance

--- A free TCP port on this machine for a test server of your own (the mock
-- picks its ports the same way): below Linux's ephemeral range
-- (32768-60999), so that no outgoing connection holds it, and not in use.
-- `coreplus.testing.process.free_port`.
-- @function free_port
-- @treturn integer
_M.free_port = process.free_port

-- ===== Starting =====

-- Daemonised: the server outlives this process (the CLI's case).
local function start_detached(cmd, prefix, log)
  if not exec(NGINX_ENV .. cmd .. " </dev/null >" .. q(log) .. " 2>&1") then return false end
  local t = 0
  while not read_file(prefix .. "/nginx.pid") and t < START_TIMEOUT do
    sleep(0.005); t = t + 0.005
  end
  return read_file(prefix .. "/nginx.pid") ~= nil
end

-- In the foreground, under the watchdog. Returns started, the watchdog's
-- pipe and nginx's pid (known even when nginx never writes its pid file).
local function start_watched(self, bin, prefix, log)
  local watch = assert(io.popen(process.CLEAN .. NGINX_ENV .. "exec sh -c " .. q(WATCHDOG) .. " sh " .. q(prefix)
    .. " " .. q(log) .. " " .. q(bin) .. " -p " .. q(prefix .. "/") .. " -c nginx.conf -e " .. q(log), "w"))
  self._watch = watch
  local master, started
  local t = 0
  repeat
    if not master then
      local m, r = (read_file(prefix .. "/master.pid") or ""):match("^(%d+) (%d+)")
      master, self._reader = tonumber(m), tonumber(r)
    end
    -- nginx writes its pid file once the configuration has loaded (Lua's
    -- init included) and the port is bound.
    started = master ~= nil and read_file(prefix .. "/nginx.pid") ~= nil
    if started or (read_file(log) or ""):find("[emerg]", 1, true) or (master and not alive(master)) then break end
    sleep(0.005); t = t + 0.005
  until t > START_TIMEOUT
  return started, master
end

-- Tells the watchdog to stop nginx and waits until it has: its reader is
-- killed (an inherited copy of the pipe may hold EOF back), then the pipe
-- closed (pclose reaps the watchdog).
local function release(self)
  local watch = self._watch
  if not watch then return end
  self._watch = nil
  if self._reader then exec("kill -KILL " .. self._reader .. " 2>/dev/null") end
  self._reader = nil
  watch:close()
end

-- Ends a failed attempt. `keep`: the prefix is reused by the next attempt.
local function end_attempt(self, keep)
  if not self._watch then return end
  write_file(self.prefix .. "/abort", "")
  if keep then write_file(self.prefix .. "/keep", "") end
  release(self)   -- the watchdog kills nginx if it runs, and waits for it
  if keep then os.remove(self.prefix .. "/keep"); os.remove(self.prefix .. "/abort") end
end

local function check_options(opts)
  local o = {}
  for k, v in pairs(DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do
    if DEFAULTS[k] == nil then error("coreplus.testing.server: unknown option '" .. tostring(k) .. "'", 3) end
    o[k] = v
  end
  if o.tls_variant and o.tls_variant ~= "expired" and o.tls_variant ~= "wrong_host" then
    error("coreplus.testing.server: tls_variant must be 'expired' or 'wrong_host'", 3)
  end
  if o.nginx and type(o.nginx) ~= "string" then
    error("coreplus.testing.server: nginx must be a path or command name", 3)
  end
  if o.tls_variant then o.tls = true end
  local n = o.tenants
  if type(n) ~= "number" or n % 1 ~= 0 or n < 1 or n > 100000 then
    error("coreplus.testing.server: tenants must be an integer from 1 to 100000", 3)
  end
  return o
end

--- Starts a mock coreplus server on 127.0.0.1: `testing.server{...}`.
-- @tparam[opt] table opts the options, with their defaults in brackets:
--
--  - `tls` (true): HTTPS with a fresh test CA (`mock.cafile`); false: plain HTTP
--  - `latency` (0): seconds added to every API request (non-blocking)
--  - `skew` (0): seconds added to the server's clock (token checks, `Date`)
--  - `clients` (537), `seed` (1), `month` (the current one, "YYYY-MM"): the fixture data
--  - `workers` (1): nginx worker processes
--  - `port` (a free one): the port to listen on; a taken one fails at once
--  - `rate_limit` (true = 10 per second; a number = that many; false = count only)
--  - `leeway` (2): seconds of tolerance on `nbf`/`exp`
--  - `tls_variant` (none): `"expired"` or `"wrong_host"` certificates, for TLS failure tests
--  - `nginx` (found): the nginx or openresty binary to run (also `$COREPLUS_NGINX`)
--  - `versions` ("strict"): each resource only under the versions the docs show; "lax": v2
--    and v2.1 for all
--  - `block_default_user_agent` (false): also refuse the library's bare default agent
--  - `limit_key` ("access_token"): what one rate budget covers; "consumer": one per consumer id
--  - `ignore_filters` (false), `v2_only` (none: a list of resource names such as
--    `{ "Location" }`), `jitter` (0 s): a server that differs from the docs
--    (`mock:switches` says how; they can change while the mock runs)
--  - `tenants` (1): practices that installed the add-on, each with its own full access token
--    (`mock.access_tokens`; the first is `mock.access_token`) and so its own rate budget
--  - `detach` (false): true leaves nginx running after this process ends
--   (`coreplus-mock start`); otherwise a watchdog stops it when this
--   process ends, and a forgotten `stop()` runs when the mock is collected
-- @treturn mock a running server: fields `base_url`, `api_url`, `cafile`
--  (nil for plain HTTP), `consumer_id`, `consumer_secret`, `access_token`,
--  `restricted_access_token` (lacks the client-list permission), `access_tokens`
--  (one per tenant, in order), `port`,
--  `pid` (nginx's master), `prefix` (its directory), `nginx` (the binary);
--  the methods of `mock` below. Raises, with nginx's own message, when it cannot start.
function _M.server(opts)
  local o = check_options(opts or {})
  local bin = nginx.find(o.nginx or _M.nginx or nil)

  local prefix = capture("mktemp -d " .. q(temp_root() .. "/coreplus-mock.XXXXXXXX")):gsub("%s+$", "")
  if not is_prefix(prefix) then error("coreplus.testing.server: mktemp failed in " .. temp_root(), 2) end
  exec("mkdir -p " .. q(prefix .. "/logs") .. " " .. q(prefix .. "/tmp"))

  local self = setmetatable({ prefix = prefix, tls = o.tls and true or false, options = o,
    nginx = bin.path, consumer_id = guid(), consumer_secret = secret(40), access_token = guid(),
    restricted_access_token = guid() }, mt)
  self.access_tokens = { self.access_token }
  for i = 2, o.tenants do self.access_tokens[i] = guid() end

  local ok, err = pcall(function()
    if o.tls then
      make_certs(prefix, o.tls_variant or nil)
      self.cafile = prefix .. "/ca.crt"
    end
    local config_path = prefix .. "/mock.json"
    local cjson = require "cjson"
    local tries = o.port and 1 or 20
    for attempt = 1, tries do
      local port = o.port or _M.free_port()
      -- The test credentials: readable by this user only. The prefix is
      -- still mktemp's 0700 while they are written.
      write_file(config_path, cjson.encode{ port = port, tls = o.tls, skew = o.skew, latency = o.latency,
        seed = o.seed, clients = o.clients, month = o.month or nil, rate_limit = o.rate_limit,
        leeway = o.leeway, versions = o.versions, block_default_user_agent = o.block_default_user_agent,
        limit_key = o.limit_key, ignore_filters = o.ignore_filters, v2_only = o.v2_only or nil,
        jitter = o.jitter, consumer_id = self.consumer_id, consumer_secret = self.consumer_secret,
        access_token = self.access_token, restricted_access_token = self.restricted_access_token,
        access_tokens = self.access_tokens })
      exec("chmod 600 " .. q(config_path))
      write_file(prefix .. "/nginx.conf", conf.render{ prefix = prefix, lua_dir = lua_dir(), port = port,
        tls = o.tls, cert = prefix .. "/server.crt", key = prefix .. "/server.key",
        workers = o.workers, user_root = running_as_root(), config_path = config_path,
        modules = bin.modules })
      -- Others may read the certificates and logs, never the secrets.
      exec("chmod 755 " .. q(prefix))
      -- One log per attempt: a failed attempt's [emerg] must not be read
      -- as this attempt's.
      local log = prefix .. "/logs/start-" .. attempt .. ".log"
      local started
      if o.detach then
        started = start_detached(format("%s -p %s -c nginx.conf -e %s", q(bin.path), q(prefix .. "/"), q(log)),
          prefix, log)
      else
        started, self._child = start_watched(self, bin.path, prefix, log)
      end
      if started then
        self.port = port
        break
      end
      local text = read_file(log) or ""
      local retry = text:find("Address already in use", 1, true) and attempt < tries
      end_attempt(self, retry)
      if not retry then error("nginx did not start: " .. (text ~= "" and text or "no message"), 0) end
      os.remove(prefix .. "/master.pid")
    end
    -- The pid file can exist before nginx has written it: the foreground
    -- master's pid is known anyway (the watchdog reports it).
    self.pid = tonumber(read_file(prefix .. "/nginx.pid") or "") or self._child
    if not self.pid then error("nginx wrote no pid file", 0) end
    self.base_url = format("%s://127.0.0.1:%d", o.tls and "https" or "http", self.port)
    self.api_url = url.api_base(self.base_url, defaults.version)
    local health
    local t = 0
    repeat
      health = self:admin("GET", "health")
      if not health then sleep(0.01); t = t + 0.01 end
    until health or t > START_TIMEOUT
    if not health then error("the mock does not answer: " .. (read_file(prefix .. "/logs/error.log") or ""), 0) end
  end)
  if not ok then
    end_attempt(self, false)
    _M.stop_instance{ pid = self.pid or self._child, prefix = prefix }
    error("coreplus.testing.server: " .. tostring(err), 2)
  end
  if not o.detach then
    -- Stop the server when this Lua state closes, if the caller forgot.
    self._guard = setmetatable({}, { __gc = function() self:stop() end })
  end
  return self
end

-- ===== The mock object =====

--- A running mock (from `testing.server`).
-- @type mock

--- The curl command line that reaches this mock (TLS trust included).
-- @treturn string
function mock:curl_args()
  local a = "curl -sS --max-time 10"
  if self.options.tls_variant then
    -- The certificate is broken on purpose; admin calls are not the test.
    a = a .. " --insecure"
  elseif self.cafile then
    a = a .. " --cacert " .. q(self.cafile)
  end
  return a
end

--- Calls an admin endpoint, `/__mock/<name>` (docs/mock.md lists them).
-- @tparam string method
-- @tparam string name
-- @param[opt] body a table, sent as JSON
-- @return the decoded JSON answer, or nil and the error text
function mock:admin(method, name, body)
  local cjson = require "cjson.safe"
  local cmd = self:curl_args() .. " -X " .. method
  if body ~= nil then
    cmd = cmd .. " -H 'Content-Type: application/json' --data-binary " .. q(cjson.encode(body))
  end
  local out = capture(cmd .. " " .. q(self.base_url .. "/__mock/" .. name) .. " 2>&1")
  local v = cjson.decode(out)
  if v == nil then return nil, out end
  if type(v) == "table" and v.error then return nil, v.error end
  return v
end

--- The server's counters.
-- @treturn table `{requests, rate_limited, auth_failures, ua_refused,
--  connections, max_in_window, faults, echo_requests, bookings,
--  bookings_created, clients_created, by_path, by_status, by_fault}`
--  (docs/mock.md says what each counts)
function mock:stats()
  return assert(self:admin("GET", "stats"))
end

--- The API requests that arrived since the last reset or the last call, in
-- the order their answers were done (at most the latest 50,000; a call
-- empties the log).
-- @treturn table `{{t = arrival (unix seconds, ms), status = n, tenant = i, done = when
--  the answer was (unix seconds, ms)}, ...}`;
--  `tenant` is the index in `mock.access_tokens` (0: the token was refused or
--  is the restricted one)
function mock:arrivals()
  return assert(self:admin("GET", "arrivals")).arrivals
end

--- Zeroes the counters and rate windows, forgets bookings, created records
-- and counted faults, and clears the server-wide fault and latency.
function mock:reset()
  return assert(self:admin("POST", "reset", {}))
end

--- Sets the server-wide fault; `mock:fault{}` clears it.
-- @tparam table f `{fault =, count =, retry_after =, delay =, size_mb =,
--  location =, path =, method =, latency =}` (docs/mock.md lists the faults)
function mock:fault(f)
  return assert(self:admin("POST", "faults", f or {}))
end

--- Reads or changes the switches that make the mock differ from the docs
-- as a real server may: `ignore_filters` (true: the query filters the docs
-- do not document are ignored, every row comes back), `v2_only` (resource
-- names answered only under v2: `{ "Location" }`), `jitter` (seconds: a
-- random delay in [0, jitter) before the rate limit counts a request).
-- `mock:reset()` returns them to the values the mock started with.
-- @tparam[opt] table changes the switches to change; none: only read them
-- @treturn table the switches now: `{ignore_filters =, v2_only = {...}, jitter =}`
function mock:switches(changes)
  if changes == nil then return assert(self:admin("GET", "switches")) end
  return assert(self:admin("POST", "switches", changes))
end

--- Clears the server-wide fault and latency.
function mock:clear_faults()
  return assert(self:admin("DELETE", "faults"))
end

-- The issuer and user agent mock:client gives its clients unless told
-- otherwise: a test double's client should not say "no issuer is set" and
-- "no user_agent is set" in every suite that uses it.
local CLIENT_NAMES = { issuer = "https://mock.lua-coreplus.test", user_agent = "coreplus-mock-client/1.0" }

--- A coreplus client configured for this mock. Its issuer is
-- "https://mock.lua-coreplus.test" and its user agent "coreplus-mock-client/1.0"
-- (sent before the library's) unless overridden.
-- @tparam[opt] table overrides options that win over the mock's (`coreplus.new`);
--  `issuer = false` or `user_agent = false` leaves that option unset (the
--  library's default, and its warning: for a test of them)
-- @return a client
function mock:client(overrides)
  local o = { base_url = self.base_url, consumer_id = self.consumer_id,
    consumer_secret = self.consumer_secret, access_token = self.access_token,
    cafile = self.cafile, allow_http = not self.tls, issuer = CLIENT_NAMES.issuer,
    user_agent = CLIENT_NAMES.user_agent }
  for k, v in pairs(overrides or {}) do o[k] = v end
  for k in pairs(CLIENT_NAMES) do
    if o[k] == false then o[k] = nil end
  end
  return require("coreplus").new(o)
end

--- The absolute URL of an API path: `mock:url("Client/?pageSize=10")`.
-- @tparam[opt] string path
-- @treturn string
function mock:url(path)
  return self.api_url .. (path or "")
end

--- Stops nginx (QUIT, then KILL after 5 s), waits until it and its workers
-- are gone and removes the prefix. Safe to call again.
function mock:stop()
  if self.stopped then return end
  self.stopped = true
  release(self)   -- the watchdog stops nginx, reaps it, removes the prefix
  -- A detached server, or a watchdog someone killed: do it from here.
  _M.stop_instance{ pid = self.pid, prefix = self.prefix }
end

function mt.__tostring(self)
  return format("coreplus mock %s (pid %s)", tostring(self.base_url), tostring(self.pid))
end

return _M
