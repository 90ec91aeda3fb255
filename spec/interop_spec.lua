-- Interoperability with an independent implementation: Debian's python3-jwt.
local core = require "coreplus.core"
local cjson = require "cjson"

local PY = "/usr/bin/python3"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function python(script, ...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = shell_quote(a) end
  local cmd = PY .. " -c " .. shell_quote(script) .. " " .. table.concat(args, " ") .. " 2>&1"
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  local ok = f:close()
  return out:gsub("%s+$", ""), ok
end

local VERIFY = [[
import sys, json, jwt
claims = jwt.decode(sys.argv[1], sys.argv[2], algorithms=["HS256"],
                    audience=sys.argv[3], options={"verify_exp": True, "verify_nbf": True})
print(json.dumps(claims, sort_keys=True))
]]

local SIGN = [[
import sys, json, jwt
print(jwt.encode(json.loads(sys.argv[1]), sys.argv[2], algorithm="HS256"))
]]

describe("python3-jwt interop", function()
  local secret = "Zx9-secret/with+chars=="
  local url = "https://127.0.0.1:8443/API/Core/v2.1/AvailabilitySlot/?endDate=2024-06-02"
    .. "&practitionerId=a&practitionerId=b&startDate=2024-06-01&timezoneId=39D62534"

  it("python3-jwt verifies a token from core.sign and reads the same claims", function()
    local now = os.time()
    local token = core.sign{ consumer_id = "0f8fad5b-d9cb-469f-a165-70867728950e",
      consumer_secret = secret, access_token = "7c9e6679-7425-40de-944b-e07fc1f90ae7",
      url = url, method = "get", issuer = "https://myapp.example", audience = "https://coreplus.com.au",
      now = now }
    local out, ok = python(VERIFY, token, secret, "https://coreplus.com.au")
    assert.is_true(ok, out)
    local claims = cjson.decode(out)
    assert.equal(url, claims.url)
    assert.equal("GET", claims.httpMethod)
    assert.equal(now, math.tointeger(claims.nbf))
    assert.equal(now + 60, math.tointeger(claims.exp))
    assert.equal("https://myapp.example", claims.iss)
  end)

  it("python3-jwt refuses the same token with another secret", function()
    local token = core.sign{ consumer_id = "c", consumer_secret = secret, access_token = "a",
      url = url, method = "GET" }
    local out, ok = python(VERIFY, token, "not-the-secret", "https://coreplus.com.au")
    assert.is_falsy(ok)
    assert.matches("Signature verification failed", out)
  end)

  it("core.jwt_decode verifies a token made by python3-jwt", function()
    local claims = { iss = "https://myapp.example", aud = "https://coreplus.com.au",
      nbf = 1717200000, exp = 1717200060, consumerId = "c", accessToken = "a",
      url = url, httpMethod = "POST" }
    local token, ok = python(SIGN, cjson.encode(claims), secret)
    assert.is_true(ok, token)
    local json = assert(core.jwt_decode(token, secret))
    local got = cjson.decode(json)
    assert.equal(url, got.url)
    assert.equal("POST", got.httpMethod)
    assert.is_nil(core.jwt_decode(token, secret .. "x"))
  end)

  it("both sides agree on escaped and UTF-8 claims", function()
    local odd = 'q"u\\o\nte ☃ Zoë'
    local token = core.sign{ consumer_id = odd, consumer_secret = secret, access_token = "a",
      url = url, method = "GET", issuer = odd }
    local out, ok = python(VERIFY, token, secret, "https://coreplus.com.au")
    assert.is_true(ok, out)
    assert.equal(odd, cjson.decode(out).consumerId)
  end)
end)
