-- Starting and stopping the mock: fast, isolated, clean; skew; TLS; CLI.
local testing = require "coreplus.testing"
local core = require "coreplus.core"
local H = dofile("spec/support/mock_http.lua")
local F = dofile("spec/support/files.lua")

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return not stat:match("^%d+ %b() [ZX]")
end

-- The pids whose parent is pid.
local function children(pid)
  local out = {}
  for p in io.popen("ls /proc"):read("a"):gmatch("%d+") do
    local f = io.open("/proc/" .. p .. "/stat")
    local stat = f and f:read("a")
    if f then f:close() end
    if stat and stat:match("^%d+ %b() %a (%d+)") == tostring(pid) then out[#out + 1] = tonumber(p) end
  end
  return out
end

-- Whether some socket listens on 127.0.0.1:port (/proc/net/tcp, state 0A).
local function listening(port)
  local f = assert(io.open("/proc/net/tcp"))
  local text = f:read("a")
  f:close()
  return text:find((": 0100007F:%04X 00000000:0000 0A"):format(port)) ~= nil
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function parse_http_date(s)
  local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
    Nov = 11, Dec = 12 }
  local d, mon, y, hh, mm, ss = s:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  assert(d, "not an RFC 1123 date: " .. tostring(s))
  -- Days from civil (UTC) without os.time's local zone.
  y, mon, d = tonumber(y), months[mon], tonumber(d)
  local yy = mon <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local doy = (153 * ((mon + 9) % 12) + 2) // 5 + d - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  return days * 86400 + hh * 3600 + mm * 60 + ss
end

describe("mock server launcher", function()
  it("starts in under 2 seconds and answers over HTTPS with its own CA", function()
    local t = core.now()
    local mock = testing.server{}
    local took = core.now() - t
    local res = H.get(mock, "Location/")
    mock:stop()
    assert.is_true(took < 2, "took " .. took)
    assert.are.equal(200, res.status)
    assert.truthy(mock.base_url:match("^https://127%.0%.0%.1:%d+$"))
  end)

  it("gives fresh credentials per instance and runs two instances at once", function()
    local a = testing.server{ tls = false }
    local b = testing.server{}
    assert.are_not.equal(a.port, b.port)
    assert.are_not.equal(a.consumer_secret, b.consumer_secret)
    assert.are_not.equal(a.access_token, b.access_token)
    assert.are.equal(200, H.get(a, "Location/").status)
    assert.are.equal(200, H.get(b, "Location/").status)
    -- One instance's credentials mean nothing to the other.
    local url = b:url("Location/")
    local res = H.get(b, "Location/", { token = H.sign(a, "GET", url) })
    a:stop()
    b:stop()
    assert.are.equal(401, res.status)
  end)

  it("stop leaves no process and no file behind", function()
    local mock = testing.server{ workers = 2 }
    local pid, prefix = mock.pid, mock.prefix
    assert.is_true(alive(pid))
    assert.is_true(exists(prefix .. "/nginx.conf"))
    mock:stop()
    assert.is_false(alive(pid))
    assert.is_false(exists(prefix))
    mock:stop()   -- idempotent
  end)

  it("listens on 127.0.0.1 only", function()
    local mock = testing.server{ tls = false }
    local conf = io.open(mock.prefix .. "/nginx.conf"):read("a")
    mock:stop()
    local listens = 0
    for addr in conf:gmatch("listen ([^;]+);") do
      listens = listens + 1
      assert.truthy(addr:match("^127%.0%.0%.1:%d+"), addr)
    end
    assert.are.equal(1, listens)
  end)

  it("sends a correct Date header, shifted by skew, and checks tokens against that clock", function()
    local plain = testing.server{ tls = false }
    local skewed = testing.server{ tls = false, skew = 3600 }
    local r1 = H.get(plain, "Location/")
    local r2 = H.get(skewed, "Location/")
    local url = skewed:url("Location/")
    local r3 = H.get(skewed, "Location/", { token = H.sign(skewed, "GET", url, { now = os.time() + 3600 }) })
    plain:stop()
    skewed:stop()
    assert.is_true(math.abs(parse_http_date(r1.headers["date"]) - os.time()) <= 2)
    assert.is_true(math.abs(parse_http_date(r2.headers["date"]) - (os.time() + 3600)) <= 2)
    -- Signed with the local clock, the token is an hour old for the server.
    assert.are.equal(401, r2.status)
    assert.are.equal(200, r3.status)
  end)

  it("serves an expired certificate or one for another host name on request", function()
    for variant, pattern in pairs{ expired = "expired", wrong_host = "certificate" } do
      local mock = testing.server{ tls_variant = variant }
      local p = io.popen(H.CLEAN .. "curl -sS --max-time 5 --cacert " .. H.q(mock.cafile) .. " " ..
        H.q(mock.base_url .. "/__mock/health") .. " 2>&1; echo \" rc=$?\"")
      local out = p:read("a")
      p:close()
      mock:stop()
      assert.truthy(out:find(pattern, 1, true), variant .. ": " .. out)
      assert.truthy(out:match("rc=(%d+)") == "60", out)
    end
  end)

  it("fails fast on a port in use and leaves nothing behind", function()
    local a = testing.server{ tls = false }
    local before = io.popen("ls -d /tmp/coreplus-mock.* 2>/dev/null | wc -l"):read("a")
    local t = core.now()
    local ok, err = pcall(testing.server, { tls = false, port = a.port })
    local took = core.now() - t
    local after = io.popen("ls -d /tmp/coreplus-mock.* 2>/dev/null | wc -l"):read("a")
    a:stop()
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Address already in use", 1, true))
    assert.is_true(took < 2, "took " .. took)
    assert.are.equal(before, after)
  end)

  -- nginx creates its pid file before it writes the pid: a launcher that read
  -- it then took the mock for broken, removed the prefix and waited forever
  -- for the nginx it had not stopped.
  it("starts when the pid file exists but is still empty", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local wrapper = dir .. "/slow-pid-nginx"
    local f = assert(io.open(wrapper, "w"))
    local real = require("coreplus.testing.nginx").find().path
    f:write('#!/bin/sh\n[ "$1" = -V ] && exec ' .. real .. ' -V\n: > "${2}nginx.pid"\nsleep 0.5\nexec ' .. real
      .. ' "$@"\n')
    f:close()
    assert(os.execute("chmod 755 " .. wrapper))
    local code = ([[
      local testing = require "coreplus.testing"
      testing.nginx = %q
      local mock = testing.server{ tls = false }
      local ok = mock:stats() ~= nil
      mock:stop()
      print(ok and "started" or "no stats")]]):format(wrapper)
    local p = io.popen("timeout 30 lua5.4 -e " .. ("%q"):format(code):gsub("\\\n", "\n"):gsub("%$", "\\$") .. " 2>&1")
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. dir)
    assert.equal("started\n", out)
  end)

  it("refuses unknown options by name", function()
    assert.has_error(function() testing.server{ colour = "blue" } end,
      "coreplus.testing.server: unknown option 'colour'")
  end)

  it("builds a coreplus client for itself", function()
    local mock = testing.server{}
    local seen
    package.loaded["coreplus"] = { new = function(o) seen = o; return o end }
    local ok, err = pcall(function() mock:client{ retries = 0 } end)
    package.loaded["coreplus"] = nil
    mock:stop()
    assert.is_true(ok, err)
    assert.are.equal(mock.base_url, seen.base_url)
    assert.are.equal(mock.cafile, seen.cafile)
    assert.are.equal(mock.consumer_secret, seen.consumer_secret)
    assert.are.equal(0, seen.retries)
    assert.is_false(seen.allow_http)
  end)
end)

describe("coreplus-mock CLI", function()
  it("start prints export lines and leaves the server running; stop ends it", function()
    local p = io.popen(H.CLEAN .. "bin/coreplus-mock start --plain --skew 5 --clients 10 --seed 3")
    local out = p:read("a")
    p:close()
    local env = {}
    for k, v in out:gmatch("export ([%w_]+)=([^\n]*)") do env[k] = v:gsub("^'(.*)'$", "%1") end
    for _, k in ipairs{ "COREPLUS_BASE_URL", "COREPLUS_CONSUMER_ID", "COREPLUS_CONSUMER_SECRET",
                        "COREPLUS_ACCESS_TOKEN", "COREPLUS_RESTRICTED_ACCESS_TOKEN", "COREPLUS_CAFILE",
                        "COREPLUS_MOCK_PID", "COREPLUS_MOCK_PREFIX" } do
      assert.is_not_nil(env[k], k .. " in " .. out)
    end
    local mock = setmetatable({ base_url = env.COREPLUS_BASE_URL, consumer_id = env.COREPLUS_CONSUMER_ID,
      consumer_secret = env.COREPLUS_CONSUMER_SECRET, access_token = env.COREPLUS_ACCESS_TOKEN,
      api_url = env.COREPLUS_BASE_URL .. "/API/Core/v2.1/" },
      { __index = { url = function(self, path) return self.api_url .. path end } })
    local res = H.get(mock, "Client/", { token = H.sign(mock, "GET", mock:url("Client/"), { now = os.time() + 5 }) })
    local pid = tonumber(env.COREPLUS_MOCK_PID)
    assert.is_true(alive(pid))
    assert.is_true(os.execute(H.CLEAN .. "COREPLUS_MOCK_PID=" .. pid .. " COREPLUS_MOCK_PREFIX=" ..
      env.COREPLUS_MOCK_PREFIX .. " bin/coreplus-mock stop"))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(10, res.json.paging.totalRows)
    assert.is_false(alive(pid))
    assert.is_false(exists(env.COREPLUS_MOCK_PREFIX))
  end)

  it("stop ends the workers of a master that was killed", function()
    local p = io.popen(H.CLEAN .. "bin/coreplus-mock start --plain --workers 2")
    local out = p:read("a")
    p:close()
    local pid = tonumber(out:match("COREPLUS_MOCK_PID=(%d+)"))
    local prefix = out:match("COREPLUS_MOCK_PREFIX='?([^'\n]+)")
    local port = tonumber(out:match("COREPLUS_BASE_URL='?http://127%.0%.0%.1:(%d+)"))
    local workers = children(pid)
    assert.equal(2, #workers, out)
    os.execute("kill -KILL " .. pid)
    assert.is_true(listening(port))   -- the workers still hold the port
    assert.is_true(os.execute(H.CLEAN .. "bin/coreplus-mock stop --pid " .. pid .. " --prefix " .. prefix))
    for _, w in ipairs(workers) do assert.is_false(alive(w), "worker " .. w) end
    assert.is_false(listening(port))
    assert.is_false(exists(prefix))
  end)

  it("takes --rate-limit N or off, as its usage says", function()
    for _, case in ipairs{ { "off", false }, { "3", 3 } } do
      local p = io.popen(H.CLEAN .. "bin/coreplus-mock start --plain --rate-limit " .. case[1] .. " 2>&1")
      local out = p:read("a")
      p:close()
      local pid = tonumber(out:match("COREPLUS_MOCK_PID=(%d+)"))
      local prefix = out:match("COREPLUS_MOCK_PREFIX='?([^'\n]+)")
      assert.is_not_nil(pid, out)
      local cfg = require("cjson").decode(assert(io.open(prefix .. "/mock.json")):read("a"))
      os.execute(H.CLEAN .. "bin/coreplus-mock stop --pid " .. pid .. " --prefix " .. prefix)
      assert.are.equal(case[2], cfg.rate_limit)
    end
  end)

  it("rejects unknown options", function()
    local ok = os.execute(H.CLEAN .. "bin/coreplus-mock start --bogus 2>/dev/null")
    assert.is_falsy(ok)
  end)
end)

-- The launcher as users run it: from their own processes, environments and
-- nginx builds. Each case runs a separate lua5.4 (spec/support has none of
-- this: the point is an environment unlike the suite's own).
describe("mock launcher outside the suite's environment", function()
  local top = io.popen("pwd"):read("l")

  local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

  local function tmpdir()
    local d = io.popen("mktemp -d"):read("l")
    return d
  end

  -- child(code, env) -> handle whose first line is the child's pid: the Lua
  -- code runs in its own lua5.4 with exactly the env given for the paths.
  -- The directory this busted found coreplus.core in (build/lua5.4, or a
  -- rock tree under `luarocks test`; the normal build in the ASan pass, whose
  -- children run without the sanitizer runtime), as a cpath entry.
  local CORE = F.core_dir() .. "/?.so"

  local function child(code, env)
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/child.lua", "w"))
    f:write(code)
    f:close()
    env = env or {}
    local vars = {}
    env.LUA_PATH = env.LUA_PATH or (top .. "/lua/?.lua;" .. top .. "/lua/?/init.lua;;")
    env.LUA_CPATH = env.LUA_CPATH or (CORE .. ";;")
    for k, v in pairs(env) do vars[#vars + 1] = q(k .. "=" .. v) end
    table.sort(vars)
    -- (exec: no shell waits for it, to say "Killed" on our stderr when a spec kills it)
    local p = io.popen(H.CLEAN .. "exec sh -c 'echo $$; exec \"$@\" 2>&1' sh env " .. table.concat(vars, " ")
      .. " lua5.4 " .. q(dir .. "/child.lua"))
    return p, dir
  end

  local function run(code, env)
    local p, dir = child(code, env)
    p:read("l")
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. q(dir))
    return out
  end

  -- Polls until nginx and its prefix are gone. The bound is past the
  -- watchdog's own worst case (a second to see its launcher gone, 5 s for
  -- nginx to QUIT before it KILLs it): a loaded machine is slow, not wrong.
  local GONE_WITHIN = 15
  local function gone_within(seconds, pid, prefix)
    local t = core.now()
    while core.now() - t < seconds do
      if not alive(pid) and not exists(prefix) then return true end
      core.sleep(0.05)
    end
    return false
  end

  -- What `eval "$(luarocks path)"` leaves: Lua 5.4 directories only, no ';;'.
  local function luarocks_env()
    local cjson = assert(package.searchpath("cjson", package.cpath), "no cjson.so for Lua 5.4")
    local cdir = cjson:match("^(.*)/cjson%.so$")
    return {
      LUA_PATH = table.concat({ top .. "/lua/?.lua", top .. "/lua/?/init.lua",
        "/usr/local/share/lua/5.4/?.lua", "/usr/local/share/lua/5.4/?/init.lua",
        "/usr/share/lua/5.4/?.lua", "/usr/share/lua/5.4/?/init.lua" }, ";"),
      LUA_CPATH = table.concat({ CORE, "/usr/local/lib/lua/5.4/?.so",
        cdir .. "/?.so" }, ";"),
    }, cdir
  end

  it("starts under a LuaRocks-style environment (5.4 paths, no ';;')", function()
    local env, cdir = luarocks_env()
    -- The premise: these paths lead LuaJIT to a cjson.so built for 5.4.
    assert.is_nil(env.LUA_CPATH:find(";;", 1, true))
    assert.truthy(exists(cdir .. "/cjson.so"))
    local out = run([[
      local mock = require("coreplus.testing").server{}
      local page = assert(mock:client{ user_agent = "spec/1", issuer = "https://spec.example",
        shared_limit = false }.locations:list())
      mock:stop()
      print("listed " .. #page.items)]], env)
    assert.equal("listed 3\n", out)
  end)

  it("coreplus-mock start and stop work under the same environment", function()
    local env = luarocks_env()
    local out = run([[
      local p = io.popen("bin/coreplus-mock start --plain")
      local text = p:read("a")
      p:close()
      local pid = text:match("COREPLUS_MOCK_PID=(%d+)")
      local prefix = text:match("COREPLUS_MOCK_PREFIX=(%S+)")
      local base = text:match("COREPLUS_BASE_URL=(%S+)")
      local health = io.popen("curl -sS " .. base .. "/__mock/health"):read("a")
      os.execute("bin/coreplus-mock stop --pid " .. pid .. " --prefix " .. prefix)
      print(health:match('"ok":true') and "healthy" or text .. health)]], env)
    assert.equal("healthy\n", out)
  end)

  for _, case in ipairs{
    { "SIGKILL", "KILL", "core.sleep(30)" },
    { "SIGTERM (a `timeout`)", "TERM", "core.sleep(30)" },
    -- The child holds the pipe to the watchdog open (os.execute children
    -- inherit it); its pid is kept so that the spec can end it.
    { "SIGKILL while a child it started with os.execute still runs", "KILL",
      "os.execute('sleep 30 & echo $! >' .. arg[0]:match('^(.*)/') .. '/sleep.pid; wait')" },
  } do
    it("stops nginx and removes the prefix when its launcher dies by " .. case[1], function()
      local p, dir = child([[
        local core = require "coreplus.core"
        local mock = require("coreplus.testing").server{ tls = false }
        print(mock.pid .. " " .. mock.prefix)
        io.stdout:flush()
        ]] .. case[3])
      local launcher = tonumber(p:read("l"))
      local pid, prefix = p:read("l"):match("^(%d+) (%S+)$")
      assert.is_true(alive(tonumber(pid)))
      assert.is_true(exists(prefix .. "/mock.json"))
      os.execute("kill -" .. case[2] .. " " .. launcher)
      local ok = gone_within(GONE_WITHIN, tonumber(pid), prefix)
      p:close()
      local sleeper = io.open(dir .. "/sleep.pid")
      if sleeper then os.execute("kill " .. tonumber(sleeper:read("l"))); sleeper:close() end
      os.execute("rm -rf " .. q(dir))
      assert.is_true(ok, "nginx " .. pid .. " or " .. prefix .. " still there after " .. GONE_WITHIN .. " s")
    end)
  end

  it("stops nginx when the launcher's output pipe closes (`make demo | head`)", function()
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/child.lua", "w"))
    f:write(([[
      local core = require "coreplus.core"
      local mock = require("coreplus.testing").server{ tls = false }
      local f = io.open(%q, "w")
      f:write(mock.pid, " ", mock.prefix, "\n")
      f:close()
      -- writes until the pipe breaks (head has gone): the pipe's buffer
      -- fills long before the bound
      for i = 1, 1e7 do print("line " .. i); if not io.stdout:flush() then break end end]]):format(dir .. "/ids"))
    f:close()
    local p = io.popen(H.CLEAN .. "env LUA_PATH=" .. q(top .. "/lua/?.lua;" .. top .. "/lua/?/init.lua;;")
      .. " LUA_CPATH=" .. q(CORE .. ";;") .. " lua5.4 " .. q(dir .. "/child.lua")
      .. " | head -n 2")
    local out = p:read("a")
    p:close()
    local pid, prefix = io.open(dir .. "/ids"):read("a"):match("^(%d+) (%S+)")
    local ok = gone_within(GONE_WITHIN, tonumber(pid), prefix)
    os.execute("rm -rf " .. q(dir))
    assert.equal("line 1\nline 2\n", out)
    assert.is_true(ok, "nginx " .. pid .. " or " .. prefix .. " still there after " .. GONE_WITHIN .. " s")
  end)

  it("runs the nginx named by COREPLUS_NGINX", function()
    local dir = tmpdir()
    local real = require("coreplus.testing.nginx").find().path
    local wrapper = dir .. "/my-nginx"
    local f = assert(io.open(wrapper, "w"))
    f:write("#!/bin/sh\necho \"$@\" >>" .. q(dir .. "/calls") .. "\nexec " .. q(real) .. " \"$@\"\n")
    f:close()
    os.execute("chmod 755 " .. q(wrapper))
    local out = run([[
      local mock = require("coreplus.testing").server{ tls = false }
      local ok = mock:stats() ~= nil
      mock:stop()
      print(ok and mock.nginx or "no stats")]], { COREPLUS_NGINX = wrapper })
    local calls = io.open(dir .. "/calls"):read("a")
    os.execute("rm -rf " .. q(dir))
    assert.equal(wrapper .. "\n", out)
    assert.truthy(calls:find("-V", 1, true))
    assert.truthy(calls:find("-c nginx.conf", 1, true))
  end)

  it("says what it tried when COREPLUS_NGINX names no usable nginx", function()
    local out = run([[
      local ok, err = pcall(require("coreplus.testing").server, { tls = false })
      print(ok and "started" or err)]], { COREPLUS_NGINX = "/nonexistent/nginx" })
    assert.equal("coreplus.testing: the chosen nginx cannot run the mock: /nonexistent/nginx is not an"
      .. " executable\n", out)
  end)

  it("makes its prefix under TMPDIR, with the credentials file readable by its owner only", function()
    local dir = tmpdir() .. "/with space"
    os.execute("mkdir -p " .. q(dir))
    local out = run([[
      local mock = require("coreplus.testing").server{}
      local mode = io.popen("stat -c %a " .. ("%q"):format(mock.prefix .. "/mock.json")):read("l")
      local key = io.popen("stat -c %a " .. ("%q"):format(mock.prefix .. "/server.key")):read("l")
      local ok = mock:stats() ~= nil
      mock:stop()
      print(mock.prefix, mode, key, ok)]], { TMPDIR = dir })
    local prefix, mode, key, ok = out:match("^(.-)\t(%d+)\t(%d+)\t(%a+)\n$")
    os.execute("rm -rf " .. q(dir:match("^(.*)/with space$")))
    assert.equal(dir, prefix and prefix:match("^(.*)/coreplus%-mock%.%w+$"), out)
    assert.equal("600", mode)
    assert.equal("600", key)
    assert.equal("true", ok)
  end)
end)

describe("finding nginx", function()
  local finder = require "coreplus.testing.nginx"
  local conf = require "coreplus.testing.mock.conf"

  it("takes the Lua module as compiled in for OpenResty and loads no module", function()
    local info = finder.parse_version("nginx version: openresty/1.25.3.1\nbuilt with OpenSSL 3.0\n"
      .. "configure arguments: --prefix=/usr/local/openresty/nginx --add-module=../ngx_devel_kit-0.3.3"
      .. " --add-module=../ngx_lua-0.10.26 --add-module=../ngx_stream_lua-0.0.14 --with-http_ssl_module\n")
    assert.is_true(info.builtin)
    local text = conf.render{ prefix = "/tmp/x", lua_dir = "/l", port = 1, workers = 1, config_path = "/tmp/x/m" }
    assert.is_nil(text:find("load_module", 1, true))
  end)

  it("finds a distribution's dynamic module from --modules-path, development kit first", function()
    local info = finder.parse_version("nginx version: nginx/1.22.1\nconfigure arguments:"
      .. " --prefix=/usr/share/nginx --modules-path=/usr/lib/nginx/modules --with-http_ssl_module\n")
    assert.is_false(info.builtin)
    assert.equal("/usr/lib/nginx/modules", info.modules_path)
    local found = finder.find()
    if not found.builtin then
      assert.truthy(found.modules[#found.modules]:match("/ngx_http_lua_module%.so$"))
      local ndk = found.modules[1]:match("/ndk_http_module%.so$")
      assert.is_true(#found.modules == 1 or ndk ~= nil)
    end
  end)

  it("quotes paths in nginx.conf, so a TMPDIR with spaces or quotes works", function()
    local text = conf.render{ prefix = '/tmp/a "b"', lua_dir = "/l", port = 1, workers = 1,
      config_path = "/tmp/m", modules = { "/m/ngx_http_lua_module.so" } }
    assert.truthy(text:find('pid "/tmp/a \\"b\\"/nginx.pid";', 1, true))
    assert.truthy(text:find('load_module "/m/ngx_http_lua_module.so";', 1, true))
  end)

  it("takes the nginx option, and refuses one without the Lua module", function()
    local dir = io.popen("mktemp -d"):read("l")
    local fake = dir .. "/nginx"
    local f = assert(io.open(fake, "w"))
    f:write("#!/bin/sh\necho 'nginx version: nginx/1.0'\necho 'configure arguments: --modules-path="
      .. dir .. "'\n")
    f:close()
    os.execute("chmod 755 " .. fake)
    local ok, err = pcall(testing.server, { tls = false, nginx = fake })
    os.execute("rm -rf " .. dir)
    assert.is_false(ok)
    assert.matches("has no Lua module", err, 1, true)
  end)

  -- A spec that starts a server of its own (redis-server) after the mock
  -- hands it the mock's watchdog pipe: stop() once waited for it to exit.
  it("stops while a process started after it still holds its pipe", function()
    local mock = testing.server{ tls = false }
    local pidfile = os.tmpname()
    os.execute("sleep 30 & echo $! >" .. pidfile)
    local sleeper = tonumber(io.open(pidfile):read("l"))
    os.remove(pidfile)
    mock:stop()
    -- stop did not wait for it: it still runs (for 30 s), holding the pipe
    local still = alive(sleeper)
    os.execute("kill " .. sleeper)
    assert.is_true(still, "stop returned only after the process holding its pipe ended")
    assert.is_false(alive(mock.pid))
    assert.is_false(exists(mock.prefix))
  end)

  it("stops quietly when nginx is already gone, and its orphaned workers with it", function()
    local mock = testing.server{ tls = false, workers = 2 }
    local workers = children(mock.pid)
    assert.equal(2, #workers)
    os.execute("kill -KILL " .. mock.pid)
    mock:stop()
    mock:stop()
    assert.is_false(alive(mock.pid))
    for _, w in ipairs(workers) do assert.is_false(alive(w), "worker " .. w) end
    assert.is_false(listening(mock.port))
    assert.is_false(exists(mock.prefix))
  end)
end)
