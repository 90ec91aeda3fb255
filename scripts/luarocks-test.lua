--- `luarocks test` (rockspec/*.rockspec: test.type = "command"): the specs
-- under busted, run as a library by the Lua that LuaRocks runs this with
-- (`luarocks --lua-version=5.4 test` → lua5.4), against the coreplus found on
-- that Lua's path: a rock tree once `eval "$(luarocks path)"` has set it.
--   luarocks test [rockspec] [-- [busted options] [spec files]]
-- Without spec files it runs every spec, but for those below when what they
-- need is missing: each skipped one is named, with why and what includes it.
-- `make test` runs them all.
local SKIP = {
  { "spec/packaging_spec.lua", "tests the install paths themselves (make install, luarocks make and"
    .. " luarocks test into trees of its own), not the installed rock: make test runs it" },
}
-- nginx's LuaJIT loads the C core from build/luajit (a rock is built for one
-- Lua: this one); `make build LUA=luajit` makes it, and these then run.
local JIT_CORE = "build/luajit/coreplus/core.so"
for _, f in ipairs{ "spec/booking_page_spec.lua", "spec/browser_spec.lua", "spec/ngx_sleep_spec.lua",
  "spec/openresty_spec.lua", "spec/redis_limiter_spec.lua", "spec/transport_ngx_spec.lua" } do
  SKIP[#SKIP + 1] = { f, "nginx's LuaJIT needs " .. JIT_CORE .. ", which a rock does not build:"
    .. " make build LUA=luajit includes it", needs = JIT_CORE }
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function where(name, path)
  local found = package.searchpath(name, path)
  if not found then
    io.stderr:write("luarocks test: ", name, " is not on this Lua's path: install the rock ",
      "first (luarocks make), then eval \"$(luarocks path)\" (add --tree DIR for another tree)\n")
    os.exit(1)
  end
  return found
end
print(("luarocks test: %s, coreplus.core from %s, coreplus from %s"):format(_VERSION,
  where("coreplus.core", package.cpath), where("coreplus", package.path)))

local args, named = {}, false
for _, a in ipairs(arg) do
  args[#args + 1] = a
  if a:match("%.lua$") then named = true end
end
if not named then
  local skipped = {}
  for _, s in ipairs(SKIP) do
    if not (s.needs and exists(s.needs)) then
      skipped[s[1]] = true
      print(("luarocks test: skips %s: %s"):format(s[1], s[2]))
    end
  end
  local ls = assert(io.popen("ls spec/*_spec.lua"))
  for f in ls:lines() do
    if not skipped[f] then args[#args + 1] = f end
  end
  ls:close()
end

-- busted's own runner, as /usr/bin/busted starts it, reading the global arg.
arg = args   -- luacheck: ignore 121
require("busted.runner")({ standalone = false })
