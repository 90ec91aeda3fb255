-- Secrets never leave: everything the clients of this spec log, raise and
-- return over many failure paths -- error objects (tostring and every field,
-- reasons and hints included), on_request records, raised messages, what the
-- library writes to stderr, tostring of clients and resources, every string
-- reachable from a client table, limiter stats -- is collected, and none of
-- it holds a consumer secret, an access token or a JWT ("eyJ...").
-- First against the stub transport (no network), then against the mock
-- server on 127.0.0.1 with real HTTP, TLS and signing.
local coreplus = require "coreplus"
local core = require "coreplus.core"
local stub_mod = require "coreplus.testing.stub"
local testing = require "coreplus.testing"

local SECRET = "s3cret-Consumer-Secret-7f1e2d3c4b5a69788796a5b4c3d2e1f0"
local TOKEN = "access-TOKEN-0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"
local OTHER_SECRET = "s3cret-the-WRONG-one-0123456789abcdef0123456789"

-- ----- collecting -----

local seen = {}

local function collect(label, s)
  seen[#seen + 1] = { label, tostring(s) }
end

-- Every string (key or value) reachable from v through tables, to `depth`.
local function walk(label, v, visited, depth, skip)
  visited = visited or {}
  depth = depth or 0
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" then
    collect(label, v)
  elseif t == "table" and not visited[v] and depth < 12 then
    visited[v] = true
    local ok, s = pcall(tostring, v)
    if ok then collect(label, s) end
    for k, x in pairs(v) do
      if not (skip and skip[k]) then
        walk(label .. "." .. tostring(k), k, visited, depth + 1, skip)
        walk(label .. "." .. tostring(k), x, visited, depth + 1, skip)
      end
    end
  elseif t == "userdata" then
    collect(label, tostring(v))
  end
end

local function outcome(label, ok, a, b)
  if not ok then
    collect(label .. " raised", a)
  else
    walk(label .. " result", a)
    walk(label .. " err", b)
  end
end

-- Calls f(...) protected and collects whatever comes out.
local function run(label, f, ...)
  outcome(label, pcall(f, ...))
end

-- The library reports a failing on_request hook on io.stderr; capture it.
local function capturing_stderr(f)
  local real = io.stderr
  local buf = {}
  io.stderr = { write = function(self, ...)  -- luacheck: ignore 122
    for _, x in ipairs{ ... } do buf[#buf + 1] = tostring(x) end
    return self
  end }
  local ok, err = pcall(f)
  io.stderr = real  -- luacheck: ignore 122
  collect("stderr", table.concat(buf))
  assert(ok, err)
end

-- Each `it` collects and checks its own strings (a check in a later `it`
-- would depend on the order busted runs them in, and --shuffle changes it).
local function assert_clean(secrets, at_least)
  assert.is_true(#seen >= at_least, "collected only " .. #seen .. " strings")
  for _, item in ipairs(seen) do
    local label, text = item[1], item[2]
    for _, s in ipairs(secrets) do
      assert.is_nil(text:find(s, 1, true), label .. " exposes a secret: " .. text:sub(1, 300))
    end
    assert.is_nil(text:find("eyJ", 1, true), label .. " exposes a JWT: " .. text:sub(1, 300))
  end
end

-- ----- the stub -----

local function reason(status, text, extra)
  local r = { status = status, body = { result = { { severity = 2, reason = text } } } }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

describe("no secret or token in anything a client shows (stub)", function()
  before_each(function() seen = {} end)
  local function check(at_least) assert_clean({ SECRET, TOKEN, OTHER_SECRET }, at_least) end

  local function stub(secret)
    local s = stub_mod.new{ consumer_secret = secret or SECRET, access_token = TOKEN }
    s:on("GET", "E401", reason(401, "Invalid token"))
    s:on("GET", "E401p", reason(401, "Not authorized for viewing clients"))
    s:on("GET", "E403", reason(403, "Forbidden"))
    s:on("GET", "E404", reason(404, "Not found"))
    s:on("GET", "E409", reason(409, "Already booked"))
    s:on("GET", "E422", reason(422, "Invalid field startDateTime"))
    s:on("GET", "E429", reason(429, "Too many requests", { headers = { ["Retry-After"] = "0" } }))
    s:on("GET", "E500", reason(500, "An error has occurred."))
    s:on("GET", "E503", reason(503, "Service Unavailable", { headers = { ["Retry-After"] = "0" } }))
    s:on("GET", "Html", { status = 200, body = "<html><body>Sign in</body></html>" })
    s:on("GET", "Html502", { status = 502, body = "<html><body>Bad gateway</body></html>" })
    s:on("GET", "Trunc", { status = 200, body = '{"clients":[{"clientId":"a' })
    s:on("GET", "Array", { status = 200, body = "[1,2,3]" })
    s:on("GET", "Scalar", { status = 200, body = "42" })
    s:on("GET", "Redirect", { status = 302, headers = { Location = "https://elsewhere.example/" }, body = "" })
    s:on("GET", "Severity", { status = 200, body = { result = { { severity = 3, reason = "Something failed" } } } })
    for _, kind in ipairs{ "network", "timeout", "tls", "too_large", "weird" } do
      s:on("GET", "T" .. kind, { error = { kind = kind, message = "transport says " .. kind, sent = true } })
      s:on("POST", "T" .. kind, { error = { kind = kind, message = "transport says " .. kind, sent = true } })
    end
    s:on("GET", "Client/", reason(401, "Invalid token"))
    s:on("GET", "Client/*", reason(404, "Client not found"))
    s:on("POST", "Appointment/", { status = 200, body = { result = { { severity = 2,
      reason = "The selected time is not available for booking an appointment" } } } })
    return s
  end

  local function client(over)
    local o = { base_url = "https://coreplus.example", consumer_id = "consumer-1",
      consumer_secret = SECRET, access_token = TOKEN, transport = stub(), retries = 1,
      on_request = function(info) walk("on_request", info) end }
    for k, v in pairs(over or {}) do o[k] = v end
    return coreplus.new(o)
  end

  it("shows no secret in errors of every HTTP failure path through cp:request", function()
    local cp = client()
    for _, p in ipairs{ "E401", "E401p", "E403", "E404", "E409", "E422", "E429", "E500", "E503", "Html",
      "Html502", "Trunc", "Array", "Scalar", "Redirect", "Severity", "Nowhere" } do
      run("GET " .. p, cp.request, cp, "GET", p)
    end
    check(5000)
  end)

  it("shows no secret in errors of transport failures, for GET and for POST (outcome unknown)", function()
    local cp = client()
    for _, kind in ipairs{ "network", "timeout", "tls", "too_large", "weird" } do
      run("GET T" .. kind, cp.request, cp, "GET", "T" .. kind)
      run("POST T" .. kind, cp.request, cp, "POST", "T" .. kind, { body = { a = 1 } })
    end
    check(150)
  end)

  it("shows no secret in errors through the resources and iterators", function()
    local cp = client()
    run("clients:list", cp.clients.list, cp.clients, {})
    run("clients:all", cp.clients.all, cp.clients, {})
    run("clients:get", cp.clients.get, cp.clients, "x/y")
    run("clients:each", function() for _ in cp.clients:each{} do end end)
    run("clients:pages", function() for _, err in cp.clients:pages{} do walk("pages err", err) end end)
    run("appointments:book", cp.appointments.book, cp.appointments, {
      startDateTime = "2030-01-01T09:00:00+10:00", endDateTime = "2030-01-01T09:30:00+10:00",
      practitioner = { practitionerId = "p" }, locationId = "l", clients = { { clientId = "c" } } })
    check(80)
  end)

  it("shows no secret in the refusal of a client signing with the wrong secret", function()
    local cp = client{ consumer_secret = OTHER_SECRET, transport = stub(SECRET) }
    run("wrong secret", cp.request, cp, "GET", "Severity")
    check(15)
  end)

  it("shows no secret in argument errors raised by coreplus.new and the resources", function()
    local base = { base_url = "https://coreplus.example", consumer_id = "c", consumer_secret = SECRET,
      access_token = TOKEN, transport = stub() }
    local function with(k, v)
      local o = {}
      for a, b in pairs(base) do o[a] = b end
      o[k] = v
      return o
    end
    run("new bad secret type", coreplus.new, with("consumer_secret", { SECRET }))
    run("new CRLF secret", coreplus.new, with("consumer_secret", SECRET .. "\r\n"))
    run("new CRLF token", coreplus.new, with("access_token", TOKEN .. "\n"))
    run("new unknown option", coreplus.new, with("secret", SECRET))
    run("new http", coreplus.new, with("base_url", "http://coreplus.example"))
    local cp = coreplus.new(base)
    run("get bad id", cp.clients.get, cp.clients, "..")
    run("bad body", cp.request, cp, "POST", "Appointment/", { body = { f = print } })
    check(5)
  end)

  it("shows no secret in what a failing on_request hook writes to stderr", function()
    capturing_stderr(function()
      local cp = client{ on_request = function(info) error("hook failed for " .. tostring(info.url)) end }
      run("hook", cp.request, cp, "GET", "E500")
    end)
    check(5)
  end)

  it("shows no secret in tostring of clients and resources, strings reachable from a client, limiter stats", function()
    local cp = client()
    collect("tostring(client)", tostring(cp))
    collect("tostring(resource)", tostring(cp.clients))
    -- The stub transport keeps its own test records (the claims it checked);
    -- they belong to the stub, not to the client.
    walk("client", cp, nil, 0, { transport = true })
    -- (its warning, no issuer, is collected too)
    local real = coreplus.new{ base_url = "https://coreplus.example", consumer_id = "c",
      consumer_secret = SECRET, access_token = TOKEN, log = function(message) collect("log", message) end }
    collect("tostring(real client)", tostring(real))
    walk("real client", real)
    if real.limiter and real.limiter.stats then walk("limiter stats", real.limiter:stats()) end
    check(70)
  end)

  it("shows no secret in core.request's own errors (a refused connection, signed)", function()
    run("core.request", core.request, { method = "POST", url = "http://127.0.0.1:9/x", body = "{}",
      connect_timeout = 1, credentials = { consumer_id = "c", consumer_secret = SECRET, access_token = TOKEN } })
    run("core.request CRLF", core.request, { method = "GET", url = "http://127.0.0.1:9/x",
      credentials = { consumer_id = "c", consumer_secret = SECRET .. "\n", access_token = TOKEN } })
    run("core.request many", core.request_many, { { method = "GET", url = "http://127.0.0.1:9/x",
      connect_timeout = 1, credentials = { consumer_id = "c", consumer_secret = SECRET, access_token = TOKEN } } })
    check(20)
  end)

end)

-- ----- the mock -----

describe("no secret or token in anything a client shows (mock server)", function()
  local mock

  setup(function()
    mock = testing.server{ tls = true, month = "2025-09", clients = 30, seed = 9 }
  end)
  teardown(function() if mock then mock:stop() end end)
  before_each(function() seen = {}; mock:clear_faults() end)
  local function check(at_least)
    assert_clean({ mock.consumer_secret, mock.access_token, mock.restricted_access_token, OTHER_SECRET }, at_least)
  end

  local function client(over)
    local o = { retries = 1, timeout = 3, connect_timeout = 2, backoff = 0.01, backoff_max = 0.05,
      on_request = function(info) walk("on_request", info) end }
    for k, v in pairs(over or {}) do o[k] = v end
    return mock:client(o)
  end

  it("shows no secret in successes and failures over real HTTPS", function()
    local cp = client()
    run("list ok", cp.clients.list, cp.clients, { pageSize = 5 })
    run("get missing", cp.clients.get, cp.clients, "no-such-client")
    local restricted = client{ access_token = mock.restricted_access_token }
    run("restricted", restricted.clients.list, restricted.clients, {})
    local wrong = client{ consumer_secret = OTHER_SECRET }
    run("wrong secret", wrong.clients.list, wrong.clients, {})
    -- (its warnings, no user agent and no issuer, are collected too)
    local untrusted = coreplus.new{ base_url = mock.base_url, consumer_id = mock.consumer_id,
      consumer_secret = mock.consumer_secret, access_token = mock.access_token,
      log = function(message) collect("log", message) end }
    run("unknown CA", untrusted.clients.list, untrusted.clients, {})
    collect("tostring(mock client)", tostring(cp))
    walk("mock client", cp)
    check(200)
  end)

  for _, f in ipairs{ { fault = "500" }, { fault = "html_200" }, { fault = "html_502" },
    { fault = "malformed_json" }, { fault = "truncated" }, { fault = "reset" }, { fault = "reset_mid_body" },
    { fault = "redirect" }, { fault = "429", retry_after = 0 }, { fault = "503", retry_after = 0 },
    { fault = "slow_body", delay = 3 }, { fault = "big_body", size_mb = 2 } } do
    it("shows no secret in the error of fault " .. f.fault, function()
      mock:fault(f)
      local cp = client{ timeout = 1, max_body = 1024 * 1024 }
      run("fault " .. f.fault, cp.clients.list, cp.clients, { pageSize = 5 })
      run("fault " .. f.fault .. " POST", cp.request, cp, "POST", "Client/", { body = { firstName = "A" } })
      check(30)
    end)
  end

end)
