-- A private redis-server for specs and benches, on a free 127.0.0.1 port,
-- started in the background and stopped by pid.
--   local Redis = dofile("spec/support/redis.lua")
--   local server = Redis.new()
--   server:start{ password =, port =, tls = certs, users = { "alice on >pw ~* &* +@all" },
--                 args = { "--cluster-enabled", "yes", ... } }   -> url
--     (tls: Redis.certs(): the port is TLS only, url rediss://; clients must
--      show a certificate when certs.clients == "yes")
--   server:stop()    SIGTERM, waits       server:kill()   SIGKILL, no wait
--   server:pause(s)  DEBUG SLEEP s in the background (a BGSAVE fork, a failover)
--   server:cli(args) the redis-cli command line for it
--   server.port, server.url, server.pid, server.dir
--   Redis.certs([dir]) -> a test CA, a server certificate for 127.0.0.1 and
--     localhost, a client certificate, and another CA with a server
--     certificate of its own: { dir, ca, cert, key, client_cert, client_key,
--     other_ca, other_cert, other_key } (openssl, a few hundred ms)
--   Redis.free_port([bus]) -> a port nobody listens on (bus: port + 10000 too)
--   Redis.keys(prefix) -> key(name): a limiter key no other run has used
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local read_file, sh, q = F.read, F.sh, F.q

local M = {}
local server = {}
server.__index = server

-- (the mock's picker: it hands out none twice and, with bus, port + 10000
-- is free too)
M.free_port = require("coreplus.testing.process").free_port

function M.new()
  return setmetatable({}, server)
end

M.keys = dofile("spec/support/limit_procs.lua").keys

local gone = F.gone
M.gone = gone

function server:cli(args)
  local tls = ""
  if self.tls then
    tls = "--tls --cacert " .. q(self.tls.ca) .. " "
    if self.tls.client_cert then
      tls = tls .. "--cert " .. q(self.tls.client_cert) .. " --key " .. q(self.tls.client_key) .. " "
    end
  end
  return ("redis-cli -h 127.0.0.1 -p %d %s%s %s"):format(self.port, tls,
    self.password and ("--no-auth-warning -a " .. q(self.password)) or "", args)
end

-- Waits until the server answers PING (true) or has died (false).
function server:wait_ready()
  for _ = 1, 200 do
    if sh(self:cli("ping 2>/dev/null | grep -q -e PONG -e NOAUTH")) then return true end
    if gone(self.pid) then return false end
    core.sleep(0.05)
  end
  return false
end

function server:start(o)
  o = o or {}
  if self.opts and o.port and o.port == self.port then   -- started again: as before
    for k, v in pairs(self.opts) do
      if o[k] == nil then o[k] = v end
    end
  end
  self.opts = o
  self.port = o.port or self.port or M.free_port(o.bus)
  self.password = o.password
  self.tls = o.tls or (o.port and self.tls) or nil
  if not self.dir then
    self.dir = F.tmpdir()   -- under $TMPDIR: scripts/listeners finds what is left
  end
  local args = { "--bind", "127.0.0.1", "--save", "''", "--appendonly", "no", "--daemonize", "no",
    "--enable-debug-command", "local", "--dir", q(self.dir) }
  if self.tls then
    local t = self.tls
    for _, a in ipairs{ "--port", "0", "--tls-port", self.port, "--tls-cert-file", q(t.cert),
        "--tls-key-file", q(t.key), "--tls-ca-cert-file", q(t.ca), "--tls-auth-clients",
        t.clients or "no", "--tls-replication", "yes", "--tls-cluster", "yes" } do
      args[#args + 1] = a
    end
  else
    args[#args + 1] = "--port " .. self.port
  end
  if o.password then args[#args + 1] = "--requirepass " .. q(o.password) end
  for _, u in ipairs(o.users or {}) do
    args[#args + 1] = "--user"
    for word in u:gmatch("%S+") do args[#args + 1] = q(word) end
  end
  for _, a in ipairs(o.args or {}) do args[#args + 1] = q(a) end
  local pidfile = self.dir .. "/pid"
  assert(sh(("%s %s >>%s/log 2>&1 & echo $! >%s"):format(o.binary or "redis-server",
    table.concat(args, " "), q(self.dir), q(pidfile))))
  self.pid = math.tointeger(tonumber(read_file(pidfile)))
  if not self:wait_ready() then
    local log = read_file(self.dir .. "/log")
    self:stop()
    error("redis-server did not start: " .. tostring(log))
  end
  self.url = ("%s://127.0.0.1:%d/0"):format(self.tls and "rediss" or "redis", self.port)
  return self.url
end

function server:stop()
  if self.pid then
    sh("kill " .. self.pid .. " 2>/dev/null")
    for _ = 1, 100 do
      if gone(self.pid) then break end
      core.sleep(0.02)
    end
    if not gone(self.pid) then sh("kill -9 " .. self.pid .. " 2>/dev/null") end
    self.pid = nil
  end
  if self.dir then sh("rm -rf " .. q(self.dir)) end
  self.dir = nil
end

function server:kill()
  if self.pid then sh("kill -9 " .. self.pid .. " 2>/dev/null") end
  for _ = 1, 100 do
    if not self.pid or gone(self.pid) then break end
    core.sleep(0.02)
  end
  self.pid = nil
end

function server:pause(seconds)
  assert(sh(self:cli(("DEBUG SLEEP %g >/dev/null 2>&1 &"):format(seconds))))
end

-- ===== a test CA =====

local function openssl(cmd)
  assert(sh("openssl " .. cmd .. " >/dev/null 2>&1"), "openssl " .. cmd)
end

local function make_ca(dir, name)
  openssl(("req -x509 -newkey rsa:2048 -nodes -keyout %s/%s.key -out %s/%s.crt -days 2 "
    .. "-subj '/CN=coreplus test %s' -addext basicConstraints=critical,CA:TRUE "
    .. "-addext keyUsage=critical,keyCertSign,cRLSign"):format(dir, name, dir, name, name))
end

local function make_cert(dir, name, ca, usage)
  F.write(dir .. "/" .. name .. ".ext", ("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    .. "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    .. "extendedKeyUsage=%s\n"):format(usage))
  openssl(("req -newkey rsa:2048 -nodes -keyout %s/%s.key -out %s/%s.csr -subj /CN=localhost")
    :format(dir, name, dir, name))
  openssl(("x509 -req -in %s/%s.csr -CA %s/%s.crt -CAkey %s/%s.key -CAcreateserial -out %s/%s.crt "
    .. "-days 2 -extfile %s/%s.ext"):format(dir, name, dir, ca, dir, ca, dir, name, dir, name))
end

function M.certs(dir)
  dir = dir or F.tmpdir()
  make_ca(dir, "ca")
  make_ca(dir, "other")
  make_cert(dir, "server", "ca", "serverAuth,clientAuth")   -- (a cluster's nodes are clients too)
  make_cert(dir, "client", "ca", "clientAuth")
  make_cert(dir, "stranger", "other", "serverAuth,clientAuth")
  return { dir = dir, ca = dir .. "/ca.crt", cert = dir .. "/server.crt", key = dir .. "/server.key",
    client_cert = dir .. "/client.crt", client_key = dir .. "/client.key",
    other_ca = dir .. "/other.crt", other_cert = dir .. "/stranger.crt",
    other_key = dir .. "/stranger.key" }
end

function M.remove_certs(certs)
  if certs and certs.dir then sh("rm -rf " .. q(certs.dir)) end
end

return M
