-- Small shell and file helpers every spec may need, in one place:
--   local F = dofile("spec/support/files.lua")
--   F.q(s)  F.capture(cmd)  F.read(path) -> text | nil  F.write(path, text [, mode])
--   F.sh(cmd) -> true | false   F.tmpname() -> a path that does not exist yet
--   F.tmpdir() -> a new directory (mktemp -d)   F.gone(pid) -> whether a process has ended
--   F.core_dir() -> where a child Lua finds coreplus/core.so
local process = require "coreplus.testing.process"

local _M = {}

--- s quoted for a POSIX shell.
_M.q = process.q

--- A command's standard output.
function _M.capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  p:close()
  return out
end

--- Runs a shell command: true when it exited 0 (Lua 5.4 and LuaJIT alike).
function _M.sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

--- A fresh temporary path, not created.
function _M.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

--- The directory of the C core a child Lua should load: the one this busted
-- found (build/lua5.4, or a rock's tree under `luarocks test`), except in the
-- ASan pass, whose children run without the sanitizer runtime and so need
-- the normal build (scripts/run-tests hands its cpath on in
-- COREPLUS_CHILD_LUA_CPATH).
function _M.core_dir()
  local path = os.getenv("COREPLUS_CHILD_LUA_CPATH")
  path = path and package.searchpath("coreplus.core", path) or package.searchpath("coreplus.core", package.cpath)
  return assert(path, "no coreplus.core on the cpath"):match("^(.*)/coreplus/core%.so$")
end

--- A new temporary directory.
function _M.tmpdir()
  return (_M.capture("mktemp -d"):gsub("%s+$", ""))
end

--- Whether process pid has ended: gone, or a zombie (no init reaps it in
-- some containers).
function _M.gone(pid)
  local stat = _M.read("/proc/" .. pid .. "/stat")
  local state = stat and stat:match("^%d+ %b() (%a)")
  return state == nil or state == "Z" or state == "X"
end

--- A file's bytes, or nil when it cannot be read.
_M.read = process.read_file

--- Writes a file (raises on failure); `mode` ("600") is applied with chmod.
function _M.write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute("chmod " .. mode .. " " .. _M.q(path))) end
end

return _M
