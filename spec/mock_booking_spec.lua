-- Bookings and the other writes: stored across workers, visible to later
-- GETs, clashes answered with the documented result body.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local NOT_AVAILABLE = "The selected time is not available for booking an appointment"
local IN_THE_PAST = "The selected time is in the past and cannot be booked"

describe("mock server bookings", function()
  -- A fixture month wholly in the future: the mock refuses bookings in the
  -- past (see "past bookings" below).
  local MONTH = H.future_month()
  local mock, prac, loc, client, atype
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, month = MONTH, workers = 2 }
    local ps = H.get(mock, "Practitioner/").json.practitioners
    prac = ps[1]
    loc = H.get(mock, "AvailabilitySlot/?startDate=" .. MONTH .. "-01&endDate=" .. MONTH .. "-28&timezoneId=" ..
      H.MELBOURNE .. "&practitionerId=" .. prac.practitionerId).json.timeslots[1].locationId
    client = H.get(mock, "Client/?pageSize=1").json.clients[1]
    atype = H.get(mock, "AppointmentType/").json.appointmentTypes[2]
  end)
  lazy_teardown(function() mock:stop() end)
  -- (the counts an it reads are its own bookings', in any order)
  before_each(function() mock:reset() end)

  -- The first free 30-minute slot of the practitioner from day `d` of the
  -- month on (a number), or on one day ("YYYY-MM-DD"), from the
  -- availability list; also returns the day.
  local function free_slot(d)
    local days = {}
    if type(d) == "string" then days[1] = d else
      for x = d, 28 do days[#days + 1] = ("%s-%02d"):format(MONTH, x) end
    end
    for _, day in ipairs(days) do
      local res = H.get(mock, "AvailabilitySlot/?startDate=" .. day .. "&endDate=" .. day .. "&timezoneId=" ..
        H.MELBOURNE .. "&practitionerId=" .. prac.practitionerId .. "&appointmentTypeId=" .. atype.appointmentTypeId)
      local s = res.json.timeslots[1]
      -- Request format: no space before the offset.
      if s then return s.startDateTime:gsub(" ", ""), s.endDateTime:gsub(" ", ""), s, day end
    end
    error("no free slot from " .. tostring(days[1]))
  end

  local function booking(s, e)
    return { startDateTime = s, endDateTime = e, practitioner = { practitionerId = prac.practitionerId },
      locationId = loc, clients = { { clientId = client.clientId } }, appointmentTypeId = atype.appointmentTypeId,
      notes = "first visit" }
  end

  it("books, gets, updates and cancels an appointment", function()
    local s, e, slot, day = free_slot(15)
    local res = H.post(mock, "Appointment/", booking(s, e))
    assert.are.equal(200, res.status, res.body)
    local appt = res.json.appointment
    assert.truthy(appt.appointmentId)
    assert.are.equal(slot.startDateTime, appt.startDateTime)
    assert.are.equal(1, mock:stats().bookings)

    local got = H.get(mock, "Appointment/" .. appt.appointmentId)
    assert.are.equal(200, got.status)
    assert.are.equal("first visit", got.json.appointment.notes)
    assert.are.equal(client.clientId, got.json.appointment.clients[1].clientId)

    -- The slot is no longer offered.
    local _, _, next_slot = free_slot(day)
    assert.are_not.equal(slot.startDateTime, next_slot.startDateTime)

    local upd = H.post(mock, "Appointment/" .. appt.appointmentId .. "/",
      { notes = "moved", notifyPractitioner = "true" })
    assert.are.equal(200, upd.status, upd.body)
    assert.are.equal("moved", upd.json.appointment.notes)
    assert.is_true(upd.json.appointment.notifyPractitioner)

    local c = H.post(mock, "Appointment/", { appointmentId = appt.appointmentId, deleted = "true" })
    assert.are.equal(200, c.status, c.body)
    assert.are.equal("Cancelled", H.get(mock, "Appointment/" .. appt.appointmentId).json.appointment.status)
    assert.are.equal(0, mock:stats().bookings)
    -- The slot is free again.
    local _, _, again = free_slot(day)
    assert.are.equal(slot.startDateTime, again.startDateTime)
  end)

  it("cancels with POST Appointment/{id} and deleted=true", function()
    local s, e = free_slot(16)
    local id = H.post(mock, "Appointment/", booking(s, e)).json.appointment.appointmentId
    local res = H.post(mock, "Appointment/" .. id, { deleted = true })
    assert.are.equal(200, res.status)
    assert.are.equal("Cancelled", res.json.appointment.status)
  end)

  it("answers a clash with 200 and the documented result body", function()
    local s, e = free_slot(17)
    assert.are.equal(200, H.post(mock, "Appointment/", booking(s, e)).status)
    local res = H.post(mock, "Appointment/", booking(s, e))
    assert.are.equal(200, res.status)
    assert.are.equal(NOT_AVAILABLE, H.reason(res))
    assert.are.equal(2, res.json.result[1].severity)
  end)

  it("refuses an update that moves onto another booking", function()
    local s1, e1, _, day = free_slot(18)
    local a = H.post(mock, "Appointment/", booking(s1, e1)).json.appointment
    local s2, e2 = free_slot(day)
    local b = H.post(mock, "Appointment/", booking(s2, e2)).json.appointment
    local res = H.post(mock, "Appointment/" .. b.appointmentId .. "/", { startDateTime = s1, endDateTime = e1 })
    assert.are.equal(NOT_AVAILABLE, H.reason(res))
    assert.truthy(a.appointmentId)
  end)

  it("shows a new booking in the appointment list", function()
    local s, e, _, day = free_slot(19)
    local id = H.post(mock, "Appointment/", booking(s, e)).json.appointment.appointmentId
    local list = H.get(mock, "Appointment/?startDate=" .. day .. "&endDate=" .. day .. "&timezoneId=" .. H.MELBOURNE ..
      "&practitionerId=" .. prac.practitionerId .. "&pageSize=100").json.appointments
    local found = false
    for _, x in ipairs(list) do if x.appointmentId == id then found = true end end
    assert.is_true(found)
  end)

  it("validates required booking fields with 400 and a result body", function()
    local s, e = free_slot(22)
    for _, field in ipairs{ "startDateTime", "endDateTime", "practitioner", "locationId", "clients" } do
      local b = booking(s, e)
      b[field] = nil
      local res = H.post(mock, "Appointment/", b)
      assert.are.equal(400, res.status, field)
      assert.truthy(H.reason(res):find(field, 1, true), field .. ": " .. res.body)
    end
    local b = booking(s, e)
    b.clients[2] = { clientId = client.clientId }
    assert.are.equal(400, H.post(mock, "Appointment/", b).status)
    assert.are.equal(400, H.post(mock, "Appointment/", "not json").status)
  end)

  it("refuses a booking outside working hours with the not-available body", function()
    local res = H.post(mock, "Appointment/", booking(MONTH .. "-22T23:00+10:00", MONTH .. "-22T23:30+10:00"))
    assert.are.equal(NOT_AVAILABLE, H.reason(res))
  end)

  it("creates a client, readable by id and counted in the list", function()
    local before = H.get(mock, "Client/?pageSize=1").json.paging.totalRows
    local res = H.post(mock, "Client/", { firstName = "Bob", lastName = "Smith", dateOfBirth = "1996-04-29" })
    assert.are.equal(200, res.status, res.body)
    local id = res.json.client.clientId
    assert.are.equal("Bob", H.get(mock, "Client/" .. id).json.client.firstName)
    assert.are.equal(before + 1, H.get(mock, "Client/?pageSize=1").json.paging.totalRows)
    assert.are.equal(400, H.post(mock, "Client/", { firstName = "Bob", lastName = "Smith" }).status)
    -- JSON null in an optional field is "not given".
    res = H.post(mock, "Client/", '{"firstName":"Al","lastName":"Li","dateOfBirth":"1990-01-02","middleName":null}')
    assert.are.equal(200, res.status, res.body)
  end)

  it("creates a family member and an appointment type (durationMinutes at most 120)", function()
    local f = H.post(mock, "ClientFamily/", { clientId = client.clientId, firstName = "Ann", surname = "Smith" },
      { version = "v2" })
    assert.are.equal(200, f.status, f.body)
    assert.truthy(f.json.familyId)
    assert.is_false(f.json.emergencyContact)
    local t = H.post(mock, "AppointmentType/", { description = "Telehealth", durationMinutes = "50" },
      { version = "v2" })
    assert.are.equal(200, t.status, t.body)
    assert.are.equal("Telehealth", t.json.description)
    local res = H.post(mock, "AppointmentType/", { description = "Marathon", durationMinutes = "121" },
      { version = "v2" })
    assert.are.equal(400, res.status)
    assert.truthy(H.reason(res):find("120", 1, true))
  end)

  it("records payments against an invoice", function()
    local v2 = { version = "v2" }
    local inv = H.get(mock, "Invoice/?pageSize=1", { version = "v2" }).json.invoices[1]
    local full = H.get(mock, "Invoice/" .. inv.invoiceId, { version = "v2" }).json
    local li = full.lineItems[1]
    local res = H.post(mock, "Payment/", { invoiceId = inv.invoiceId, payments = { {
      lineItemId = li.lineItemId, amountPaid = "10.50", datePaid = "2025-09-03",
      paymentMethodId = "00000000-0000-4000-8000-000000000000" } } }, v2)
    assert.are.equal(200, res.status, res.body)
    local owing = tonumber(full.amountOwing) - 10.5
    assert.are.equal(owing, tonumber(res.json.amountOwing))
    local pays = H.get(mock, "Payment/?invoiceId=" .. inv.invoiceId, { version = "v2" }).json
    assert.are.equal("10.50", pays.lineItems[1].payments[1].amountPaid)
    assert.are.equal(400, H.get(mock, "Payment/", { version = "v2" }).status)
    assert.are.equal(400, H.post(mock, "Payment/", { invoiceId = inv.invoiceId, payments = { {
      lineItemId = li.lineItemId, amountPaid = "-1", datePaid = "2025-09-03" } } }, { version = "v2" }).status)
  end)

  it("forgets bookings on reset", function()
    local s, e = free_slot(23)
    assert.are.equal(200, H.post(mock, "Appointment/", booking(s, e)).status)
    assert.is_true(mock:stats().bookings > 0)
    mock:reset()
    local st = mock:stats()
    assert.are.equal(0, st.bookings)
    assert.are.equal(0, st.requests)
  end)
end)

describe("mock server past bookings", function()
  -- The fixture month is this one: the last days are in the past, and their
  -- availability is still listed (windows wholly in the past answer as they
  -- always did); booking them is refused as coreplus refuses a time that
  -- is not bookable: 200 and a result[] body.
  local mock, client
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, tls = false }
    client = H.get(mock, "Client/?pageSize=1").json.clients[1]
  end)
  lazy_teardown(function() mock:stop() end)

  -- A free block of some practitioner on a day in the past 2-9 days.
  local function past_slot()
    for back = 2, 9 do
      local day = os.date("!%Y-%m-%d", os.time() - back * 86400)
      local res = H.get(mock, "AvailabilitySlot/?startDate=" .. day .. "&endDate=" .. day .. "&timezoneId=" ..
        H.MELBOURNE)
      if res.json.timeslots[1] then return res.json.timeslots[1] end
    end
    error("no slot listed in the past 9 days")
  end

  local function booking(s, e, slot)
    return { startDateTime = s, endDateTime = e, practitioner = { practitionerId = slot.practitionerId },
      locationId = slot.locationId, clients = { { clientId = client.clientId } } }
  end

  it("refuses a booking that starts before the server's clock, and stores nothing", function()
    local slot = past_slot()
    local before = mock:stats().bookings or 0
    local res = H.post(mock, "Appointment/", booking(slot.startDateTime:gsub(" ", ""),
      slot.endDateTime:gsub(" ", ""), slot))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(2, res.json.result[1].severity)
    assert.are.equal(IN_THE_PAST, H.reason(res))
    assert.is_nil(res.json.appointment)
    assert.are.equal(before, mock:stats().bookings or 0)
  end)

  it("refuses moving a booking into the past, and lets its notes change", function()
    local from = os.date("!%Y-%m-%d", os.time() + 2 * 86400)
    local to = os.date("!%Y-%m-%d", os.time() + 9 * 86400)
    local future = H.get(mock, "AvailabilitySlot/?startDate=" .. from .. "&endDate=" .. to .. "&timezoneId=" ..
      H.MELBOURNE).json.timeslots[1]
    local made = H.post(mock, "Appointment/", booking(future.startDateTime:gsub(" ", ""),
      future.endDateTime:gsub(" ", ""), future))
    assert.are.equal(200, made.status, made.body)
    local id = assert(made.json.appointment, made.body).appointmentId
    local past = past_slot()
    local res = H.post(mock, "Appointment/" .. id .. "/", { startDateTime = past.startDateTime:gsub(" ", ""),
      endDateTime = past.endDateTime:gsub(" ", "") })
    assert.are.equal(IN_THE_PAST, H.reason(res))
    assert.are.equal(200, H.post(mock, "Appointment/" .. id .. "/", { notes = "still on" }).status)
    assert.are.equal("still on", H.get(mock, "Appointment/" .. id).json.appointment.notes)
  end)
end)
