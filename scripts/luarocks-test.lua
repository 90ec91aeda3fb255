--- `luarocks test` (rockspec/*.rockspec: test.type = "command"): the specs
-- under busted, run as a library by the Lua that LuaRocks runs this with
-- (`luarocks --lua-version=5.4 test` → lua5.4), against the coreplus found on
-- that Lua's path: a rock tree once `eval "$(luarocks path)"` has set it.
--   luarocks test [rockspec] [-- [busted options] [spec files]]
-- Without spec files it runs every spec but the few that need the make build
-- (below); `make test` runs them all.
local NEEDS_MAKE = {
  ["spec/packaging_spec.lua"] = "builds and installs with make and LuaRocks itself",
  ["spec/openresty_spec.lua"] = "nginx loads build/luajit's core.so",
  ["spec/transport_ngx_spec.lua"] = "nginx loads build/luajit's core.so",
  ["spec/redis_limiter_spec.lua"] = "nginx loads build/luajit's core.so",
}

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
  local ls = assert(io.popen("ls spec/*_spec.lua"))
  for f in ls:lines() do
    if not NEEDS_MAKE[f] then args[#args + 1] = f end
  end
  ls:close()
end

-- busted's own runner, as /usr/bin/busted starts it, reading the global arg.
arg = args   -- luacheck: ignore 121
require("busted.runner")({ standalone = false })
