--- Processes, files and ports for the test servers: the shell commands the
-- mock launcher runs, stopping a mock's nginx by pid and prefix, and free
-- TCP ports. Pure Lua over `io` and `os` (with `/proc` where there is one),
-- so that it works before, and independently of, the project's C core.
-- @module coreplus.testing.process
local io, os, type, ipairs, tostring, tonumber = io, os, type, ipairs, tostring, tonumber
local concat = table.concat

local _M = {}

--- A shell word: `s` in single quotes.
-- @param s a string (or anything tostring takes)
-- @treturn string
function _M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local q = _M.q

--- What helper commands start with: under `make check` this process runs
-- with a sanitizer runtime in LD_PRELOAD, and the helpers (curl above all:
-- it deadlocks in a futex) must not inherit it.
_M.CLEAN = os.getenv("LD_PRELOAD") and "unset LD_PRELOAD; " or ""
local CLEAN = _M.CLEAN

--- Runs a shell command.
-- @tparam string cmd
-- @treturn boolean whether it exited 0 (Lua 5.1 and 5.4 say so differently)
function _M.exec(cmd)
  local a, _, c = os.execute(CLEAN .. cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end
local exec = _M.exec

--- The standard output of a shell command ("" when it cannot start).
-- @tparam string cmd
-- @treturn string
function _M.capture(cmd)
  local p = io.popen(CLEAN .. cmd, "r")
  if not p then return "" end
  local out = p:read("*a") or ""
  p:close()
  return out
end
local capture = _M.capture

--- A file's bytes, or nil when it cannot be read.
-- @tparam string path
-- @treturn string|nil
function _M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local read_file = _M.read_file

--- Writes a file (raises when it cannot).
-- @tparam string path
-- @tparam string text
function _M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- Sleeps: the C core's sleep when it loads, else the `sleep` command.
-- @function sleep
-- @tparam number s seconds
do
  local ok, core = pcall(require, "coreplus.core")
  if ok and type(core) == "table" and core.sleep then
    _M.sleep = core.sleep
  else
    _M.sleep = function(s) exec(("sleep %.3f"):format(s)) end
  end
end
local sleep = _M.sleep

--- `n` bytes from /dev/urandom (LuaJIT's math.random starts alike in every
-- process, and processes pick ports and names at the same time).
-- @tparam integer n
-- @treturn string
function _M.random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local b = f:read(n)
  f:close()
  return b
end
local random_bytes = _M.random_bytes

-- ===== Processes =====

local HAVE_PROC = read_file("/proc/self/stat") ~= nil

--- Whether a pid is a live process. With /proc, a zombie counts as gone (a
-- daemonised master is reaped by init, which may take a while).
-- @param pid
-- @treturn boolean
function _M.alive(pid)
  if not HAVE_PROC then return exec("kill -0 " .. tonumber(pid) .. " 2>/dev/null") end
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end
local alive = _M.alive

-- The nginx processes of the process group `pgid` (a mock's nginx leads a
-- group of its own: its workers are there, alive or orphaned). Only
-- processes that call themselves nginx count, in case the group is long gone
-- and its number taken; with `exiting`, also those whose command line is
-- already gone (a process being torn down after SIGKILL, not yet a zombie).
local function nginx_group(pgid, exiting)
  local out = {}
  if not HAVE_PROC then
    for p in capture("pgrep -g " .. tonumber(pgid) .. " '^nginx' 2>/dev/null"):gmatch("%d+") do out[#out + 1] = p end
    return out
  end
  for p in capture("ls /proc 2>/dev/null"):gmatch("%d+") do
    local stat = read_file("/proc/" .. p .. "/stat")
    local group = stat and stat:match("^%d+ %b() %a %d+ (%d+)")
    local cmdline = group == tostring(pgid) and alive(p) and read_file("/proc/" .. p .. "/cmdline")
    if cmdline and (cmdline:match("^nginx") or (exiting and cmdline == "")) then
      out[#out + 1] = p
    end
  end
  return out
end

--- Whether a path is a mock's prefix: only a directory the launcher made is
-- ever removed, an absolute path ending in coreplus-mock.XXXXXXXX with no
-- `..` on the way.
-- @param path
-- @treturn boolean
function _M.is_prefix(path)
  return type(path) == "string" and path:sub(1, 1) == "/" and not path:find("/%.%./")
    and path:match("/coreplus%-mock%.[%w]+$") ~= nil
end

--- Stops a mock by pid and/or prefix: QUIT, wait until every process is
-- gone (KILL after 5 s), then KILL what is left of nginx's process group
-- (the workers of a master that died: they would listen on), and remove the
-- prefix. Safe to repeat: a gone process or prefix is not an error. Used by
-- `mock:stop()` and `coreplus-mock stop` (as `coreplus.testing.stop_instance`).
-- @tparam table o `{pid = master pid, prefix = directory}` (either may be nil)
function _M.stop_instance(o)
  local pid = tonumber(o.pid)
  if not pid and o.prefix then pid = tonumber(read_file(o.prefix .. "/nginx.pid") or "") end
  if pid and alive(pid) then
    exec("kill -QUIT " .. pid .. " 2>/dev/null")
    local t = 0
    while alive(pid) and t < 5 do sleep(0.01); t = t + 0.01 end
    if alive(pid) then exec("kill -KILL " .. pid .. " 2>/dev/null") end
  end
  -- A master that QUIT waited for its workers: whatever is left has no master.
  local left = pid and nginx_group(pid) or {}
  if #left > 0 then
    exec("kill -KILL " .. concat(left, " ") .. " 2>/dev/null")
    -- SIGKILL is delivered at once, but an exit takes a moment on a busy
    -- machine: wait (bounded) so that nothing listens once stop returns.
    local t = 0
    while #nginx_group(pid, true) > 0 and t < 2 do sleep(0.01); t = t + 0.01 end
  end
  if _M.is_prefix(o.prefix) then exec("rm -rf " .. q(o.prefix)) end
end

-- ===== Ports =====

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

-- Handed out by this process: a server given one may not listen yet.
local handed_out = {}

--- A free TCP port on this machine for a test server: below Linux's
-- ephemeral range (32768-60999), so that no outgoing connection holds it,
-- not in use, and not handed out before by this process.
-- @tparam[opt] boolean bus the port 10,000 above must be free too (a Redis
--  Cluster node's bus port)
-- @treturn integer
function _M.free_port(bus)
  local used = ports_in_use()
  local function free(p) return not used[p] and not handed_out[p] end
  local port
  repeat
    local a, b = random_bytes(2):byte(1, 2)
    port = 20000 + (a * 256 + b) % 12768
  until free(port) and not (bus and not free(port + 10000))
  handed_out[port] = true
  if bus then handed_out[port + 10000] = true end
  return port
end

return _M
