-- `coreplus explain`: one broken request per cause of "Invalid token" the
-- FAQ and the docs name, each named (in the words of coreplus.errors.causes,
-- which doctor uses too) and no other; a sound request names none. Requests
-- come as curl command lines, header blocks (raw, `curl -v`, a Python dict)
-- and Authorization values, signed by the C core for a fixed time.
local cjson = require "cjson.safe"
local core = require "coreplus.core"
local errors = require "coreplus.errors"
local H = dofile("spec/support/cli.lua")
local text = require "coreplus.cli.request_text"

local NOW = 1767225600   -- 2026-01-01T00:00:00Z
local SANDBOX = "https://sandbox.coreplus.com.au"
local URL = SANDBOX .. "/API/Core/v2.1/Client/?pageNumber=1&pageSize=5"

local ENV = { COREPLUS_BASE_URL = SANDBOX, COREPLUS_CONSUMER_ID = "cid-1", COREPLUS_CONSUMER_SECRET = "s3cret",
  COREPLUS_ACCESS_TOKEN = "tok-1", COREPLUS_PROFILE = false, XDG_CONFIG_HOME = "/nonexistent/explain-spec" }

-- A token with the sound claims, `over` changed (false removes one).
local function token(over, secret)
  local c = { iss = "https://me.example", aud = "https://coreplus.com.au", nbf = NOW, exp = NOW + 60,
    consumerId = "cid-1", accessToken = "tok-1", url = URL, httpMethod = "GET" }
  for k, v in pairs(over or {}) do c[k] = v or nil end
  return core.jwt_encode(cjson.encode(c), secret or "s3cret")
end

local function curl(auth, extra, url)
  return ("curl -sS %s -H 'Content-Type: application/json' -A 'my-practice-sync/1.0' %s '%s'"):format(
    "-H 'Authorization: " .. auth .. "'", extra or "", url or URL)
end

-- explain's verdict: the ids of the causes it names (FAIL), the exit status.
local function explain(input, env)
  local e = {}
  for k, v in pairs(ENV) do e[k] = v end
  for k, v in pairs(env or {}) do e[k] = v end
  local r = H.main(e, { "explain", "--json", "--now", tostring(NOW), input })
  local named, by = {}, {}
  for _, c in ipairs(assert(cjson.decode(r.out), r.out .. r.err)) do
    by[c.check] = c
    if c.status == "fail" then named[#named + 1] = c.check end
  end
  return named, r.code, by
end

describe("coreplus explain", function()
  it("names no cause in a sound request, and checks each one", function()
    local named, code, by = explain(curl("JwToken " .. token()))
    assert.same({}, named)
    assert.equal(0, code)
    for _, cause in ipairs(errors.causes) do assert.equal("ok", by[cause.id].status, cause.id) end
  end)

  -- cause id -> requests that break only it
  local broken = {
    utc_times = {
      curl("JwToken " .. token{ nbf = NOW + 10 * 3600, exp = NOW + 10 * 3600 + 60 }),   -- AEST sent as UTC
      curl("JwToken " .. token{ exp = NOW + 3600 }),                                     -- not a 60 s window
      curl("JwToken " .. token{ nbf = NOW * 1000, exp = NOW * 1000 + 60000 }),           -- milliseconds
    },
    content_type = {
      ("curl -H 'Authorization: JwToken %s' -A my-app/1.0 '%s'"):format(token(), URL),
      curl("JwToken " .. token(), "-H 'Content-Type: text/plain'"),
    },
    header_format = {
      curl("JwToken  " .. token()),
      curl("Bearer " .. token()),
      curl("JWToken " .. token()),
      curl("JwToken" .. token()),
      "JwToken \"" .. token() .. "\"",
    },
    environment = {
      curl("JwToken " .. token{ url = "https://api.coreplus.com.au/API/Core/v2.1/Client/" }, nil,
        "https://api.coreplus.com.au/API/Core/v2.1/Client/"),
    },
    url_claim = {
      curl("JwToken " .. token{ url = SANDBOX .. "/API/Core/v2.1/Client/" }),
      curl("JwToken " .. token{ url = SANDBOX .. "/API/Core/v2.1/Client/?pageSize=5&pageNumber=1" }),
      curl("JwToken " .. token{ url = "/API/Core/v2.1/Client/?pageNumber=1&pageSize=5" }),
    },
    method_claim = {
      curl("JwToken " .. token(), "-d '{}'"),
      curl("JwToken " .. token{ httpMethod = "get" }),
    },
    signature = {
      curl("JwToken " .. token(nil, "another-secret")),
    },
    expired = {
      curl("JwToken " .. token{ nbf = NOW - 300, exp = NOW - 240 }),
    },
    user_agent = {
      ("curl -H 'Authorization: JwToken %s' -H 'Content-Type: application/json' '%s'"):format(token(), URL),
      table.concat({ "GET /API/Core/v2.1/Client/?pageNumber=1&pageSize=5 HTTP/1.1", "Host: sandbox.coreplus.com.au",
        "Authorization: JwToken " .. token(), "Content-Type: application/json", "User-Agent: WordPress/6.4" }, "\r\n"),
      ("{'Authorization': 'JwToken %s', 'Content-Type': 'application/json', 'User-Agent': 'python-requests/2.31'}")
        :format(token()),
    },
  }

  for _, cause in ipairs(errors.causes) do
    it("names '" .. cause.id .. "' when only it is broken, in the shared words and hint", function()
      assert.truthy(broken[cause.id], "no broken request for " .. cause.id)
      for i, input in ipairs(broken[cause.id]) do
        local named, code, by = explain(input)
        assert.same({ cause.id }, named, cause.id .. " #" .. i .. ": " .. input)
        assert.equal(1, code)
        assert.matches(cause.name, by[cause.id].detail, 1, true)
        assert.equal(cause.hint, by[cause.id].cause)
      end
    end)
  end

  it("tells sandbox credentials on production from a profile that names them", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. H.q(dir .. "/coreplus"))
    H.write(dir .. "/coreplus/config", "[sandbox]\nbase_url = " .. SANDBOX .. "\nconsumer_id = cid-9\n"
      .. "consumer_secret = other\naccess_token = t\n", "600")
    local prod = "https://api.coreplus.com.au/API/Core/v2.1/Location/"
    local named, _, by = explain(curl("JwToken " .. token({ consumerId = "cid-9", url = prod }, "other"), nil, prod),
      { XDG_CONFIG_HOME = dir, COREPLUS_CONSUMER_SECRET = "other" })
    os.execute("rm -rf " .. H.q(dir))
    assert.same({ "environment" }, named)
    assert.matches("profile sandbox", by.environment.detail, 1, true)
  end)

  it("reads stdin with -, and says what it cannot check from a value alone", function()
    local e = {}
    for k, v in pairs(ENV) do e[k] = v end
    local out, err = {}, {}
    local code = require("coreplus.cli").main({ "explain", "--json", "--now", tostring(NOW), "-" }, {
      stdout = function(s) out[#out + 1] = s end, stderr = function(s) err[#err + 1] = s end,
      getenv = function(k) local v = e[k]; if v == false then return nil end; return v end,
      isatty = function() return false end, now = function() return NOW end,
      read_stdin = function() return "JwToken " .. token() .. "\n" end })
    assert.equal(0, code, table.concat(err))
    local by = {}
    for _, c in ipairs(cjson.decode(table.concat(out))) do by[c.check] = c end
    assert.equal("ok", by.header_format.status)
    assert.equal("ok", by.signature.status)
    assert.equal("skip", by.content_type.status)
    assert.equal("skip", by.url_claim.status)
  end)

  it("reads curl's quoting, line continuations, -X, --data, --json and combined flags", function()
    local r = text.parse("$ curl -sSX POST \\\n  --json '{\"a\": 1}' -H \"Authorization: JwToken a.b.c\" \\\n"
      .. "  --user-agent=my-app/2 \"https://x.test/API/Core/v2/Appointment/\"")
    assert.equal("curl", r.kind)
    assert.equal("POST", r.method)
    assert.equal("https://x.test/API/Core/v2/Appointment/", r.url)
    assert.equal("application/json", r.headers["content-type"])
    assert.equal("my-app/2", r.headers["user-agent"])
    assert.equal("JwToken a.b.c", r.authorization)
    assert.is_nil(text.words("curl 'open"))
  end)
end)
