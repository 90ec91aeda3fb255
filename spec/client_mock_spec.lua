-- The Lua layer against the mock coreplus server: every resource and
-- operation over real HTTPS, the limit, the clock, permissions.
local testing = require "coreplus.testing"
local core = require "coreplus.core"
local dates = require "coreplus.dates"

local function days_from_now(n)
  return dates.date(os.time() + n * 86400)
end

describe("client against the mock", function()
  local mock, cp
  local tz, location, practitioners

  setup(function()
    mock = testing.server{ tls = true, clients = 537, seed = 1 }
    cp = mock:client{}
    local locs = assert(cp.locations:all{})
    location = locs[1]
    tz = location.timeZone.timezoneId
    practitioners = assert(cp.practitioners:all{})
  end)
  teardown(function() if mock then mock:stop() end end)
  before_each(function() mock:reset() end)

  it("each over 537 clients yields each fixture client exactly once", function()
    local seen, n = {}, 0
    for c in cp.clients:each{} do
      assert.is_nil(seen[c.clientId])
      seen[c.clientId] = true
      n = n + 1
    end
    assert.equal(537, n)
    assert.equal(6, mock:stats().by_path["/API/Core/v2.1/Client/"])
  end)

  it("breaking out of each after 3 items stops requests", function()
    local n = 0
    for _ in cp.clients:each{ pageSize = 10 } do
      n = n + 1
      if n == 3 then break end
    end
    core.sleep(0.2)
    assert.equal(1, mock:stats().requests)
  end)

  it("lists reference data", function()
    assert.is_true(#practitioners >= 1)
    assert.is_string(location.locationId)
    assert.truthy(cp.appointment_types:all{})
    assert.truthy(cp.invoices:list{ pageSize = 5 })
  end)

  it("gets a client by id, unwrapped", function()
    local first = assert(cp.clients:list{ pageSize = 1 }).items[1]
    local c = assert(cp.clients:get(first.clientId))
    assert.equal(first.clientId, c.clientId)
    local none, err = cp.clients:get("00000000-0000-0000-0000-000000000000")
    assert.is_nil(none)
    assert.equal("not_found", err.kind)
  end)

  it("lists appointments and availability for a date range with repeated practitionerId", function()
    local ids = { practitioners[1].practitionerId, practitioners[2].practitionerId }
    local slots = assert(cp.availability_slots:all{ startDate = days_from_now(1), endDate = days_from_now(7),
      timezoneId = tz, practitionerId = ids })
    assert.is_true(#slots > 0)
    for _, s in ipairs(slots) do
      assert.is_true(s.practitionerId == ids[1] or s.practitionerId == ids[2])
      assert.truthy(dates.parse(s.startDateTime))
    end
    local appts = assert(cp.appointments:all{ startDate = days_from_now(-30), endDate = days_from_now(30),
      timezoneId = tz })
    assert.is_table(appts)
  end)

  it("books, gets, updates and cancels; a clash is a conflict", function()
    local slots = assert(cp.availability_slots:list{ startDate = days_from_now(2), endDate = days_from_now(9),
      timezoneId = tz, practitionerId = practitioners[1].practitionerId })
    local slot = assert(slots.items[1], "a free slot")
    local client = assert(cp.clients:list{ pageSize = 1 }).items[1]
    local booking = {
      startDateTime = slot.startDateTime, endDateTime = slot.endDateTime,
      practitioner = { practitionerId = slot.practitionerId }, locationId = slot.locationId,
      clients = { { clientId = client.clientId } }, notes = "first",
    }
    local appt = assert(cp.appointments:book(booking))
    assert.is_string(appt.appointmentId)

    local again, err = cp.appointments:book(booking)
    assert.is_nil(again)
    assert.equal("conflict", err.kind)
    assert.matches("not available", tostring(err))

    local got = assert(cp.appointments:get(appt.appointmentId))
    assert.equal(appt.appointmentId, got.appointmentId)
    local updated = assert(cp.appointments:update(appt.appointmentId, { notes = "second" }))
    assert.equal("second", updated.notes)
    assert.truthy(cp.appointments:cancel(appt.appointmentId))
    -- the slot is free again
    assert.truthy(cp.appointments:book(booking))
  end)

  it("the permission token gets forbidden with the hint", function()
    local restricted = mock:client{ access_token = mock.restricted_access_token }
    local page, err = restricted.clients:list{}
    assert.is_nil(page)
    assert.equal("forbidden", err.kind)
    assert.matches("VIEW_CLIENTLIST", err.hint)
    assert.matches("re%-enable", err.hint)
  end)

  it("a wrong secret gets invalid_token", function()
    local bad = mock:client{ consumer_secret = "zzz-wrong-secret-zzz" }
    local page, err = bad.locations:list{}
    assert.is_nil(page)
    assert.equal("invalid_token", err.kind)
    assert.is_nil(tostring(err):find("zzz-wrong-secret-zzz", 1, true))
  end)

  it("a burst of 60 calls from one client gives zero 429s", function()
    local fresh = mock:client{}
    for _ = 1, 60 do assert(fresh.locations:list{}) end
    local s = mock:stats()
    assert.equal(0, s.rate_limited)
    assert.is_true(s.max_in_window <= 10)
    assert.equal(60, s.requests)
  end)

  it("two clients with different access tokens in one process each get their own limit", function()
    local a = mock:client{}
    local b = mock:client{ access_token = mock.restricted_access_token }
    -- a window's counters are those of every limiter sharing it: one shared
    -- limit would show 40 grants in each (and take twice as long)
    local a0, b0 = a.limiter:stats().granted, b.limiter:stats().granted
    for _ = 1, 20 do
      assert(a.locations:list{})
      assert(b.locations:list{})
    end
    local s = mock:stats()
    assert.equal(0, s.rate_limited)
    assert.equal(20, a.limiter:stats().granted - a0)
    assert.equal(20, b.limiter:stats().granted - b0)
    assert.are_not.equal(a.limiter:stats().key, b.limiter:stats().key)
  end)
end)

describe("client against a mock with a skewed clock", function()
  for _, skew in ipairs({ -120, 120 }) do
    it(("every call succeeds with the server %d s off"):format(skew), function()
      local mock = testing.server{ tls = true, skew = skew, clients = 20 }
      finally(function() mock:stop() end)
      local cp = mock:client{}
      for _ = 1, 3 do assert(cp.locations:list{}) end
      assert(cp.clients:all{})
      assert.is_true(math.abs(cp.clock_offset - skew) <= 3)
      local s = mock:stats()
      assert.is_true(s.auth_failures <= 1)
    end)
  end
end)
