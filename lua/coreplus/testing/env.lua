--- A clean environment for a child Lua, nginx or ldoc: the module-path
-- variables of every Lua version removed, then only what the child needs set.
--
-- After `eval "$(luarocks --lua-version=5.4 path)"` the shell's `LUA_PATH`
-- and `LUA_CPATH` name Lua 5.4 directories only (no `;;` for the defaults).
-- A LuaJIT (nginx's) or a Lua 5.1 (ldoc's) started with them loads 5.4
-- modules (`cjson.so: undefined symbol: lua_newuserdatauv`) or misses its
-- own (`pl.path requires LuaFileSystem`); after the 5.1 version of that line
-- a Lua 5.4 child has the same trouble the other way round. Every tool of
-- this project that starts another Lua goes through here: the mock launcher
-- (`coreplus.testing.server`), and through `scripts/lua-env` the OpenResty
-- example, `make docs`, the test suite's helpers and the specs' children.
--
--     os.execute(env.shell{ LUA_PATH = "/my/lua/?.lua;;" } .. "luajit app.lua")
--
-- Run as a script, `lua5.4 -E env.lua [--checkout LUA TOP] [NAME=VALUE...]`
-- prints that shell text followed by `shift N` (N: the arguments it used),
-- which is how `scripts/lua-env` uses it.
-- @module coreplus.testing.env
local first_argument = ...   -- the module's name when required
local ipairs, pairs, tostring = ipairs, pairs, tostring
local concat, sort = table.concat, table.sort

local _M = {}

--- The variables removed: `LUA_PATH`, `LUA_CPATH` and `LUA_INIT`, and their
-- versioned forms (`LUA_PATH_5_4`, ...) that Lua 5.2 and later read first.
-- @table VARS
_M.VARS = {}
for _, base in ipairs{ "LUA_PATH", "LUA_CPATH", "LUA_INIT" } do
  _M.VARS[#_M.VARS + 1] = base
  for minor = 1, 4 do _M.VARS[#_M.VARS + 1] = base .. "_5_" .. minor end
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- The shell text that cleans the environment of the commands after it:
-- `unset LUA_PATH ...; export NAME='value' ...; `.
-- @tparam[opt] table set variables to set afterwards (name -> value)
-- @treturn string
function _M.shell(set)
  local names = {}
  for name in pairs(set or {}) do names[#names + 1] = name end
  sort(names)
  local parts = { "unset " .. concat(_M.VARS, " ") .. ";" }
  for _, name in ipairs(names) do parts[#parts + 1] = "export " .. name .. "=" .. q(set[name]) .. ";" end
  return concat(parts, " ") .. " "
end

--- The paths for a child that runs this checkout's code: `top/lua` first,
-- `top/build/<lua>` (lua5.4 or luajit) for `coreplus.core`, then the
-- child's own defaults (`;;`).
-- @tparam string top the checkout's directory
-- @tparam string lua `"lua5.4"` or `"luajit"`
-- @treturn table `{LUA_PATH =, LUA_CPATH =}`
function _M.checkout(top, lua)
  return { LUA_PATH = top .. "/lua/?.lua;" .. top .. "/lua/?/init.lua;;",
    LUA_CPATH = top .. "/build/" .. lua .. "/?.so;;" }
end

-- As a script (scripts/lua-env): the shell text, then how many arguments
-- it took.
if first_argument ~= "coreplus.testing.env" and arg and arg[0] and arg[0]:match("env%.lua$") then
  local set, used = {}, 0
  if arg[1] == "--checkout" then
    for k, v in pairs(_M.checkout(arg[3], arg[2])) do set[k] = v end
    used = 3
  end
  while arg[used + 1] and arg[used + 1]:match("^[%a_][%w_]*=") do
    local name, value = arg[used + 1]:match("^([%a_][%w_]*)=(.*)$")
    set[name] = value
    used = used + 1
  end
  io.write(_M.shell(set), "shift ", used, "\n")
end

return _M
