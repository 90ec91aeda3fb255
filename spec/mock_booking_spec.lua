-- Bookings and the other writes: stored across workers, visible to later
-- GETs, clashes answered with the documented result body.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local NOT_AVAILABLE = "The selected time is not available for booking an appointment"

describe("mock server bookings", function()
  local mock, prac, loc, client, atype
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, month = "2025-09", workers = 2 }
    local ps = H.get(mock, "Practitioner/").json.practitioners
    prac = ps[1]
    loc = prac.locationIds[1]
    client = H.get(mock, "Client/?pageSize=1").json.clients[1]
    atype = H.get(mock, "AppointmentType/").json.appointmentTypes[2]
  end)
  lazy_teardown(function() mock:stop() end)

  -- A free 30-minute slot of the practitioner, from the availability list.
  local function free_slot(day)
    local res = H.get(mock, "AvailabilitySlot/?startDate=" .. day .. "&endDate=" .. day .. "&timezoneId=" ..
      H.MELBOURNE .. "&practitionerId=" .. prac.practitionerId .. "&appointmentTypeId=" .. atype.appointmentTypeId)
    local s = assert(res.json.timeslots[1], "no free slot on " .. day)
    -- Request format: no space before the offset.
    return s.startDateTime:gsub(" ", ""), s.endDateTime:gsub(" ", ""), s
  end

  local function booking(s, e)
    return { startDateTime = s, endDateTime = e, practitioner = { practitionerId = prac.practitionerId },
      locationId = loc, clients = { { clientId = client.clientId } }, appointmentTypeId = atype.appointmentTypeId,
      notes = "first visit" }
  end

  it("books, gets, updates and cancels an appointment", function()
    local s, e, slot = free_slot("2025-09-15")
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
    local _, _, next_slot = free_slot("2025-09-15")
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
    local _, _, again = free_slot("2025-09-15")
    assert.are.equal(slot.startDateTime, again.startDateTime)
  end)

  it("cancels with POST Appointment/{id} and deleted=true", function()
    local s, e = free_slot("2025-09-16")
    local id = H.post(mock, "Appointment/", booking(s, e)).json.appointment.appointmentId
    local res = H.post(mock, "Appointment/" .. id, { deleted = true })
    assert.are.equal(200, res.status)
    assert.are.equal("Cancelled", res.json.appointment.status)
  end)

  it("answers a clash with 200 and the documented result body", function()
    local s, e = free_slot("2025-09-17")
    assert.are.equal(200, H.post(mock, "Appointment/", booking(s, e)).status)
    local res = H.post(mock, "Appointment/", booking(s, e))
    assert.are.equal(200, res.status)
    assert.are.equal(NOT_AVAILABLE, H.reason(res))
    assert.are.equal(2, res.json.result[1].severity)
  end)

  it("refuses an update that moves onto another booking", function()
    local s1, e1 = free_slot("2025-09-18")
    local a = H.post(mock, "Appointment/", booking(s1, e1)).json.appointment
    local s2, e2 = free_slot("2025-09-18")
    local b = H.post(mock, "Appointment/", booking(s2, e2)).json.appointment
    local res = H.post(mock, "Appointment/" .. b.appointmentId .. "/", { startDateTime = s1, endDateTime = e1 })
    assert.are.equal(NOT_AVAILABLE, H.reason(res))
    assert.truthy(a.appointmentId)
  end)

  it("shows a new booking in the appointment list", function()
    local s, e = free_slot("2025-09-19")
    local id = H.post(mock, "Appointment/", booking(s, e)).json.appointment.appointmentId
    local list = H.get(mock, "Appointment/?startDate=2025-09-19&endDate=2025-09-19&timezoneId=" .. H.MELBOURNE ..
      "&practitionerId=" .. prac.practitionerId .. "&pageSize=100").json.appointments
    local found = false
    for _, x in ipairs(list) do if x.appointmentId == id then found = true end end
    assert.is_true(found)
  end)

  it("validates required booking fields with 400 and a result body", function()
    local s, e = free_slot("2025-09-22")
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
    local res = H.post(mock, "Appointment/", booking("2025-09-22T23:00+10:00", "2025-09-22T23:30+10:00"))
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
    local f = H.post(mock, "ClientFamily/", { clientId = client.clientId, firstName = "Ann", surname = "Smith" })
    assert.are.equal(200, f.status, f.body)
    assert.truthy(f.json.familyId)
    assert.is_false(f.json.emergencyContact)
    local t = H.post(mock, "AppointmentType/", { description = "Telehealth", durationMinutes = "50" })
    assert.are.equal(200, t.status, t.body)
    assert.are.equal("Telehealth", t.json.description)
    local res = H.post(mock, "AppointmentType/", { description = "Marathon", durationMinutes = "121" })
    assert.are.equal(400, res.status)
    assert.truthy(H.reason(res):find("120", 1, true))
  end)

  it("records payments against an invoice", function()
    local inv = H.get(mock, "Invoice/?pageSize=1").json.invoices[1]
    local full = H.get(mock, "Invoice/" .. inv.invoiceId).json
    local li = full.lineItems[1]
    local res = H.post(mock, "Payment/", { invoiceId = inv.invoiceId, payments = { {
      lineItemId = li.lineItemId, amountPaid = "10.50", datePaid = "2025-09-03",
      paymentMethodId = "00000000-0000-4000-8000-000000000000" } } })
    assert.are.equal(200, res.status, res.body)
    local owing = tonumber(full.amountOwing) - 10.5
    assert.are.equal(owing, tonumber(res.json.amountOwing))
    local pays = H.get(mock, "Payment/?invoiceId=" .. inv.invoiceId).json
    assert.are.equal("10.50", pays.lineItems[1].payments[1].amountPaid)
    assert.are.equal(400, H.get(mock, "Payment/").status)
    assert.are.equal(400, H.post(mock, "Payment/", { invoiceId = inv.invoiceId, payments = { {
      lineItemId = li.lineItemId, amountPaid = "-1", datePaid = "2025-09-03" } } }).status)
  end)

  it("forgets bookings on reset", function()
    local s, e = free_slot("2025-09-23")
    assert.are.equal(200, H.post(mock, "Appointment/", booking(s, e)).status)
    assert.is_true(mock:stats().bookings > 0)
    mock:reset()
    local st = mock:stats()
    assert.are.equal(0, st.bookings)
    assert.are.equal(0, st.requests)
  end)
end)
