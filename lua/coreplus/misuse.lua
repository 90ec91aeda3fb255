--- Misuse errors: raised at the caller's line, as luaL_argerror does for C.
-- A wrong argument is a bug in the caller's code, so the message must point
-- at the caller's file and line, however deep inside lua/coreplus/ the check
-- sits. `raise` finds the first stack frame whose code is not part of this
-- package and raises there.
local error = error
local format = string.format
local getinfo = debug.getinfo
local sub = string.sub

local _M = {}

-- "@/path/to/lua/coreplus/" for this checkout or installed tree: every module
-- of the package lives below the directory holding this file.
local HOME = getinfo(1, "S").source:match("^(@.*[/\\])[^/\\]+$") or "@lua/coreplus/"

local function ours(source)
  return sub(source, 1, #HOME) == HOME
end

--- raise(fmt, ...): error(format(fmt, ...)) at the first frame outside the package.
function _M.raise(fmt, ...)
  local msg = select("#", ...) > 0 and format(fmt, ...) or fmt
  local lvl = 2
  while true do
    local info = getinfo(lvl, "S")
    if info == nil then error(msg, 0) end
    if info.what ~= "C" and not ours(info.source) then error(msg, lvl) end
    lvl = lvl + 1
  end
end

return _M
