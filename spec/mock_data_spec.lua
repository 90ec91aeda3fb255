-- Fixtures, envelopes, paging and parameter checks (the developer docs' conventions and endpoints).
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local RESPONSE_TIME = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d [+-]%d%d:%d%d$"

describe("mock server data", function()
  local mock, month_start, month_end
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, month = "2025-09" }
    month_start, month_end = "2025-09-01", "2025-09-30"
  end)
  lazy_teardown(function() mock:stop() end)

  local function window(path, extra)
    return path .. "?startDate=" .. month_start .. "&endDate=" .. month_end .. "&timezoneId=" .. H.MELBOURNE ..
      (extra or "")
  end

  it("pages all 537 clients once each in pages of 100", function()
    local seen, n, pages = {}, 0, 0
    for page = 1, 6 do
      local res = H.get(mock, "Client/?pageNumber=" .. page .. "&pageSize=100")
      assert.are.equal(200, res.status)
      pages = pages + 1
      assert.are.same({ totalRows = 537, pageNumber = page, pageSize = 100 }, res.json.paging)
      assert.are.same({}, res.json.statusMessages)
      for _, c in ipairs(res.json.clients) do
        assert.is_nil(seen[c.clientId])
        seen[c.clientId] = true
        n = n + 1
      end
    end
    assert.are.equal(537, n)
    assert.are.equal(37, #H.get(mock, "Client/?pageNumber=6&pageSize=100").json.clients)
    assert.are.equal(0, #H.get(mock, "Client/?pageNumber=7&pageSize=100").json.clients)
  end)

  it("keeps the documented key order in paging and an empty statusMessages array", function()
    local body = H.get(mock, "Location/").body
    assert.truthy(body:find('"paging":{"totalRows":3,"pageNumber":1,"pageSize":50},"statusMessages":[]', 1, true))
  end)

  it("defaults to page 1 of 50 and refuses pageSize above 100 with a result body", function()
    local res = H.get(mock, "Client/")
    assert.are.equal(50, #res.json.clients)
    res = H.get(mock, "Client/?pageSize=101")
    assert.are.equal(400, res.status)
    assert.truthy(H.reason(res):find("pageSize", 1, true))
    assert.are.equal(400, H.get(mock, "Client/?pageNumber=0").status)
  end)

  it("returns a client by id, wrapped, and 404 with a result body for an unknown id", function()
    local first = H.get(mock, "Client/?pageSize=1").json.clients[1]
    local res = H.get(mock, "Client/" .. first.clientId)
    assert.are.equal(200, res.status)
    assert.are.equal(first.clientId, res.json.client.clientId)
    assert.truthy(res.json.client.dateOfBirth:match("^%d%d%d%d%-%d%d%-%d%dT00:00:00$"))
    res = H.get(mock, "Client/00000000-0000-4000-8000-000000000001")
    assert.are.equal(404, res.status)
    assert.truthy(H.reason(res))
  end)

  it("shows a client with the docs' fields, relatedClients an empty array, nothing invented", function()
    local res = H.get(mock, "Client/?pageSize=1")
    local keys = {}
    for k in pairs(res.json.clients[1]) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "clientId", "culture", "dateOfBirth", "firstName", "gender", "lastName", "middleName",
      "practitionerId", "preferredName", "pronouns", "relatedClients", "title" }, keys)
    assert.truthy(res.body:find('"relatedClients":[]', 1, true))
    -- One client also carries what third-party code reads there.
    local one = H.get(mock, "Client/" .. res.json.clients[1].clientId)
    assert.truthy(one.body:find('"relatedClients":[]', 1, true))
    assert.is_string(one.json.client.phoneNumberMobile)
    assert.is_string(one.json.client.addressResidential.suburb)
  end)

  it("shows practitioners without the invented locationIds (slots say where they work)", function()
    for _, p in ipairs(H.get(mock, "Practitioner/").json.practitioners) do
      assert.is_nil(p.locationIds)
      assert.is_string(p.practitionerId)
      assert.is_string(p.firstName)
      assert.is_string(p.lastName)
    end
  end)

  it("lists 12 practitioners, 3 locations with timezone GUIDs, and appointment types", function()
    assert.are.equal(12, #H.get(mock, "Practitioner/").json.practitioners)
    local locs = H.get(mock, "Location/").json.locations
    assert.are.equal(3, #locs)
    assert.are.equal("Australia\\Melbourne", locs[1].timeZone.tzName)
    assert.are.equal(H.MELBOURNE, locs[1].timeZone.timezoneId)
    local types = H.get(mock, "appointmenttype/").json.appointmentTypes
    assert.is_true(#types >= 4)
    assert.is_number(types[1].durationMinutes)
  end)

  it("requires startDate, endDate and timezoneId for appointments and availability, naming the parameter", function()
    for _, r in ipairs{ "Appointment/", "AvailabilitySlot/" } do
      local res = H.get(mock, r .. "?startDate=2025-09-01&timezoneId=" .. H.MELBOURNE)
      assert.are.equal(400, res.status)
      assert.truthy(H.reason(res):find("endDate", 1, true))
      res = H.get(mock, r .. "?startDate=2025-09-01&endDate=2025-09-02")
      assert.truthy(H.reason(res):find("timezoneId", 1, true))
    end
  end)

  it("lists a month of appointments in the documented datetime format", function()
    local res = H.get(mock, window("Appointment/", "&pageSize=100"))
    assert.are.equal(200, res.status)
    assert.is_true(res.json.paging.totalRows > 100)
    local a = res.json.appointments[1]
    assert.truthy(a.startDateTime:match(RESPONSE_TIME), a.startDateTime)
    assert.truthy(a.practitioner.practitionerId)
    assert.are.equal(1, #a.clients)
    -- September in Melbourne is standard time.
    assert.truthy(a.startDateTime:find("+10:00", 1, true))
  end)

  it("filters by repeated practitionerId", function()
    local ps = H.get(mock, "Practitioner/").json.practitioners
    local a, b = ps[1].practitionerId, ps[2].practitionerId
    local res = H.get(mock, window("Appointment/", "&pageSize=100&practitionerId=" .. a .. "&practitionerId=" .. b))
    assert.is_true(res.json.paging.totalRows > 0)
    for _, x in ipairs(res.json.appointments) do
      assert.truthy(x.practitioner.practitionerId == a or x.practitioner.practitionerId == b)
    end
    local one = H.get(mock, window("Appointment/", "&practitionerId=" .. a)).json.paging.totalRows
    assert.is_true(one < res.json.paging.totalRows)
  end)

  it("derives availability from schedules minus bookings, cut by appointment type", function()
    local ps = H.get(mock, "Practitioner/").json.practitioners
    local t = H.get(mock, "AppointmentType/").json.appointmentTypes[2]   -- 30 minutes
    local res = H.get(mock, "AvailabilitySlot/?startDate=2025-09-08&endDate=2025-09-12&timezoneId=" ..
      H.MELBOURNE .. "&practitionerId=" .. ps[1].practitionerId .. "&appointmentTypeId=" .. t.appointmentTypeId ..
      "&pageSize=100")
    assert.are.equal(200, res.status)
    assert.is_true(#res.json.timeslots > 0)
    local s = res.json.timeslots[1]
    assert.truthy(s.startDateTime:match(RESPONSE_TIME))
    assert.are.equal(ps[1].practitionerId, s.practitionerId)
    local h1, m1 = s.startDateTime:match("T(%d%d):(%d%d)")
    local h2, m2 = s.endDateTime:match("T(%d%d):(%d%d)")
    assert.are.equal(30, (h2 * 60 + m2) - (h1 * 60 + m1))
    -- No slot overlaps an appointment of that practitioner.
    local appts = H.get(mock, "Appointment/?startDate=2025-09-08&endDate=2025-09-12&timezoneId=" .. H.MELBOURNE ..
      "&practitionerId=" .. ps[1].practitionerId .. "&pageSize=100").json.appointments
    for _, slot in ipairs(res.json.timeslots) do
      for _, a in ipairs(appts) do
        local overlap = slot.startDateTime < a.endDateTime and slot.endDateTime > a.startDateTime
        assert.is_false(overlap, slot.startDateTime .. " overlaps " .. a.startDateTime)
      end
    end
  end)

  it("returns invoices with money strings, and one invoice unwrapped", function()
    local list = H.get(mock, "Invoice/?pageSize=5", { version = "v2" })
    assert.are.equal(5, #list.json.invoices)
    local inv = list.json.invoices[1]
    assert.is_string(inv.amountOwing)
    local one = H.get(mock, "invoice/" .. inv.invoiceId, { version = "v2" })
    assert.are.equal(inv.invoiceId, one.json.invoiceId)
    assert.are.equal(1, #one.json.lineItems)
    assert.truthy(one.body:find('"unitAmount":%d+%.0'))
  end)

  it("answers unknown resources and methods with a result body", function()
    assert.are.equal(404, H.get(mock, "Nope/").status)
    assert.are.equal(405, H.request(mock, { method = "DELETE", path = "Location/" }).status)
  end)

  it("generates the same data in another instance with the same seed", function()
    local other = testing.server{ rate_limit = false, month = "2025-09", tls = false }
    local a = H.get(mock, "Client/?pageSize=20&pageNumber=3").json
    local b = H.get(other, "Client/?pageSize=20&pageNumber=3").json
    local x = H.get(mock, window("Appointment/", "&pageSize=30")).json
    local y = H.get(other, window("Appointment/", "&pageSize=30")).json
    other:stop()
    assert.are.same(a, b)
    assert.are.same(x, y)
  end)

  it("serves 100,000 clients without generating them all", function()
    local big = testing.server{ clients = 100000, tls = false, rate_limit = false }
    local res = H.get(big, "Client/?pageNumber=1000&pageSize=100")
    local last = res.json.clients[100].clientId
    local one = H.get(big, "Client/" .. last)
    big:stop()
    assert.are.equal(100000, res.json.paging.totalRows)
    assert.are.equal(last, one.json.client.clientId)
  end)
end)
