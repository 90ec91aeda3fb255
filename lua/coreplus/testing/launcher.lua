--- The mock coreplus server's launcher (reached as coreplus.testing.server).
--
--   local mock = require("coreplus.testing").server{ tls = true, seed = 1 }
--   mock.base_url, mock.cafile, mock.consumer_id, mock.consumer_secret,
--   mock.access_token, mock.restricted_access_token
--   mock:client{...}  mock:stats()  mock:reset()  mock:fault{...}  mock:stop()
--
-- The server is nginx with the Lua module, started from a generated
-- config in a temporary prefix under /tmp and stopped by pid. Admin calls
-- go through the curl CLI so that this module works before (and
-- independently of) the project's own HTTP code.
local conf = require "coreplus.testing.mock.conf"

local io, os, type, pairs, tostring, tonumber, error, setmetatable =
  io, os, type, pairs, tostring, tonumber, error, setmetatable
local format, concat = string.format, table.concat

local _M = { _VERSION = "0.1.0" }
local mt = { __index = {} }
local methods = mt.__index

_M.nginx = "/usr/sbin/nginx"

-- Start-up normally takes ~0.2 s; a loaded machine (sanitizer runs,
-- benchmarks in parallel) can take far longer, and waiting beats failing.
local START_TIMEOUT = 15

local DEFAULTS = { tls = true, latency = 0, skew = 0, clients = 537, seed = 1, workers = 1,
  port = false, rate_limit = true, leeway = 2, month = false, tls_variant = false, detach = false }

------------------------------------------------------------------------
-- Shell helpers
------------------------------------------------------------------------

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Under `make check` this process runs with a sanitizer runtime in
-- LD_PRELOAD; the helper commands (curl above all: it deadlocks in a futex)
-- must not inherit it.
local CLEAN = os.getenv("LD_PRELOAD") and "unset LD_PRELOAD; " or ""

--- exec(cmd) -> true when the command exited 0 (Lua 5.1 and 5.4 differ).
local function exec(cmd)
  local a, _, c = os.execute(CLEAN .. cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function capture(cmd)
  local p = assert(io.popen(CLEAN .. cmd, "r"))
  local out = p:read("*a")
  p:close()
  return out
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local sleep
do
  local ok, core = pcall(require, "coreplus.core")
  if ok and type(core) == "table" and core.sleep then
    sleep = core.sleep
  else
    sleep = function(s) exec(format("sleep %.3f", s)) end
  end
end

local function random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local b = f:read(n)
  f:close()
  return b
end

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

--- The directory holding coreplus/*.lua, whether in the repository or
-- installed: nginx loads the mock's handlers from there.
local function lua_dir()
  local src = debug.getinfo(1, "S").source
  local path = src:sub(1, 1) == "@" and src:sub(2) or "lua/coreplus/testing/launcher.lua"
  local dir = path:match("^(.*)/coreplus/testing/launcher%.lua$") or "."
  if dir:sub(1, 1) ~= "/" then
    dir = (os.getenv("PWD") or capture("pwd"):gsub("%s+$", "")) .. "/" .. dir
  end
  return dir
end

local is_root
local function running_as_root()
  if is_root == nil then is_root = capture("id -u 2>/dev/null"):match("^0%s*$") ~= nil end
  return is_root
end

------------------------------------------------------------------------
-- TLS material (openssl CLI, EC keys: a few milliseconds each)
------------------------------------------------------------------------

--- make_certs(dir, variant): ca.crt, server.crt, server.key in dir.
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
    "set -e", "cd " .. d,
    "openssl ecparam -name prime256v1 -genkey -noout -out ca.key",
    "openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj '/CN=coreplus mock test CA'" ..
      " -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'",
    "openssl ecparam -name prime256v1 -genkey -noout -out server.key",
    "openssl req -new -key server.key -out server.csr -subj " .. q("/CN=" .. cn),
    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 0x" ..
      format("%x", os.time()) .. " -out server.crt -days " .. days .. " -extfile server.ext",
    "rm -f server.csr ca.key",
  }, "\n")
  if not exec("sh -c " .. q(script) .. " >" .. q(dir .. "/openssl.log") .. " 2>&1") then
    error("coreplus.testing: openssl failed: " .. (read_file(dir .. "/openssl.log") or "?"), 0)
  end
end

------------------------------------------------------------------------
-- Processes
------------------------------------------------------------------------

-- A pid is gone when /proc has no entry or only a zombie (a daemonised
-- master is reaped by init, which may take a while).
local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

local function children(pid)
  local out = {}
  local list = capture("ls /proc 2>/dev/null")
  for p in list:gmatch("%d+") do
    local stat = read_file("/proc/" .. p .. "/stat")
    local ppid = stat and stat:match("^%d+ %b() %a (%d+)")
    if ppid == tostring(pid) then out[#out + 1] = p end
  end
  return out
end

--- stop_instance{pid=, prefix=}: QUIT, wait until every process is gone,
-- remove the prefix. Used by mock:stop() and `coreplus-mock stop`.
function _M.stop_instance(o)
  local pid = tonumber(o.pid)
  if not pid and o.prefix then pid = tonumber(read_file(o.prefix .. "/nginx.pid") or "") end
  if pid then
    local workers = children(pid)
    exec("kill -QUIT " .. pid .. " 2>/dev/null")
    local t = 0
    while alive(pid) and t < 5 do sleep(0.01); t = t + 0.01 end
    if alive(pid) then exec("kill -KILL " .. pid .. " 2>/dev/null") end
    for _, w in ipairs(workers) do
      t = 0
      while alive(w) and t < 2 do sleep(0.01); t = t + 0.01 end
      if alive(w) then exec("kill -KILL " .. w .. " 2>/dev/null") end
    end
  end
  if o.prefix and o.prefix:match("^/tmp/coreplus%-mock%.[%w]+$") then
    exec("rm -rf " .. q(o.prefix))
  end
end

-- Ports some socket already uses (any state), from /proc/net/tcp{,6}:
-- nginx retries a taken port for 2.5 s before giving up, so skip them.
local function ports_in_use()
  local used = {}
  for _, f in ipairs{ "/proc/net/tcp", "/proc/net/tcp6" } do
    for hex in (read_file(f) or ""):gmatch("\n%s*%d+: %x+:(%x%x%x%x) ") do
      used[tonumber(hex, 16)] = true
    end
  end
  return used
end

--- A free TCP port on this machine for a test server of your own (the mock
-- picks its ports the same way): below Linux's ephemeral range, not in use.
function _M.free_port()
  local used = ports_in_use()
  local port
  repeat
    local a, b = random_bytes(2):byte(1, 2)
    -- Below Linux's default ephemeral range (32768-60999), so that no
    -- outgoing connection holds it.
    port = 20000 + (a * 256 + b) % 12768
  until not used[port]
  return port
end

------------------------------------------------------------------------
-- The server object
------------------------------------------------------------------------

--- server{...} -> mock. Options (defaults): tls (true), latency (0 s),
-- skew (0 s), clients (537), seed (1), workers (1), port (a free one),
-- rate_limit (true = 10 per second; a number = that many; false = count
-- only), leeway (2 s on nbf/exp), month ("YYYY-MM"; default the current
-- month), tls_variant (nil | "expired" | "wrong_host"), detach (false:
-- when true the server outlives this Lua state).
function _M.server(opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do
    if DEFAULTS[k] == nil then error("coreplus.testing.server: unknown option '" .. tostring(k) .. "'", 2) end
    o[k] = v
  end
  if o.tls_variant and o.tls_variant ~= "expired" and o.tls_variant ~= "wrong_host" then
    error("coreplus.testing.server: tls_variant must be 'expired' or 'wrong_host'", 2)
  end
  if o.tls_variant then o.tls = true end

  local prefix = capture("mktemp -d /tmp/coreplus-mock.XXXXXXXX"):gsub("%s+$", "")
  if prefix == "" then error("coreplus.testing.server: mktemp failed", 2) end
  exec("mkdir -p " .. q(prefix .. "/logs") .. " " .. q(prefix .. "/tmp") .. " && chmod 755 " .. q(prefix))

  local self = setmetatable({ prefix = prefix, tls = o.tls and true or false, options = o,
    consumer_id = guid(), consumer_secret = secret(40), access_token = guid(),
    restricted_access_token = guid() }, mt)

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
      write_file(config_path, cjson.encode{ port = port, tls = o.tls, skew = o.skew, latency = o.latency,
        seed = o.seed, clients = o.clients, month = o.month or nil, rate_limit = o.rate_limit,
        leeway = o.leeway, consumer_id = self.consumer_id, consumer_secret = self.consumer_secret,
        access_token = self.access_token, restricted_access_token = self.restricted_access_token })
      write_file(prefix .. "/nginx.conf", conf.render{ prefix = prefix, lua_dir = lua_dir(), port = port,
        tls = o.tls, cert = prefix .. "/server.crt", key = prefix .. "/server.key",
        workers = o.workers, user_root = running_as_root(), config_path = config_path })
      -- One log per attempt: a failed attempt's [emerg] must not be read
      -- as this attempt's.
      local log = prefix .. "/logs/start-" .. attempt .. ".log"
      local cmd = format("%s -p %s -c nginx.conf -e %s", _M.nginx, q(prefix .. "/"), q(log))
      local started, text
      if o.detach then
        -- Daemonised: the server outlives this process (the CLI's case).
        started = exec(cmd .. " >" .. q(log) .. " 2>&1")
        local t = 0
        while started and not read_file(prefix .. "/nginx.pid") and t < START_TIMEOUT do
          sleep(0.005); t = t + 0.005
        end
      else
        -- In the foreground as our own child, so that stop() can reap it
        -- (pclose) instead of leaving a zombie for init.
        -- The shell prints its pid and then becomes nginx, so the master's
        -- pid is known even if nginx never writes its pid file.
        local h = io.popen(CLEAN .. "echo $$; exec " .. cmd .. " -g 'daemon off;' 2>" .. q(log), "r")
        local child = tonumber(h:read("*l") or "")
        local t = 0
        repeat
          started = read_file(prefix .. "/nginx.pid") ~= nil
          text = read_file(log) or ""
          if started or text:find("[emerg]", 1, true) or (child and not alive(child)) then break end
          sleep(0.005); t = t + 0.005
        until t > START_TIMEOUT
        if started then
          self._proc = h
        else
          -- Never pclose a live nginx: that would wait for it forever.
          if child then _M.stop_instance{ pid = child } end
          h:close()
        end
      end
      if started then
        self.port = port
        break
      end
      text = read_file(log) or ""
      if not text:find("Address already in use", 1, true) or attempt == tries then
        error("nginx did not start: " .. text, 0)
      end
    end
    self.pid = tonumber(read_file(prefix .. "/nginx.pid") or "")
    if not self.pid then error("nginx wrote no pid file", 0) end
    self.base_url = format("%s://127.0.0.1:%d", o.tls and "https" or "http", self.port)
    self.api_url = self.base_url .. "/API/Core/v2.1/"
    local health
    local t = 0
    repeat
      health = self:admin("GET", "health")
      if not health then sleep(0.01); t = t + 0.01 end
    until health or t > START_TIMEOUT
    if not health then error("the mock does not answer: " .. (read_file(prefix .. "/logs/error.log") or ""), 0) end
  end)
  if not ok then
    _M.stop_instance{ pid = self.pid, prefix = prefix }
    if self._proc then self._proc:close() end
    error("coreplus.testing.server: " .. tostring(err), 2)
  end
  if not o.detach then
    -- Stop the server when this Lua state closes, if the caller forgot.
    self._guard = setmetatable({}, { __gc = function() self:stop() end })
  end
  return self
end

--- The curl command line that reaches this mock (TLS trust included).
function methods:curl_args()
  local a = "curl -sS --max-time 10"
  if self.options.tls_variant then
    -- The certificate is broken on purpose; admin calls are not the test.
    a = a .. " --insecure"
  elseif self.cafile then
    a = a .. " --cacert " .. q(self.cafile)
  end
  return a
end

--- admin(method, name, body) -> decoded JSON | nil, err  (/__mock/<name>)
function methods:admin(method, name, body)
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

--- stats() -> {requests, rate_limited, auth_failures, ua_refused,
-- connections, max_in_window, faults, echo_requests, bookings,
-- bookings_created, clients_created, by_path, by_status, by_fault}
function methods:stats()
  return assert(self:admin("GET", "stats"))
end

--- arrivals() -> the time each request arrived at (core.now() seconds),
-- in order, since the last reset()
function methods:arrivals()
  return assert(self:admin("GET", "arrivals")).arrivals
end

function methods:reset()
  return assert(self:admin("POST", "reset", {}))
end

--- fault{fault=, count=, retry_after=, delay=, size_mb=, location=, path=,
-- method=, latency=}; fault{} clears the fault.
function methods:fault(f)
  return assert(self:admin("POST", "faults", f or {}))
end

function methods:clear_faults()
  return assert(self:admin("DELETE", "faults"))
end

--- A coreplus client configured for this mock; `overrides` win.
function methods:client(overrides)
  local o = { base_url = self.base_url, consumer_id = self.consumer_id,
    consumer_secret = self.consumer_secret, access_token = self.access_token,
    cafile = self.cafile, allow_http = not self.tls }
  for k, v in pairs(overrides or {}) do o[k] = v end
  return require("coreplus").new(o)
end

--- The absolute URL of an API path ("Client/?pageSize=10").
function methods:url(path)
  return self.api_url .. (path or "")
end

function methods:stop()
  if self.stopped then return end
  self.stopped = true
  _M.stop_instance{ pid = self.pid, prefix = self.prefix }
  if self._proc then self._proc:close(); self._proc = nil end
end

function mt.__tostring(self)
  return format("coreplus mock %s (pid %s)", tostring(self.base_url), tostring(self.pid))
end

_M.make_certs = make_certs
return _M
