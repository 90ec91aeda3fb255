-- Processes that share a limit file, for the limiter specs
-- (spec/limiter_file_*_spec.lua):
--   local P = dofile("spec/support/limit_procs.lua")
--   P.keys(prefix) -> key(name): a limiter key no other run has used
--   P.child(path, key, limiter_opts, body [, wrap]) -> proc, pid, script
--     a lua5.4 child with its own limiter `l` on (path, key), made from the
--     Lua table text limiter_opts (as `o`), running body with `core`, `o`, `l`
--     and `say(...)` (a line on its stdout) in scope; it says its pid first.
--     wrap is put before lua5.4 ("timeout 60 "). The child is exec'd: this
--     process is its parent, and a child killed here stays a zombie until
--     proc is closed.
--   P.wait_for(cond, what)   until cond() holds (for another process to get
--     somewhere, never for time to pass: real time only bounds it)
--   P.state_of(pid) -> the state letter in /proc/pid/stat ("S", "T", "Z"), or nil
--   P.fifo() -> path, send(line): a FIFO a child opens read-write (which never
--     blocks: a child that died early costs a failure, not a hung suite)
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")

local M = {}

function M.keys(prefix)
  local unique = 0
  return function(name)
    unique = unique + 1
    return ("%s %s %d %d"):format(prefix, name, unique, math.random(1, 1e9))
  end
end

-- (under make check the children get the normal build: COREPLUS_CHILD_LUA_CPATH)
local ENV = ("LUA_CPATH=%s LUA_PATH=%s "):format(F.q(os.getenv("COREPLUS_CHILD_LUA_CPATH")
  or package.cpath), F.q(package.path))

function M.child(path, k, limiter_opts, body, wrap)
  local script = F.tmpname()
  F.write(script, ([[
    local core = require "coreplus.core"
    local o = %s
    o.shared, o.key = arg[1], arg[2]
    local l = core.limiter(o)
    local function say(...) io.write(table.concat({ ... }, " "), "\n"); io.stdout:flush() end
    local st = io.open("/proc/self/stat"); say(st:read("n")); st:close()
    %s
  ]]):format(limiter_opts, body))
  local proc = assert(io.popen(ENV .. "exec " .. (wrap or "") .. "lua5.4 " .. F.q(script) .. " "
    .. F.q(path) .. " " .. F.q(k) .. " 2>&1"))
  local line = proc:read("l")
  local pid = math.tointeger(tonumber(line))
  if not pid then error("child: " .. tostring(line) .. (proc:read("a") or "")) end
  return proc, pid, script
end

function M.wait_for(cond, what)
  for _ = 1, 5000 do
    if cond() then return end
    core.sleep(0.002)
  end
  error("gave up waiting for " .. what)
end

function M.state_of(pid)
  local stat = F.read("/proc/" .. pid .. "/stat")
  return stat and stat:match("^%d+ %b() (%a)")
end

function M.fifo()
  local path = F.tmpname()
  assert(F.sh("mkfifo " .. F.q(path)))
  return path, function(line)
    local f = assert(io.open(path, "r+"))
    f:write(line, "\n")
    f:close()
  end
end

return M
