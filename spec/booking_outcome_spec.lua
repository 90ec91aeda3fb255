-- A booking answered 2xx without the appointment it made (issue 26 item 7):
-- coreplus may have booked it, so it is an unknown outcome, never a success
-- with no id, and it is not repeated.
local S = dofile("spec/support/stub_client.lua")

local FIELDS = { startDateTime = "2030-01-07T09:00:00+10:00", endDateTime = "2030-01-07T09:30:00+10:00",
  practitioner = { practitionerId = "p1" }, locationId = "l1", clients = { { clientId = "c1" } } }

describe("a booking's answer", function()
  for _, body in ipairs{ "{}", '{"appointment":{}}', '{"result":[]}' } do
    it("without the appointment's id (" .. body .. ") is an unknown outcome, sent once", function()
      local stub = S.new_stub()
      stub:on("POST", "Appointment/", { body = body })
      assert.truthy(S.client(stub):request("POST", "Appointment/", { body = FIELDS }),
        "the escape hatch expects nothing")   -- cp:request stays raw
      local appt, err = S.client(stub).appointments:book(FIELDS)
      assert.is_nil(appt)
      assert.are.equal("bad_response", err.kind)
      assert.are.equal("unknown", err.outcome)
      assert.truthy(err.message:find("appointmentId", 1, true), err.message)
      assert.are.equal(2, stub:calls("POST", "Appointment/"))
    end)
  end

  it("with the appointment is the appointment", function()
    local stub = S.new_stub()
    stub:on("POST", "Appointment/", { body = { appointment = { appointmentId = "a1", startDateTime = "x" } } })
    local appt = assert(S.client(stub).appointments:book(FIELDS))
    assert.are.equal("a1", appt.appointmentId)
  end)

  it("that is a clash stays a conflict", function()
    local stub = S.new_stub()
    stub:on("POST", "Appointment/", { body = { result = { { severity = 2, reason = "The time is not available" } } } })
    local appt, err = S.client(stub).appointments:book(FIELDS)
    assert.is_nil(appt)
    assert.are.equal("conflict", err.kind)
  end)
end)
