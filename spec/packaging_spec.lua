-- Packaging and the build: the rockspecs tell the truth, the rock builds,
-- installs and tests offline and packs into a .src.rock that builds elsewhere;
-- `make install`/`uninstall` do what they say; the build takes its flags when
-- it runs and never reuses a core.so built with other ones; the README's
-- set-up commands and CI work on a machine that has nothing yet.
local function run(cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local out = f:read("a")
  local ok, _, code = f:close()
  return ok, out, code
end

local F = dofile("spec/support/files.lua")
local q, read, tmpdir = F.q, F.read, F.tmpdir

local function make(args)
  return run("make --no-print-directory " .. args)
end

local function mtime(path)
  local _, out = run("stat -c %y " .. q(path))
  return out
end

-- Loads coreplus from an installed tree only (the repository's paths removed).
local function load_from(luadir, cdir)
  return run(("LUA_PATH='%s/?.lua;%s/?/init.lua;;' LUA_CPATH='%s/?.so;;' lua5.4 -e "
    .. "'local cp = require \"coreplus\"; "
    .. "assert(package.searchpath(\"coreplus.core\", package.cpath):find(\"%s\", 1, true)); "
    .. "print(cp.sign{consumer_id=\"c\", consumer_secret=\"s\", access_token=\"a\", url=\"https://x/\"})'")
    :format(luadir, luadir, cdir, cdir))
end

-- coreplus.new{shared_limit = "redis://..."} with the core.so in cdir: "true" or the error.
local function redis_limit_with(cdir)
  return run(("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' lua5.4 -e "
    .. "'local ok, e = pcall(require(\"coreplus\").new, {base_url=\"https://x.example\", "
    .. "consumer_id=\"c\", consumer_secret=\"s\", access_token=\"a\", issuer=\"https://spec.example\", "
    .. "shared_limit=\"redis://127.0.0.1:1/0\"}); print(ok or e)'"):format(cdir))
end

local function rockspec(path)
  local env = {}
  assert(load(assert(read(path), path), "@" .. path, "t", env))()
  return env
end

local VERSION = read("src/coreplus.h"):match('#define COREPLUS_VERSION "([^"]+)"')
local LUAROCKS = "luarocks --lua-version=5.4"
-- Debian keeps curl.h in the multiarch directory, which LuaRocks does not search.
local CURL_INCDIR = select(2, run("pkg-config --variable=includedir libcurl")):gsub("%s+$", "")
local SCM = "rockspec/coreplus-scm-1.rockspec"

describe("packaging: the rockspecs", function()
  it("the versioned rockspec is the scm one with src/coreplus.h's version and its tag", function()
    local ok, out = run("scripts/update-rockspec --check")
    assert.is_true(ok, out)
    local scm = rockspec(SCM)
    local rel = rockspec(("rockspec/coreplus-%s-1.rockspec"):format(VERSION))
    assert.equals(VERSION .. "-1", rel.version)
    assert.equals("v" .. VERSION, rel.source.tag)
    assert.equals(scm.source.url, rel.source.url)
    assert.same(scm.build, rel.build)
  end)

  it("say Linux only, MIT with a LICENSE, and check every C library before building", function()
    local spec = rockspec(SCM)
    assert.same({ "linux" }, spec.supported_platforms)
    assert.equals("MIT", spec.description.license)
    local license = read("LICENSE")
    assert.matches("MIT License", license, 1, true)
    assert.matches("Copyright %(c%) %d%d%d%d ", license)
    for _, name in ipairs{ "CURL", "OPENSSL", "HIREDIS" } do
      local dep = spec.external_dependencies[name]
      assert.truthy(dep and dep.header and dep.library, name)
    end
  end)
end)

-- The README's LuaRocks steps for Debian, as the README gives them, into a
-- tree of the spec's own; `luarocks test` runs two specs here (the whole
-- suite is what `make test` runs; the README's command runs it all).
local function readme_luarocks_steps(tree)
  local block = assert(read("README.md"):match(
    "<!%-%- run by spec/packaging_spec%.lua %(the README's LuaRocks steps%) %-%->\n```sh\n(.-)```"))
  local first, rest = block:match("^(tree=[^\n]*)\n(.*)$")
  assert(first, "the block starts with tree=...")
  rest = rest:gsub("(luarocks [^\n]* test [^\n]*)", "%1 -- spec/jwt_spec.lua spec/mock_launcher_spec.lua")
  return "tree=" .. q(tree) .. "\n" .. rest
end

describe("packaging: LuaRocks", function()
  local tree, steps_ok, steps_out

  setup(function()
    tree = tmpdir()
    local script = tree .. "/steps.sh"
    F.write(script, "set -e\n" .. readme_luarocks_steps(tree))
    steps_ok, steps_out = run("bash " .. q(script))
  end)
  teardown(function() os.execute("rm -rf " .. q(tree)) end)

  it("the README's steps build, install and test the rock in a tree of one's own", function()
    assert.is_true(steps_ok, steps_out)
    -- mock_launcher starts nginx with `luarocks path`'s 5.4 LUA_CPATH in the
    -- environment, which nginx's LuaJIT must not use.
    assert.matches("coreplus.core from " .. tree .. "/lib/lua/5.4/coreplus/core.so", steps_out, 1, true)
    assert.matches("%d+ successes / 0 failures / 0 errors", steps_out)
  end)

  it("links with no run path into the system's library directories", function()
    local ok, out = run("readelf -d " .. q(tree .. "/lib/lua/5.4/coreplus/core.so"))
    assert.is_true(ok, out)
    for path in out:gmatch("R[UN]*PATH%)%s+Library r[%a ]*path: %[([^%]]*)%]") do
      for dir in path:gmatch("[^:]+") do
        assert.is_nil(dir:match("^/usr/lib") or dir:match("^/lib"), "run path " .. dir)
      end
    end
  end)

  it("declares every module the installed code requires", function()
    local spec = rockspec(SCM)
    local declared = {}
    for _, d in ipairs(spec.dependencies) do declared[d:match("^(%S+)")] = true end
    -- module -> rock; the modules a Lua or LuaJIT has built in, and busted's
    -- own (coreplus.testing.busted runs only inside busted), need none
    local ROCK = { cjson = "lua-cjson", ["cjson.safe"] = "lua-cjson", argparse = "argparse", lfs = "luafilesystem" }
    local BUILT_IN = { ffi = true, bit = true, luassert = true, say = true }
    -- inside nginx only (docs/openresty.md, docs/redis.md): OpenResty's, or Debian's lua-nginx-redis
    local NGINX = { ["resty.redis"] = true, ["nginx.redis"] = true, ["ngx.ssl"] = true }
    -- needed by `coreplus sync` only, and loaded when a mirror is opened (DBI)
    -- or `--metrics` is given (socket, through coreplus.metrics.listener): the
    -- absence of either is an error naming the Debian package and the rock
    -- (docs/decisions.md#sync-bindings-optional-in-the-rock)
    local OPTIONAL = { DBI = "luadbi", socket = "luasocket" }
    local n = 0
    local _, files = run("find lua bin -type f")
    for path in files:gmatch("[^\n]+") do
      local text = read(path) or ""
      local names = {}
      for name in text:gmatch("require%s*%(?%s*[\"']([^\"']+)[\"']") do names[#names + 1] = name end
      for name in text:gmatch("pcall%(require,%s*[\"']([^\"']+)[\"']") do names[#names + 1] = name end
      for _, name in ipairs(names) do
        if OPTIONAL[name] then
          assert.is_nil(declared[OPTIONAL[name]], OPTIONAL[name] .. " is optional, not a dependency")
        elseif not name:match("^coreplus") and not BUILT_IN[name] and not NGINX[name] then
          n = n + 1
          assert.is_not_nil(ROCK[name], path .. ": which rock gives " .. name .. "?")
          assert.is_true(declared[ROCK[name]], ROCK[name] .. " (for " .. name .. ") is not a dependency")
        end
      end
    end
    assert.is_true(n >= 3, n .. " requires of other rocks")
  end)

  it("luarocks make builds offline and the installed module signs", function()
    local ok, out = load_from(tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4")
    assert.is_true(ok, out)
    assert.matches("^eyJ", out)
  end)

  it("the rock's core.so exports luaopen_coreplus_core and nothing else", function()
    local ok, out = run("nm -D --defined-only " .. q(tree .. "/lib/lua/5.4/coreplus/core.so"))
    assert.is_true(ok, out)
    local names = {}
    for name in out:gmatch("%x+ %a ([%w_]+)") do names[#names + 1] = name end
    assert.same({ "luaopen_coreplus_core" }, names)
  end)

  it("the rock installs nginx/coreplus.conf in its directory", function()
    local ok, out = run(("%s show --tree %s --rock-dir coreplus"):format(LUAROCKS, q(tree)))
    assert.is_true(ok, out)
    local conf = read(out:match("[^\n]+") .. "/nginx/coreplus.conf")
    assert.equals(read("nginx/coreplus.conf"), conf)
  end)

  it("a missing library gets LuaRocks's hint, naming the variable to pass", function()
    local elsewhere = tmpdir()
    finally(function() os.execute("rm -rf " .. q(elsewhere)) end)
    local ok, out = run(("%s make --deps-mode=none --tree %s %s CURL_INCDIR=%s HIREDIS_DIR=/nonexistent")
      :format(LUAROCKS, q(elsewhere), SCM, q(CURL_INCDIR)))
    assert.falsy(ok, out)
    assert.matches("Could not find header file for HIREDIS", out, 1, true)
    assert.matches("HIREDIS_DIR", out, 1, true)
  end)

  it("without CURL_INCDIR on a multiarch system, LuaRocks says to pass it", function()
    if read("/usr/include/curl/curl.h") then
      pending("curl.h is in /usr/include here")
      return
    end
    local elsewhere = tmpdir()
    finally(function() os.execute("rm -rf " .. q(elsewhere)) end)
    local ok, out = run(("%s make --deps-mode=none --tree %s %s"):format(LUAROCKS, q(elsewhere), SCM))
    assert.falsy(ok, out)
    assert.matches("Could not find header file for CURL", out, 1, true)
    assert.matches("CURL_INCDIR", out, 1, true)
  end)

  it("make rock packs the committed HEAD through a git+file:// URL into a .src.rock that builds elsewhere",
    function()
      local ok, out = make("rock")
      assert.is_true(ok, out)
      local name = ("coreplus-%s-1"):format(VERSION)
      local rock = ("%s/build/rock/%s.src.rock"):format(os.getenv("PWD"), name)
      ok, out = run(("unzip -p %s %s.rockspec"):format(q(rock), name))
      assert.is_true(ok, out)
      assert.equals(read(("rockspec/%s.rockspec"):format(name)), out)   -- the real URL, not file://
      local _, list = run("unzip -l " .. q(rock))
      assert.matches("/bench/run%.lua\n", list)
      assert.is_nil(list:match("/bench/[^\n]*%.png") or list:match("/bench/[^\n]*%.dat")
        or list:match("/bench/RESULTS%.md"), "the rock carries benchmark output")
      local elsewhere = tmpdir()
      finally(function() os.execute("rm -rf " .. q(elsewhere)) end)
      ok, out = run(("cd %s && %s build --deps-mode=none --tree %s/tree %s CURL_INCDIR=%s")
        :format(q(elsewhere), LUAROCKS, q(elsewhere), q(rock), q(CURL_INCDIR)))
      assert.is_true(ok, out)
      ok, out = load_from(elsewhere .. "/tree/share/lua/5.4", elsewhere .. "/tree/lib/lua/5.4")
      assert.is_true(ok, out)
    end)
end)

describe("packaging: make install and uninstall", function()
  local dest
  before_each(function() dest = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. q(dest)) end)

  local function files()
    local _, out = run("cd " .. q(dest) .. " && find . -type f | sort")
    return out
  end

  it("make install honours DESTDIR and PREFIX", function()
    local ok, out = make("install DESTDIR=" .. q(dest) .. " PREFIX=/opt/cp")
    assert.is_true(ok, out)
    ok, out = load_from(dest .. "/opt/cp/share/lua/5.4", dest .. "/opt/cp/lib/lua/5.4")
    assert.is_true(ok, out)
    assert.equals(read("nginx/coreplus.conf"), read(dest .. "/opt/cp/share/lua-coreplus/nginx/coreplus.conf"))
  end)

  it("make uninstall removes what make install put there, and nothing else", function()
    os.execute("mkdir -p " .. q(dest .. "/opt/cp/share/lua/5.4") .. " && echo 'return 1' >"
      .. q(dest .. "/opt/cp/share/lua/5.4/other.lua"))
    local ok, out = make("install DESTDIR=" .. q(dest) .. " PREFIX=/opt/cp")
    assert.is_true(ok, out)
    ok, out = make("uninstall DESTDIR=" .. q(dest) .. " PREFIX=/opt/cp")
    assert.is_true(ok, out)
    assert.matches("removed %d+ files", out)
    assert.equals("./opt/cp/share/lua/5.4/other.lua\n", files())
    local _, dirs = run("cd " .. q(dest) .. " && find . -name '*coreplus*'")
    assert.equals("", dirs)
  end)

  it("make uninstall says so when nothing is installed there", function()
    local ok, out = make("uninstall DESTDIR=" .. q(dest) .. " PREFIX=/opt/cp")
    assert.is_true(ok, out)
    assert.matches("nothing to remove", out, 1, true)
  end)

  it("make install LUA=luajit gives a coreplus that runs under LuaJIT from the 5.1 tree", function()
    local ok, out = make("install LUA=luajit DESTDIR=" .. q(dest) .. " PREFIX=/usr/local")
    assert.is_true(ok, out)
    local bin = dest .. "/usr/local/bin/coreplus"
    assert.equals("#!/usr/bin/env luajit", read(bin):match("^[^\n]*"))
    local tree = dest .. "/usr/local"
    ok, out = run(("LUA_PATH='%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;;' "
      .. "LUA_CPATH='%s/lib/lua/5.1/?.so;;' %s version"):format(tree, tree, tree, q(bin)))
    assert.is_true(ok, out)
    assert.equals("coreplus " .. VERSION .. "\n", out)
  end)

  it("with both ABIs installed, uninstalling one leaves scripts that run the other", function()
    for _, lua in ipairs{ "lua5.4", "luajit" } do
      local ok, out = make("install LUA=" .. lua .. " DESTDIR=" .. q(dest) .. " PREFIX=/usr/local")
      assert.is_true(ok, out)
    end
    local ok, out = make("uninstall LUA=luajit DESTDIR=" .. q(dest) .. " PREFIX=/usr/local")
    assert.is_true(ok, out)
    assert.equals("#!/usr/bin/env lua5.4", read(dest .. "/usr/local/bin/coreplus"):match("^[^\n]*"))
    assert.truthy(read(dest .. "/usr/local/share/lua/5.4/coreplus/init.lua"))
    assert.is_nil(read(dest .. "/usr/local/share/lua/5.1/coreplus/init.lua"))
  end)
end)

describe("the build", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. q(dir)) end)

  it("bare make builds, for Lua 5.4 and for LuaJIT", function()
    local ok, out = make("BUILD_DIR=" .. q(dir .. "/54"))
    assert.is_true(ok, out)
    assert.truthy(read(dir .. "/54/coreplus/core.so"), out)
    ok, out = make("LUA=luajit BUILD_DIR=" .. q(dir .. "/jit"))
    assert.is_true(ok, out)
    assert.truthy(read(dir .. "/jit/coreplus/core.so"), out)
  end)

  it("stops, naming the Debian package, when pkg-config lacks a library; the next build is whole", function()
    -- The packages missing, as before `scripts/deps` on a new machine.
    local ok, out = run("PKG_CONFIG_LIBDIR=/nonexistent make --no-print-directory build BUILD_DIR=" .. q(dir))
    assert.falsy(ok, out)
    assert.matches("install liblua5.4-dev", out, 1, true)
    assert.is_nil(read(dir .. "/coreplus/core.so"))
    ok, out = make("build BUILD_DIR=" .. q(dir))
    assert.is_true(ok, out)
    ok, out = load_from("lua", dir)
    assert.is_true(ok, out)
  end)

  it("rebuilds core.so when its flags change, and only then", function()
    local so = dir .. "/coreplus/core.so"
    local ok, out = make("build REDIS=no BUILD_DIR=" .. q(dir))
    assert.is_true(ok, out)
    assert.matches("without Redis support", out, 1, true)
    local first = mtime(so)
    ok, out = make("build BUILD_DIR=" .. q(dir))
    assert.is_true(ok, out)
    local second = mtime(so)
    assert.not_equals(first, second)
    assert.equals("true\n", select(2, redis_limit_with(dir)))
    ok, out = make("build BUILD_DIR=" .. q(dir))
    assert.is_true(ok, out)
    assert.equals(second, mtime(so))
  end)

  it("without Redis support, shared_limit = \"redis://...\" raises naming libhiredis-dev", function()
    local ok, out = make("build REDIS=no BUILD_DIR=" .. q(dir))
    assert.is_true(ok, out)
    ok, out = redis_limit_with(dir)
    assert.is_true(ok, out)
    assert.matches("coreplus.new: option 'shared_limit' (redis:// needs Redis support", out, 1, true)
    assert.matches("install libhiredis-dev and rebuild", out, 1, true)
  end)

  it("goes without Redis, saying so, when hiredis's header is absent", function()
    local ok, out = run("scripts/build-flags " .. q(dir .. "/flags") .. " 'gcc -nostdinc' '' ''")
    assert.is_true(ok, out)
    assert.matches("building WITHOUT Redis support", out, 1, true)
    assert.matches("-DCOREPLUS_NO_REDIS", read(dir .. "/flags"), 1, true)
  end)

  it("make help lists every target", function()
    local _, db = run("make -p -q help")
    local _, help = make("help")
    local phony = assert(db:match("\n%.PHONY: ([^\n]*)"))
    for target in phony:gmatch("%S+") do
      if target ~= "FORCE" and target ~= "all" then
        assert.matches("make %[?" .. target:gsub("%-", "%%-") .. "[%]%s,]", help)
      end
    end
  end)
end)

describe("a fresh machine", function()
  it("each README set-up command installs the packages, make included, before it uses make", function()
    local block = read("README.md"):match("\n```sh\n(.-)\n```")
    local cmds = {}
    for line in block:gmatch("[^\n]+") do
      if not line:match("^%s*#") then cmds[#cmds + 1] = line end
    end
    assert.equals(2, #cmds)
    for _, cmd in ipairs(cmds) do assert.matches("^scripts/deps && make %a", cmd) end
    assert.matches("^scripts/deps && make test ", cmds[2])
    assert.matches("\nbuild%-essential\n", read("scripts/debian-packages.txt"))
    assert.not_matches("\n[^#\n]*make ", read("scripts/deps"))
  end)

  it("CI runs the README's test command, word for word", function()
    local block = read("README.md"):match("\n```sh\n(.-)\n```")
    local test = assert(block:match("([^\n]*)$"):match("^(.-)%s*#"))
    local ci = assert(read(".ci/run"):match("\nexec scripts/fresh%-root %-%-or%-host '([^']*)'\n"))
    assert.equals(test, ci)
  end)

  it("without a fresh root, CI says so in one line and runs the command on this host, keeping its status",
    function()
      local ok, out, code = run("COREPLUS_FRESH_MIRROR=http://127.0.0.1:1/debian "
        .. "scripts/fresh-root --or-host 'echo ran-on-the-host; exit 3'")
      assert.falsy(ok, out)
      assert.equals(3, code)
      local _, loud = out:gsub("NO FRESH DEBIAN 12 ROOT", "")
      assert.equals(1, loud, out)
      assert.matches("\nran%-on%-the%-host\n", out)
      assert.matches("exit 3 after %d+ s", out)
    end)
end)
