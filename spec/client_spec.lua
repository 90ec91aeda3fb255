-- The Lua layer against the stub transport (no network): options, URL
-- building, every operation, paging, retries, clock learning, errors.
local coreplus = require "coreplus"
local S = dofile("spec/support/stub_client.lua")
local CREDS, new_stub, client = S.CREDS, S.new_stub, S.client

local function fixture(n)
  local rows = {}
  for i = 1, n do rows[i] = { clientId = ("c-%05d"):format(i), firstName = "F" .. i } end
  return rows
end

-- A paged list endpoint over rows, as coreplus pages.
local function paged(key, rows)
  return function(req)
    local size = tonumber(req.query.pageSize) or 50
    local number = tonumber(req.query.pageNumber) or 1
    local items = {}
    for i = (number - 1) * size + 1, math.min(number * size, #rows) do items[#items + 1] = rows[i] end
    return { body = { [key] = items, paging = { totalRows = #rows, pageNumber = number, pageSize = size },
      statusMessages = {} } }
  end
end

describe("coreplus.new", function()
  it("refuses unknown options by name", function()
    assert.has_error(function() client(new_stub(), { basee_url = "x" }) end,
      "coreplus.new: unknown option 'basee_url'")
  end)
  it("names a missing credential", function()
    assert.has_error(function()
      coreplus.new{ base_url = "https://x", consumer_id = "a", consumer_secret = "b" }
    end, "coreplus.new: option 'access_token' is required")
  end)
  it("refuses http:// unless allow_http", function()
    assert.error_matches(function() client(new_stub(), { base_url = "http://x" }) end, "base_url")
    assert.truthy(client(new_stub(), { base_url = "http://127.0.0.1:1", allow_http = true }))
  end)
  it("refuses wrongly typed options by name", function()
    assert.error_matches(function() client(new_stub(), { rate = "10" }) end, "option 'rate' must be a number")
    assert.error_matches(function() client(new_stub(), { timeout = -1 }) end, "option 'timeout'")
    assert.error_matches(function() client(new_stub(), { user_agent = "a\r\nX: y" }) end, "user_agent")
  end)
  -- Each of these was accepted and then failed later, far from its cause, or
  -- never (a NaN backoff, a base_url with a password shown in every error).
  local BAD = {
    { { backoff = 0 / 0 }, "option 'backoff'" }, { { backoff = -1 }, "option 'backoff'" },
    { { backoff_max = math.huge }, "option 'backoff_max'" }, { { retries = 1e300 }, "option 'retries'" },
    { { retries = 2.5 }, "option 'retries'" }, { { timeout = 1e7 }, "option 'timeout'" },
    { { per = 1e-9 }, "option 'per'" }, { { rate = 0 }, "option 'rate'" },
    { { issuer = "caf\xe9" }, "option 'issuer' is not valid UTF-8" },
    { { base_url = "https://user:pw@coreplus.test" }, "must not hold a user name or password" },
    { { base_url = "https://coreplus.test/#x" }, "option 'base_url' must not contain" },
    { { base_url = "https://coreplus.test/?a=1" }, "option 'base_url' must not contain" },
    { { base_url = "https://core plus.test" }, "option 'base_url' must not contain" },
    { { base_url = "https:///x" }, "option 'base_url' has no host" },
    { { limit_key = "practice" }, "option 'limit_key'" },
    { { backoff = 2, backoff_max = 1 }, "option 'backoff_max'" },
  }
  for _, case in ipairs(BAD) do
    local opts, message = case[1], case[2]
    local name = next(opts)
    it("refuses " .. name .. " = " .. tostring(opts[name]) .. " by name", function()
      local ok, err = pcall(client, new_stub(), opts)
      assert.is_false(ok)
      assert.matches(message, tostring(err), 1, true)
      assert.is_nil(tostring(err):find("pw@", 1, true))
    end)
  end
  it("accepts shared_limit = false (no sharing) and limit_key = consumer", function()
    assert.truthy(client(new_stub(), { shared_limit = false, limit_key = "consumer" }))
  end)
  it("never shows credentials in tostring", function()
    local text = tostring(client(new_stub()))
    assert.matches("coreplus.test/API/Core/v2.1/", text, 1, true)
    assert.is_nil(text:find(CREDS.consumer_secret, 1, true))
    assert.is_nil(text:find(CREDS.access_token, 1, true))
  end)
  it("keeps credentials out of the client's fields", function()
    local cp = client(new_stub{ consumer_secret = "s-not-in-client" }, { consumer_secret = "s-not-in-client" })
    local function scan(t, seen)
      seen = seen or {}
      if seen[t] then return end
      seen[t] = true
      for k, v in pairs(t) do
        assert.not_equal("s-not-in-client", v, "field " .. tostring(k))
        assert.not_equal(CREDS.access_token, v, "field " .. tostring(k))
        if type(v) == "table" and k ~= "transport" then scan(v, seen) end
      end
    end
    scan(cp)
  end)
end)

describe("coreplus.from_env", function()
  it("reads the COREPLUS_* variables", function()
    local env = { COREPLUS_BASE_URL = "https://sandbox.example", COREPLUS_CONSUMER_ID = "c",
      COREPLUS_CONSUMER_SECRET = "s", COREPLUS_ACCESS_TOKEN = "a", COREPLUS_VERSION = "v2" }
    local cp = coreplus.from_env({ transport = new_stub() }, function(k) return env[k] end)
    assert.equal("https://sandbox.example/API/Core/v2/", cp.base)
  end)
  it("names the missing variable", function()
    assert.error_matches(function()
      coreplus.from_env({ transport = new_stub() }, function() return nil end)
    end, "COREPLUS_")
  end)
end)

describe("URLs and parameters", function()
  local stub, cp
  before_each(function()
    stub = new_stub()
    stub:on("GET", "AvailabilitySlot/", { body = { timeslots = {}, paging = { totalRows = 0 } } })
    cp = client(stub)
  end)

  it("sorts keys, repeats list values, sends integers as integers, escapes per RFC 3986", function()
    assert.truthy(cp.availability_slots:list{ timezoneId = "tz 1/+", startDate = "2024-06-01",
      endDate = "2024-06-02", practitionerId = { "b", "a" }, pageSize = 2.0, pageNumber = 1 })
    assert.equal("https://coreplus.test/API/Core/v2.1/AvailabilitySlot/?endDate=2024-06-02"
      .. "&pageNumber=1&pageSize=2&practitionerId=b&practitionerId=a&startDate=2024-06-01"
      .. "&timezoneId=tz%201%2F%2B", stub.requests[1].url)
  end)

  it("signs exactly the URL it sends", function()
    cp.availability_slots:list{ timezoneId = "t", startDate = "a", endDate = "b" }
    assert.equal(stub.requests[1].url, stub.requests[1].claims.url)
    assert.equal("GET", stub.requests[1].claims.httpMethod)
  end)

  it("checks required parameters before any request", function()
    assert.error_matches(function() cp.availability_slots:list{ startDate = "a", endDate = "b" } end,
      "missing required parameter 'timezoneId'")
    assert.equal(0, #stub.requests)
  end)

  it("refuses pageSize above 100 before sending", function()
    assert.error_matches(function() cp.clients:list{ pageSize = 101 } end, "at most 100")
    assert.equal(0, #stub.requests)
  end)

  it("escapes ids so they cannot change the path", function()
    stub:on("GET", "Client/*", { body = { client = { clientId = "x" } } })
    cp.clients:get("a/../b?c#d e")
    assert.matches("/Client/a%2F..%2Fb%3Fc%23d%20e", stub.requests[1].url, 1, true)
    assert.error_matches(function() cp.clients:get("..") end, "'id'")
    assert.error_matches(function() cp.clients:get({}) end, "bad argument 'id'")
  end)

  it("raises for operations a resource does not have", function()
    assert.error_matches(function() cp.practitioners:get("x") end, "practitioners has no operation 'get'")
  end)
end)

describe("operations", function()
  local stub, cp
  before_each(function()
    stub = new_stub()
    cp = client(stub)
  end)

  it("get unwraps single-record envelopes", function()
    stub:on("GET", "Appointment/*", { body = { appointment = { appointmentId = "ap1" } } })
    assert.same({ appointmentId = "ap1" }, cp.appointments:get("ap1"))
  end)

  it("get returns unwrapped records as they are (invoices)", function()
    stub:on("GET", "Invoice/*", { body = { invoiceId = "i1", amountOwing = "50.0" } })
    assert.equal("i1", cp.invoices:get("i1").invoiceId)
  end)

  it("book posts the fields and checks required ones", function()
    stub:on("POST", "Appointment/", function(req) return { body = { appointment = { appointmentId = "new",
      startDateTime = req.body.startDateTime } } } end)
    assert.error_matches(function() cp.appointments:book{ startDateTime = "x" } end, "missing required field")
    local rec = assert(cp.appointments:book{ startDateTime = "2024-06-03T09:00:00+10:00",
      endDateTime = "2024-06-03T09:30:00+10:00", practitioner = { practitionerId = "p" },
      locationId = "l", clients = { { clientId = "c" } } })
    assert.equal("new", rec.appointmentId)
    assert.equal("POST", stub.requests[1].claims.httpMethod)
  end)

  it("update posts to Appointment/{id}/ and cancel posts deleted=true", function()
    stub:on("POST", "Appointment/*", { body = { appointment = { appointmentId = "a1", notes = "n" } } })
    stub:on("POST", "Appointment/", { body = { appointment = { appointmentId = "a1" } } })
    assert.equal("n", cp.appointments:update("a1", { notes = "n" }).notes)
    assert.truthy(cp.appointments:cancel("a1"))
    assert.matches("/Appointment/a1/$", stub.requests[1].url)
    assert.same({ appointmentId = "a1", deleted = true }, stub.requests[2].body)
  end)

  it("a 2xx with result[] severity 2 is a conflict", function()
    stub:on("POST", "Appointment/", { body = { result = { { severity = 2,
      reason = "The selected time is not available for booking an appointment" } } } })
    local rec, err = cp.appointments:book{
      startDateTime = "2030-01-01T09:00:00+10:00", endDateTime = "2030-01-01T09:30:00+10:00",
      practitioner = { practitionerId = "p" }, locationId = "l", clients = { { clientId = "c" } } }
    assert.is_nil(rec)
    assert.equal("conflict", err.kind)
    assert.matches("not available", tostring(err))
  end)

  it("cp:request is the escape hatch", function()
    stub:on("GET", "Referral/", { body = { referrals = { 1, 2 } } })
    local decoded, res = cp:request("GET", "Referral/", { query = { x = 1 } })
    assert.same({ 1, 2 }, decoded.referrals)
    assert.equal(200, res.status)
  end)

  it("refuses bodies that cannot be JSON, naming the argument", function()
    local cyclic = {}
    cyclic.self = cyclic
    assert.error_matches(function() cp:request("POST", "Client/", { body = cyclic }) end, "bad argument 'body'")
    assert.error_matches(function() cp:request("POST", "Client/", { body = 42 }) end, "bad argument 'body'")
  end)
end)

describe("paging", function()
  local stub, cp
  local rows = fixture(537)
  before_each(function()
    stub = new_stub()
    stub:on("GET", "Client/", paged("clients", rows))
    cp = client(stub)
  end)

  it("list returns one page with its paging", function()
    local page = assert(cp.clients:list{ pageSize = 10, pageNumber = 2 })
    assert.equal(10, #page.items)
    assert.equal(537, page.total)
    assert.equal(2, page.page)
    assert.equal("c-00011", page.items[1].clientId)
  end)

  it("each yields every row exactly once, in order", function()
    local seen, n = {}, 0
    for c in cp.clients:each{} do
      n = n + 1
      assert.is_nil(seen[c.clientId])
      seen[c.clientId] = true
      assert.equal(rows[n].clientId, c.clientId)
    end
    assert.equal(537, n)
    assert.equal(6, #stub.requests)   -- pages of 100
  end)

  it("keeps the caller's filters on every page", function()
    for _ in cp.clients:each{ name = "F" } do end
    for _, r in ipairs(stub.requests) do assert.equal("F", r.query.name) end
  end)

  it("stops requesting when the loop breaks", function()
    local n = 0
    for _ in cp.clients:each{} do
      n = n + 1
      if n == 3 then break end
    end
    assert.equal(1, #stub.requests)
  end)

  it("pages hands a failure to the loop as false, err", function()
    stub:on("GET", "Client/", function(req)
      if req.query.pageNumber == "3" then return { status = 500, body = "oops" } end
      return paged("clients", rows)(req)
    end)
    local got, failure = 0, nil
    for page, err in cp.clients:pages{} do
      if not page then failure = err break end
      got = got + 1
    end
    assert.equal(2, got)
    assert.equal("server", failure.kind)
  end)

  it("each raises the error object", function()
    stub:on("GET", "Client/", { status = 404, body = { result = { { severity = 2, reason = "gone" } } } })
    local ok, err = pcall(function() for _ in cp.clients:each{} do end end)
    assert.is_false(ok)
    assert.equal("not_found", err.kind)
  end)

  it("all collects every item", function()
    assert.equal(537, #assert(cp.clients:all{}))
  end)

  it("handles unpaged lists (payments)", function()
    stub:on("GET", "Payment/", { body = { invoiceId = "i", lineItems = { { lineItemId = "l1" } } } })
    local items = assert(cp.payments:all{ invoiceId = "i" })
    assert.equal(1, #items)
  end)
end)

describe("retries", function()
  local stub, cp
  before_each(function()
    stub = new_stub()
    cp = client(stub)
  end)

  it("retries 429 with backoff, honouring Retry-After, with a new token each time", function()
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      if n == 1 then return { status = 429, headers = { ["Retry-After"] = "2" } } end
      if n == 2 then return { status = 429 } end
      return { body = { locations = {} } }
    end)
    assert.truthy(cp.locations:list{})
    assert.equal(3, n)
    assert.equal(2, #stub.sleeps)
    assert.is_true(stub.sleeps[1] >= 2)
    assert.is_true(stub.sleeps[2] < 2)
  end)

  it("keeps trying a 429 until the call's timeout, then says rate_limited and what ran out", function()
    stub:on("GET", "Location/", { status = 429 })
    local page, err = cp.locations:list{}
    assert.is_nil(page)
    assert.equal("rate_limited", err.kind)
    assert.equal("timeout", err.gave_up)
    assert.matches("the call's timeout (45 s) ran out", err.message, 1, true)
    local slept = 0
    for _, s in ipairs(stub.sleeps) do slept = slept + s end
    assert.is_true(slept <= 45 and #stub.requests > 4, #stub.requests .. " requests, " .. slept .. " s")
  end)

  it("gives up on 503 after `retries`", function()
    stub:on("GET", "Location/", { status = 503 })
    local page, err = cp.locations:list{}
    assert.is_nil(page)
    assert.equal("server", err.kind)
    assert.equal(4, #stub.requests)
  end)

  it("retries a POST on 429 (provably not processed) but not on 503", function()
    local n = 0
    stub:on("POST", "Client/", function()
      n = n + 1
      return n == 1 and { status = 429 } or { status = 503 }
    end)
    local rec, err = cp.clients:create{ firstName = "a", lastName = "b", dateOfBirth = "2000-01-01" }
    assert.is_nil(rec)
    assert.equal("server", err.kind)
    assert.equal(2, n)
  end)

  it("never repeats a POST whose connection failed after sending", function()
    stub:on("POST", "Appointment/", { error = { kind = "network", message = "connection reset", sent = true } })
    local rec, err = cp.appointments:book{
      startDateTime = "2030-01-01T09:00:00+10:00", endDateTime = "2030-01-01T09:30:00+10:00",
      practitioner = { practitionerId = "p" }, locationId = "l", clients = { { clientId = "c" } } }
    assert.is_nil(rec)
    assert.equal(1, #stub.requests)
    assert.equal("unknown", err.outcome)
    assert.matches("list the appointments", tostring(err))
  end)

  it("repeats a POST that provably never left (connection refused)", function()
    local n = 0
    stub:on("POST", "Client/", function()
      n = n + 1
      if n == 1 then return { error = { kind = "network", message = "refused", sent = false } } end
      return { body = { client = { clientId = "x" } } }
    end)
    assert.truthy(cp.clients:create{ firstName = "a", lastName = "b", dateOfBirth = "2000-01-01" })
    assert.equal(2, n)
  end)

  it("retries a GET after a network error", function()
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      if n == 1 then return { error = { kind = "timeout", message = "slow", sent = true } } end
      return { body = { locations = {} } }
    end)
    assert.truthy(cp.locations:list{})
  end)
end)

describe("the server's clock", function()
  for _, skew in ipairs({ -120, 120, 3600 }) do
    it(("works when the server is %d s off"):format(skew), function()
      local stub = new_stub{ skew = skew }
      stub:on("GET", "Location/", { body = { locations = {} } })
      local cp = client(stub)
      assert.truthy(cp.locations:list{})
      assert.truthy(cp.locations:list{})
      assert.is_true(math.abs(cp.clock_offset - skew) <= 2)
      local last = stub.requests[#stub.requests]
      assert.equal(200, last.status)
    end)
  end
end)

describe("errors", function()
  local stub, cp
  before_each(function()
    stub = new_stub()
    cp = client(stub)
  end)

  it("a permission 401 is forbidden and names VIEW_CLIENTLIST and the re-enable step", function()
    stub:on("GET", "Client/", { status = 401, body = { result = { { severity = 2,
      reason = "Not authorized for viewing client list" } } } })
    local page, err = cp.clients:list{}
    assert.is_nil(page)
    assert.equal("forbidden", err.kind)
    assert.equal(401, err.status)
    assert.matches("VIEW_CLIENTLIST", err.hint)
    assert.matches("disable and re%-enable", err.hint)
  end)

  it("a wrong secret is invalid_token with the documented causes and the clock offset", function()
    local cp2 = client(stub, { consumer_secret = "Xq7-not-the-secret" })
    stub:on("GET", "Client/", { body = {} })
    local page, err = cp2.clients:list{}
    assert.is_nil(page)
    assert.equal("invalid_token", err.kind)
    for _, cause in ipairs({ "UTC", "JwToken", "Content%-Type", "sandbox", "clock offset" }) do
      assert.matches(cause, err.hint)
    end
    local line = tostring(err)
    assert.is_nil(line:find("\n"))
    assert.is_nil(line:find("Xq7-not-the-secret", 1, true))
  end)

  it("a non-JSON 200 is bad_response", function()
    stub:on("GET", "Client/", { body = "<html>oops</html>" })
    local _, err = cp.clients:list{}
    assert.equal("bad_response", err.kind)
  end)

  it("reports each attempt to on_request without tokens", function()
    local seen = {}
    local cp2 = client(stub, { on_request = function(info) seen[#seen + 1] = info end })
    stub:on("GET", "Location/", { body = { locations = {} } })
    cp2.locations:list{}
    assert.equal(1, #seen)
    assert.equal("GET", seen[1].method)
    assert.equal(200, seen[1].status)
    assert.equal(1, seen[1].attempt)
    assert.is_number(seen[1].elapsed)
    for _, v in pairs(seen[1]) do
      assert.is_nil(tostring(v):find("eyJ", 1, true))
    end
  end)
end)
