-- The request engine in the field (stub transport, no network): 429 is a
-- refusal retried patiently, `timeout` bounds the whole call, an unknown
-- outcome is never repeated, and a bad Date header never poisons signing.
local coreplus = require "coreplus"
local stub_mod = require "coreplus.testing.stub"

local CREDS = { consumer_id = "cid-1", consumer_secret = "secret-1", access_token = "tok-1" }

local function setup(extra)
  local stub = stub_mod.new(CREDS)
  local o = { base_url = "https://coreplus.test", transport = stub, log = function() end }
  for k, v in pairs(CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return stub, coreplus.new(o)
end

local function total(list)
  local t = 0
  for _, v in ipairs(list) do t = t + v end
  return t
end

local BOOKING = { startDateTime = "2030-01-01T09:00:00+10:00", endDateTime = "2030-01-01T09:30:00+10:00",
  practitioner = { practitionerId = "p" }, locationId = "l", clients = { { clientId = "c" } } }

describe("engine: 429 is a refusal", function()
  it("waits at least one whole window (per) before each retry without Retry-After", function()
    local stub, cp = setup{ per = 1.0, random = function() return 0 end }
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      return n <= 3 and { status = 429 } or { body = { locations = {} } }
    end)
    assert.truthy(cp.locations:list{})
    assert.equal(3, #stub.sleeps)
    for _, s in ipairs(stub.sleeps) do assert.is_true(s >= 1.0, "slept " .. s) end
  end)

  it("jitters the wait into the upper half: two clients refused together do not return together", function()
    local stub, cp = setup{ per = 1.0, random = function() return 0.999 end }
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      return n == 1 and { status = 429 } or { body = { locations = {} } }
    end)
    assert.truthy(cp.locations:list{})
    assert.is_true(stub.sleeps[1] > 1.9 and stub.sleeps[1] <= 2.0, tostring(stub.sleeps[1]))
  end)

  it("retries a POST on 429 too: nothing was processed", function()
    local stub, cp = setup()
    local n = 0
    stub:on("POST", "Appointment/", function()
      n = n + 1
      return n < 3 and { status = 429 } or { body = { appointment = { appointmentId = "a1" } } }
    end)
    local rec = assert(cp.appointments:book(BOOKING))
    assert.equal("a1", rec.appointmentId)
    assert.equal(3, n)
  end)

  it("treats a negative, absurd or unreadable Retry-After as absent", function()
    for _, ra in ipairs{ "-5", "99999999999", "soon" } do
      local stub, cp = setup{ random = function() return 0 end }
      local n = 0
      stub:on("GET", "Location/", function()
        n = n + 1
        return n == 1 and { status = 429, headers = { ["Retry-After"] = ra } } or { body = { locations = {} } }
      end)
      assert.truthy(cp.locations:list{})
      assert.is_true(stub.sleeps[1] >= 1 and stub.sleeps[1] <= 2, ra .. ": slept " .. stub.sleeps[1])
    end
  end)

  it("honours a Retry-After given as an HTTP date", function()
    local stub, cp = setup{ random = function() return 0 end }
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      if n > 1 then return { body = { locations = {} } } end
      local t = math.floor(os.time())
      local fmt = "!%a, %d %b %Y %H:%M:%S GMT"
      return { status = 429, headers = { Date = os.date(fmt, t), ["Retry-After"] = os.date(fmt, t + 7) } }
    end)
    assert.truthy(cp.locations:list{})
    assert.is_true(stub.sleeps[1] >= 7 and stub.sleeps[1] < 7.2, tostring(stub.sleeps[1]))
  end)
end)

describe("engine: timeout bounds the whole call", function()
  it("gives up at once when Retry-After asks for more than the call has left, saying so", function()
    local stub, cp = setup{ timeout = 2 }
    stub:on("GET", "Location/", { status = 429, headers = { ["Retry-After"] = "100" } })
    local page, err = cp.locations:list{}
    assert.is_nil(page)
    assert.equal("rate_limited", err.kind)
    assert.equal("retry_after", err.gave_up)
    assert.equal(0, #stub.sleeps)
    assert.matches("asked to wait 100 s", tostring(err), 1, true)
  end)

  it("never waits past the timeout: retries, waits and attempts together", function()
    local stub, cp = setup{ timeout = 2 }
    stub:on("GET", "Location/", { status = 429, headers = { ["Retry-After"] = "99999999999" } })
    local page, err = cp.locations:list{}
    assert.is_nil(page)
    assert.is_true(total(stub.sleeps) <= 2, "slept " .. total(stub.sleeps))
    assert.matches("timeout (2 s) ran out", err.message, 1, true)
  end)

  it("gives each attempt only what is left of the call", function()
    local stub = stub_mod.new(CREDS)
    local seen = {}
    stub:on("GET", "Location/", function(req)
      seen[#seen + 1] = req
      return #seen < 3 and { status = 429 } or { body = { locations = {} } }
    end)
    local timeouts = {}
    local request = stub.request
    stub.request = function(opts) timeouts[#timeouts + 1] = opts.timeout; return request(opts) end
    local cp = coreplus.new{ base_url = "https://coreplus.test", transport = stub, timeout = 10,
      random = function() return 0 end, consumer_id = CREDS.consumer_id,
      consumer_secret = CREDS.consumer_secret, access_token = CREDS.access_token }
    assert.truthy(cp.locations:list{})
    assert.equal(3, #timeouts)
    assert.is_true(timeouts[1] <= 10 and timeouts[2] < timeouts[1] and timeouts[3] < timeouts[2])
  end)
end)

describe("engine: unknown outcomes", function()
  local cases = {
    { "a truncated 200 body", { status = 200, body = '{"appointment":{"appointmentId":"a' } },
    { "a 502 from a gateway", { status = 502, body = "<html>Bad Gateway</html>" } },
    { "a 504 from a gateway", { status = 504 } },
    { "a 500", { status = 500, body = "{}" } },
    { "a reset after sending", { error = { kind = "network", message = "reset", sent = true } } },
  }
  for _, c in ipairs(cases) do
    it("after a booking, " .. c[1] .. ": outcome unknown, sent once, hint to look first", function()
      local stub, cp = setup()
      stub:on("POST", "Appointment/", c[2])
      local rec, err = cp.appointments:book(BOOKING)
      assert.is_nil(rec)
      assert.equal(1, #stub.requests)
      assert.equal("unknown", err.outcome)
      assert.matches("check whether it took effect", err.hint, 1, true)
    end)
  end

  it("a 503 after a booking is a refusal, not an unknown outcome", function()
    local stub, cp = setup()
    stub:on("POST", "Appointment/", { status = 503 })
    local _, err = cp.appointments:book(BOOKING)
    assert.is_nil(err.outcome)
    assert.equal(1, #stub.requests)
  end)

  it("a GET with a malformed body is a bad_response without an unknown outcome (a GET changes nothing)", function()
    local stub, cp = setup()
    stub:on("GET", "Location/", { status = 200, body = "{not json" })
    local _, err = cp.locations:list{}
    assert.equal("bad_response", err.kind)
    assert.is_nil(err.outcome)
  end)
end)

describe("engine: the server's clock", function()
  for _, date in ipairs{ "Mon, 01 Dec 2126 10:00:00 GMT", "Tue, 99 Dec 2026 10:00:00 GMT", "yesterday" } do
    it("ignores the Date header " .. date .. " and keeps signing with a sane clock", function()
      local stub = stub_mod.new(CREDS)
      local warned = {}
      local cp = coreplus.new{ base_url = "https://coreplus.test", transport = stub, user_agent = "spec/1",
        log = function(m) warned[#warned + 1] = m end, consumer_id = CREDS.consumer_id,
        consumer_secret = CREDS.consumer_secret, access_token = CREDS.access_token }
      stub:on("GET", "Location/", { body = { locations = {} }, headers = { Date = date } })
      assert.truthy(cp.locations:list{})
      assert.truthy(cp.locations:list{})          -- the next call is still signed and sent
      assert.is_nil(cp.clock_offset)
      assert.equal(1, #warned)                    -- said once
      assert.matches("ignored a Date header", warned[1], 1, true)
    end)
  end
end)

describe("engine: pages fetched ahead", function()
  it("waits out a burst of 429s side by side, not one after another, and keeps the pages in order", function()
    -- a frozen clock that moves only with the client's sleeps
    local stub = stub_mod.new{ consumer_id = CREDS.consumer_id, consumer_secret = CREDS.consumer_secret,
      access_token = CREDS.access_token, now = 1.7e9 }
    local o = { base_url = "https://coreplus.test", transport = stub, log = function() end, per = 1.0,
      random = function() return 0.5 end, concurrency = 4 }
    for k, v in pairs(CREDS) do o[k] = v end
    local cp = coreplus.new(o)
    local n = 0
    stub:on("GET", "Client/", function(req)
      n = n + 1
      -- the first page tells the total; the three fetched ahead are refused once each
      if n >= 2 and n <= 4 then return { status = 429 } end
      local p = tonumber(req.query.pageNumber)
      return { body = { clients = { { clientId = "c" .. p } }, paging = { totalRows = 4 } } }
    end)
    local got = {}
    for c in cp.clients:each{ pageSize = 1 } do got[#got + 1] = c.clientId end
    assert.same({ "c1", "c2", "c3", "c4" }, got)
    -- one wait of 1.5 s (per 1 s, the upper half of 2 s at random 0.5), not three
    assert.equal(1.5, total(stub.sleeps))
  end)
end)
