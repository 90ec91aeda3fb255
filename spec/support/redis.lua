-- A private redis-server for specs and benches, on a free 127.0.0.1 port,
-- started in the background and stopped by pid.
--   local server = dofile("spec/support/redis.lua").new()
--   server:start{ password = nil, port = nil }   -> url (redis://127.0.0.1:port/0)
--   server:stop()    SIGTERM, waits       server:kill()   SIGKILL, no wait
--   server:pause(s)  DEBUG SLEEP s in the background (a BGSAVE fork, a failover)
--   server.port, server.url, server.pid
-- (Its own port picker: with testing.free_port, LeakSanitizer's tracer
-- crashed at exit under make check.)
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local read_file, sh = F.read, F.sh

local M = {}
local server = {}
server.__index = server

function M.free_port()
  local used = {}
  for _, f in ipairs{ "/proc/net/tcp", "/proc/net/tcp6" } do
    for hex in (read_file(f) or ""):gmatch("\n%s*%d+: %x+:(%x%x%x%x) ") do
      used[tonumber(hex, 16)] = true
    end
  end
  local port
  repeat port = math.random(20000, 32000) until not used[port]
  return port
end

function M.new()
  return setmetatable({}, server)
end

local gone = F.gone

function server:cli(args)
  return ("redis-cli -p %d %s %s"):format(self.port,
    self.password and ("--no-auth-warning -a '" .. self.password .. "'") or "", args)
end

function server:start(o)
  o = o or {}
  self.port = o.port or self.port or M.free_port()
  self.password = o.password
  if not self.dir then
    self.dir = F.tmpdir()   -- under $TMPDIR: scripts/listeners finds what is left
  end
  local pidfile = self.dir .. "/pid"
  assert(sh(("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no --daemonize no "
    .. "--enable-debug-command local %s --dir %s >%s/log 2>&1 & echo $! >%s")
    :format(self.port, o.password and ("--requirepass '" .. o.password .. "'") or "",
      self.dir, self.dir, pidfile)))
  self.pid = math.tointeger(tonumber(read_file(pidfile)))
  for _ = 1, 100 do
    if sh(self:cli("ping 2>/dev/null | grep -q PONG")) then
      self.url = ("redis://127.0.0.1:%d/0"):format(self.port)
      return self.url
    end
    core.sleep(0.05)
  end
  error("redis-server did not start: " .. tostring(read_file(self.dir .. "/log")))
end

function server:stop()
  if self.pid then
    sh("kill " .. self.pid .. " 2>/dev/null")
    for _ = 1, 100 do
      if gone(self.pid) then break end
      core.sleep(0.02)
    end
    self.pid = nil
  end
  if self.dir then sh("rm -rf " .. self.dir) end
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

return M
