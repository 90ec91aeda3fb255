-- Packaging: the rockspec builds offline and installs a working module;
-- `make install` honours DESTDIR and PREFIX.
local function run(cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local out = f:read("a")
  local ok, _, code = f:close()
  return ok, out, code
end

local function tmpdir()
  local f = assert(io.popen("mktemp -d"))
  local d = f:read("l")
  f:close()
  return d
end

-- Loads coreplus from an installed tree only (the repository's paths removed).
local function load_from(luadir, cdir)
  return run(("LUA_PATH='%s/?.lua;%s/?/init.lua;;' LUA_CPATH='%s/?.so;;' lua5.4 -e "
    .. "'local cp = require \"coreplus\"; "
    .. "assert(package.searchpath(\"coreplus.core\", package.cpath):find(\"%s\", 1, true)); "
    .. "print(cp.sign{consumer_id=\"c\", consumer_secret=\"s\", access_token=\"a\", url=\"https://x/\"})'")
    :format(luadir, luadir, cdir, cdir))
end

describe("packaging", function()
  it("the rockspec lists every C source, Lua module and script", function()
    local ok, out = run("scripts/update-rockspec --check")
    assert.is_true(ok, out)
  end)

  it("luarocks make builds offline and the installed module signs", function()
    local tree = tmpdir()
    finally(function() os.execute("rm -rf '" .. tree .. "'") end)
    local ok, out = run("luarocks --lua-version=5.4 make --deps-mode=none --tree '" .. tree
      .. "' rockspec/coreplus-scm-1.rockspec")
    assert.is_true(ok, out)
    ok, out = load_from(tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4")
    assert.is_true(ok, out)
    assert.matches("^eyJ", out)
  end)

  it("make install honours DESTDIR and PREFIX", function()
    local dest = tmpdir()
    finally(function() os.execute("rm -rf '" .. dest .. "'") end)
    local ok, out = run("make --no-print-directory install DESTDIR='" .. dest .. "' PREFIX=/opt/cp")
    assert.is_true(ok, out)
    ok, out = load_from(dest .. "/opt/cp/share/lua/5.4", dest .. "/opt/cp/lib/lua/5.4")
    assert.is_true(ok, out)
  end)
end)
