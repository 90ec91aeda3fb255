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

-- The FAQ's self-check: decode must accept every token the server accepts.
-- Tokens made by PyJWT (an independent implementation) at this moment, with
-- this machine's clock, as a developer following the FAQ would.
describe("coreplus decode and fresh PyJWT tokens", function()
  local mock, env
  H.use_mock(setup, teardown, { tls = true }, function(m, e) mock, env = m, e end)

  -- Tokens from /usr/bin/python3's jwt, one per delta: nbf = the time of
  -- making + delta. The deltas stand for every phase of the clock: a token
  -- made in the second before the check, in the same one, in the next.
  local function pyjwt(deltas)
    local script = ([[
import jwt, sys, time
for delta in (%s,):
    now = int(time.time()) + delta
    print(jwt.encode({"iss": "https://spec.example", "aud": "https://coreplus.com.au", "nbf": now,
        "exp": now + 60, "consumerId": sys.argv[1], "accessToken": sys.argv[2],
        "url": sys.argv[3], "httpMethod": "GET"}, sys.argv[4], algorithm="HS256"))
]]):format(table.concat(deltas, ", "))
    local p = assert(io.popen("/usr/bin/python3 -c " .. H.q(script) .. " " .. H.q(mock.consumer_id) .. " "
      .. H.q(mock.access_token) .. " " .. H.q(mock:url("Location/")) .. " " .. H.q(mock.consumer_secret)))
    local out = p:read("a")
    p:close()
    local tokens = {}
    for t in out:gmatch("%S+") do tokens[#tokens + 1] = t end
    assert.equal(#deltas, #tokens, out)
    return tokens
  end

  it("accepts each of five made a second or two either side of now", function()
    for i, token in ipairs(pyjwt{ -2, -1, 0, 0, 1 }) do
      local r = H.main(env, { "decode", token, "--json" })
      assert.equal(0, r.code, i .. ": " .. r.err)
      assert.is_true(cjson.decode(r.out).valid)
    end
  end)

  it("names the FAQ's cause when it refuses one: local time sent as UTC", function()
    local r = H.main(env, { "decode", pyjwt{ 10 * 3600 }[1] })
    assert.equal(1, r.code)
    assert.matches("off by 10 h: local time was used instead of UTC", r.err, 1, true)
    assert.matches("nbf and exp must be UTC unix seconds", r.err, 1, true)
  end)
end)

describe("the CLI remembers the server's clock between runs", function()
  local mock, env, dir
  H.use_mock(setup, teardown, { tls = true, skew = 600 }, function(m, e)
    mock, env = m, e
    dir = mock.prefix .. "/runtime"
    os.execute("mkdir -m 700 " .. H.q(dir))
    env.XDG_RUNTIME_DIR = dir
  end)

  it("so a skewed server refuses one token per machine, not one per command", function()
    mock:reset()
    local first = H.run(env, "locations", "--json")
    assert.equal(0, first.code, first.err)
    assert.equal(1, mock:stats().auth_failures)
    for _ = 1, 2 do
      local again = H.run(env, "locations", "--json")
      assert.equal(0, again.code, again.err)
    end
    assert.equal(1, mock:stats().auth_failures)
    local saved = assert(io.open(dir .. "/coreplus-clock")):read("a")
    local offset, base = saved:match("^(%S+) %d+ (%S+)\n$")
    assert.equal(mock.base_url, base)
    assert.truthy(tonumber(offset) >= 598 and tonumber(offset) <= 600, saved)
  end)
end)
