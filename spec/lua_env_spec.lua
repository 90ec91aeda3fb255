-- One clean environment for every child Lua (coreplus.testing.env, and
-- scripts/lua-env for the shell): tools work after the README's
-- `eval "$(luarocks path)"`, for either Lua, which leaves LUA_PATH and
-- LUA_CPATH naming one Lua's directories only. Each case here starts from
-- such a foreign environment, made by luarocks itself.
local env = require "coreplus.testing.env"
local F = dofile("spec/support/files.lua")
local q, read, tmpdir = F.q, F.read, F.tmpdir
local core = require "coreplus.core"

local function run(cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local out = f:read("a")
  local ok = f:close()
  return ok, out
end

-- cmd in a shell whose Lua paths are `luarocks --lua-version=V path`'s.
local function after_luarocks_path(version, cmd)
  return ("sh -c %s"):format(q(("eval \"$(luarocks --lua-version=%s path)\" && %s"):format(version, cmd)))
end

describe("coreplus.testing.env", function()
  it("removes LUA_PATH, LUA_CPATH and LUA_INIT of every Lua version, then sets what is asked", function()
    local text = env.shell{ LUA_PATH = "/x/?.lua;;", B = "it's" }
    for _, v in ipairs{ "LUA_PATH", "LUA_CPATH", "LUA_INIT", "LUA_PATH_5_1", "LUA_CPATH_5_4", "LUA_INIT_5_3" } do
      assert.matches(" " .. v .. "[ ;]", text)
    end
    assert.equals("export B='it'\\''s'; export LUA_PATH='/x/?.lua;;'; ", text:match("export.*$"))
    local ok, out = run("LUA_PATH_5_4=/a LUA_CPATH=/b LUA_INIT='error()' " .. env.shell{ C = "1" }
      .. "env | grep -E '^(LUA_|C=)' | sort")
    assert.is_true(ok, out)
    assert.equals("C=1\n", out)
  end)

  it("scripts/lua-env runs a command without the foreign paths, or with this checkout's", function()
    local ok, out = run(after_luarocks_path("5.4", "scripts/lua-env X=1 env | grep -E '^(LUA_|X=)'"))
    assert.is_true(ok, out)
    assert.equals("X=1\n", out)
    ok, out = run(after_luarocks_path("5.1", "scripts/lua-env --checkout luajit luajit -e "
      .. q("print(package.cpath:match('^[^;]*'), require('cjson').encode{1})")))
    assert.is_true(ok, out)
    assert.matches("/build/luajit/%?%.so%s+%[1%]\n$", out)
  end)

  for _, version in ipairs{ "5.4", "5.1" } do
    it("make docs works after luarocks " .. version .. "'s path", function()
      local dir = tmpdir()
      finally(function() os.execute("rm -rf " .. q(dir)) end)
      local ok, out = run(after_luarocks_path(version, "make --no-print-directory docs DOCS_DIR=" .. q(dir .. "/api")))
      assert.is_true(ok, out)
      assert.truthy(read(dir .. "/api/index.html"), out)
    end)
  end

  it("examples/openresty/run serves and stops after luarocks 5.4's path", function()
    local dir = tmpdir()
    finally(function() os.execute("rm -rf " .. q(dir)) end)
    local port = require("coreplus.testing").free_port()
    local log = dir .. "/run.log"
    assert(os.execute(after_luarocks_path("5.4", ("exec examples/openresty/run --port %d --latency 0")
      :format(port)) .. " >" .. q(log) .. " 2>&1 & echo $! >" .. q(dir .. "/pid")))
    local pid = tonumber(read(dir .. "/pid"))
    local health
    for _ = 1, 300 do
      health = select(2, run("curl -s --max-time 2 http://127.0.0.1:" .. port .. "/health"))
      if health:find('"ok":true', 1, true) then break end
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      core.sleep(0.1)
    end
    os.execute("kill -TERM " .. pid .. " 2>/dev/null")
    for _ = 1, 150 do
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      core.sleep(0.1)
    end
    assert.matches('"ok":true', health, 1, true)
    assert.matches("booking service stopped", read(log) or "", 1, true)
    assert.is_nil((read(log) or ""):find("undefined symbol", 1, true))
  end)
end)
