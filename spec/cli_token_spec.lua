-- coreplus token signs with the server's clock: a token made against a mock
-- running 120 s ahead works with curl; decode judges it by that clock too.
local cjson = require "cjson.safe"
local jwt = require "coreplus.jwt"
local H = dofile("spec/support/cli.lua")

describe("coreplus token against a server 120 s ahead", function()
  local mock, env
  H.use_mock(setup, teardown, { tls = true, skew = 120 }, function(m, e) mock, env = m, e end)

  --- curl (an independent HTTP client) with the token; returns the status.
  local function curl(token, path)
    local cmd = ("curl -s -o /dev/null -w '%%{http_code}' --cacert %s -A spec-practice-sync/1.0"
      .. " -H 'Content-Type: application/json' -H %s %s"):format(H.q(mock.cafile),
      H.q("Authorization: JwToken " .. token), H.q(mock.base_url .. "/API/Core/v2.1/" .. path))
    local p = assert(io.popen(cmd))
    local code = p:read("a")
    p:close()
    return tonumber(code)
  end

  it("curl with its token gets 200", function()
    local r = H.run(env, "token", "--url", "Location/?pageSize=1")
    assert.equal(0, r.code, r.err)
    assert.equal("", r.err)
    local token = r.out:match("^(%S+)\n$")
    assert.equal(200, curl(token, "Location/?pageSize=1"))
    local claims = assert(jwt.decode(token, mock.consumer_secret, { now = os.time() + 120 }))
    assert.truthy(claims.nbf >= os.time() + 115, "nbf is not the server's time")
  end)

  it("with --now (this machine's clock) the same request is refused (401)", function()
    local r = H.run(env, "token", "--url", "Location/?pageSize=1", "--now", tostring(os.time()))
    assert.equal(401, curl(r.out:match("^(%S+)\n$"), "Location/?pageSize=1"))
  end)

  it("--json says the offset it signed with", function()
    local v = cjson.decode(H.run(env, "token", "--url", "Location/", "--json").out)
    assert.truthy(v.clock_offset >= 119 and v.clock_offset <= 121, tostring(v.clock_offset))
    assert.equal(60, v.exp - v.nbf)
  end)

  it("decode judges nbf/exp by the server's clock", function()
    local fresh = H.run(env, "token", "--url", "Location/").out:gsub("%s+$", "")
    local ok = H.run(env, "decode", fresh, "--json")
    assert.equal(0, ok.code, ok.out)
    local v = cjson.decode(ok.out)
    assert.equal("server", v.clock)
    assert.truthy(v.seconds_left > 50)
    -- Signed by this machine's clock: already expired by the server's.
    local old = H.run(env, "token", "--url", "Location/", "--now", tostring(os.time())).out:gsub("%s+$", "")
    local bad = H.run(env, "decode", old, "--json")
    assert.equal(1, bad.code)
    assert.truthy(cjson.decode(bad.out).problems[1]:find("expired", 1, true))
  end)

  it("without a reachable server, token says it used this machine's clock", function()
    local r = H.run(H.env_of(mock, { COREPLUS_BASE_URL = "https://127.0.0.1:1" }), "token", "--url", "Location/")
    assert.equal(0, r.code)
    assert.truthy(r.out:match("^%S+\n$"))
    H.one_line_error(r)
    assert.truthy(r.err:find("this machine's clock", 1, true))
  end)
end)
