-- The mock refuses every way of getting the token or headers wrong, as the
-- real API documents it (the developer docs' Authentication page), and lets a correct one in.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

describe("mock server authentication", function()
  local mock
  lazy_setup(function() mock = testing.server{ rate_limit = false } end)
  lazy_teardown(function() mock:stop() end)

  local function refused(res, detail_part)
    assert.are.equal(401, res.status)
    local reason, detail = H.reason(res)
    assert.truthy(reason and reason:find("Invalid token", 1, true), res.body)
    if detail_part then
      assert.truthy(detail and detail:find(detail_part, 1, true), "detail: " .. tostring(detail))
    end
  end

  it("accepts a correctly signed request", function()
    local res = H.get(mock, "Location/")
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(3, #res.json.locations)
  end)

  it("refuses a token signed with the wrong secret", function()
    local url = mock:url("Location/")
    refused(H.get(mock, "Location/", { token = H.sign(mock, "GET", url, { consumer_secret = "nope" }) }),
      "signature")
  end)

  it("refuses a url claim that differs from the requested URL", function()
    local token = H.sign(mock, "GET", mock:url("Location/?x=1"))
    refused(H.get(mock, "Location/", { token = token }), "url claim")
  end)

  it("refuses a url claim that names another host for the same port", function()
    local url = mock:url("Location/"):gsub("127%.0%.0%.1", "localhost")
    refused(H.get(mock, "Location/", { token = H.sign(mock, "GET", url) }), "url claim")
  end)

  it("refuses a httpMethod claim that differs from the method", function()
    refused(H.get(mock, "Location/", { token = H.sign(mock, "POST", mock:url("Location/")) }), "httpMethod")
  end)

  for _, claim in ipairs{ "iss", "aud", "nbf", "exp", "consumerId", "accessToken", "url", "httpMethod" } do
    it("refuses a token without the " .. claim .. " claim", function()
      local claims = H.claims(mock, "GET", mock:url("Location/"), { [claim] = false })
      refused(H.get(mock, "Location/", { token = H.token_of(claims, nil, mock) }), "claim " .. claim .. " missing")
    end)
  end

  it("refuses an expired token", function()
    local now = os.time()
    local claims = H.claims(mock, "GET", mock:url("Location/"), { nbf = now - 120, exp = now - 60 })
    refused(H.get(mock, "Location/", { token = H.token_of(claims, nil, mock) }), "expired")
  end)

  it("refuses a token whose nbf is in the future", function()
    local now = os.time()
    local claims = H.claims(mock, "GET", mock:url("Location/"), { nbf = now + 60, exp = now + 120 })
    refused(H.get(mock, "Location/", { token = H.token_of(claims, nil, mock) }), "not valid yet")
  end)

  it("refuses nbf/exp in milliseconds (FAQ cause 1)", function()
    local now = os.time() * 1000
    local claims = H.claims(mock, "GET", mock:url("Location/"), { nbf = now, exp = now + 60000 })
    refused(H.get(mock, "Location/", { token = H.token_of(claims, nil, mock) }))
  end)

  it("accepts a token that lives the documented minute, and a second or two more (the leeway)", function()
    local now = os.time()
    for _, life in ipairs{ 60, 61, 62 } do
      local claims = H.claims(mock, "GET", mock:url("Location/"), { nbf = now, exp = now + life })
      assert.are.equal(200, H.get(mock, "Location/", { token = H.token_of(claims, nil, mock) }).status, life)
    end
  end)

  it("refuses a token that lives longer than a minute plus the leeway (exp - nbf)", function()
    local now = os.time()
    for _, life in ipairs{ 63, 3600, 365 * 86400 } do
      local claims = H.claims(mock, "GET", mock:url("Location/"), { nbf = now - 1, exp = now - 1 + life })
      refused(H.get(mock, "Location/", { token = H.token_of(claims, nil, mock) }), "at most 60 s")
    end
  end)

  it("refuses 'Bearer' instead of 'JwToken'", function()
    local token = H.sign(mock, "GET", mock:url("Location/"))
    refused(H.get(mock, "Location/", { auth = "Bearer " .. token }), "JwToken")
  end)

  it("refuses a missing Authorization header", function()
    refused(H.get(mock, "Location/", { auth = false }), "Authorization")
  end)

  it("refuses a request without content-type application/json (FAQ cause 2)", function()
    refused(H.get(mock, "Location/", { content_type = false }), "content-type")
    refused(H.get(mock, "Location/", { content_type = "text/plain" }), "content-type")
  end)

  it("accepts content-type with a charset parameter", function()
    assert.are.equal(200, H.get(mock, "Location/", { content_type = "application/json; charset=utf-8" }).status)
  end)

  it("refuses an unknown consumer", function()
    local url = mock:url("Location/")
    refused(H.get(mock, "Location/", { token = H.sign(mock, "GET", url, { consumer_id = "someone-else" }) }),
      "unknown consumerId")
  end)

  it("refuses an unknown access token", function()
    local url = mock:url("Location/")
    refused(H.get(mock, "Location/", { token = H.sign(mock, "GET", url, { access_token = "not-a-token" }) }),
      "unknown accessToken")
  end)

  it("refuses alg none", function()
    local claims = H.claims(mock, "GET", mock:url("Location/"))
    local token = H.b64url('{"alg":"none","typ":"JWT"}') .. "." ..
      H.b64url(require("cjson").encode(claims)) .. "."
    refused(H.get(mock, "Location/", { token = token }), "alg")
  end)

  it("refuses a token that is not three base64url parts", function()
    refused(H.get(mock, "Location/", { token = "abc.def" }))
    refused(H.get(mock, "Location/", { token = "a+b.c/d.e=f" }))
  end)

  it("refuses a missing or generic User-Agent with 403", function()
    for _, ua in ipairs{ false, "curl/7.88.1", "python-requests/2.31", "Mozilla/5.0 (X11)", "WordPress/6.4" } do
      local res = H.get(mock, "Location/", { ua = ua })
      assert.are.equal(403, res.status, tostring(ua))
      assert.truthy(H.reason(res):find("User-Agent", 1, true))
    end
  end)

  it("lets the library's own default User-Agent through unless told otherwise", function()
    for _, ua in ipairs{ "lua-coreplus/0.1.0 (libcurl/7.88.1; Lua 5.4)", "myapp/1.2 lua-coreplus/0.1.0 (libcurl)" } do
      assert.are.equal(200, H.get(mock, "Location/", { ua = ua }).status, ua)
    end
  end)

  it("puts an RFC 1123 Date header on refusals too (clients learn the clock from them)", function()
    for _, res in ipairs{ H.get(mock, "Location/", { auth = false }), H.get(mock, "Location/", { ua = false }),
                          H.get(mock, "Nope/"), H.get(mock, "Location/") } do
      assert.truthy((res.headers["date"] or ""):match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"))
    end
  end)

  it("counts refusals in the stats", function()
    local before = mock:stats()
    H.get(mock, "Location/", { auth = false })
    H.get(mock, "Location/", { ua = false })
    local after = mock:stats()
    assert.are.equal(before.auth_failures + 1, after.auth_failures)
    assert.are.equal(before.ua_refused + 1, after.ua_refused)
  end)

  it("gives the restricted access token the FAQ's 401 body on the client list", function()
    local res = H.get(mock, "Client/", { access_token = mock.restricted_access_token })
    assert.are.equal(401, res.status)
    assert.are.same({ result = { { severity = 2, reason = "Not authorized for viewing client list" } } }, res.json)
  end)

  it("lets the restricted access token read other resources", function()
    assert.are.equal(200, H.get(mock, "Practitioner/", { access_token = mock.restricted_access_token }).status)
  end)

  it("signs a token the mock accepts at the documented v2 path in another case", function()
    local url = mock.base_url .. "/api/core/v2/location/"
    local res = H.request(mock, { url = url })
    assert.are.equal(200, res.status, res.body)
  end)
end)

describe("mock server with block_default_user_agent", function()
  local mock
  lazy_setup(function() mock = testing.server{ rate_limit = false, tls = false, block_default_user_agent = true } end)
  lazy_teardown(function() mock:stop() end)

  it("refuses the library's bare default User-Agent with the 403 the library reads as blocked_user_agent", function()
    for _, ua in ipairs{ "lua-coreplus/0.1.0 (libcurl/7.88.1; Lua 5.4)", "LUA-COREPLUS/9", "lua-coreplus" } do
      local res = H.get(mock, "Location/", { ua = ua })
      assert.are.equal(403, res.status, ua)
      local reason, detail = H.reason(res)
      -- coreplus.errors maps a 403 whose reason speaks of the user agent to
      -- kind blocked_user_agent.
      assert.truthy(reason:lower():find("user%-agent"), reason)
      assert.truthy(detail:find("names no app", 1, true), detail)
    end
  end)

  it("lets an app name before the library's through, and still refuses generic agents", function()
    assert.are.equal(200, H.get(mock, "Location/", { ua = "my-practice-sync/1.2 lua-coreplus/0.1.0 (libcurl)" }).status)
    assert.are.equal(403, H.get(mock, "Location/", { ua = "python-requests/2.28.1" }).status)
  end)

  it("refuses a client of the library that sets no user_agent, and serves one that does", function()
    local said = {}
    local _, err = mock:client{ retries = 0, user_agent = false,
      log = function(_, key) said[#said + 1] = key end }.locations:list{}
    assert.truthy(err, "expected a refusal")
    assert.are.equal(403, err.status)
    assert.truthy(table.concat(err.reasons, " "):find("User-Agent", 1, true))
    assert.same({ "default_user_agent" }, said)   -- (and the client said so first)
    local list, lerr = mock:client{ user_agent = "spec-app/1.0" }.locations:list{}
    assert.truthy(list, tostring(lerr))
    -- mock:client's own default names an app too
    assert.truthy(mock:client{}.locations:list{})
  end)
end)
