-- The mock offers no slot that has already begun: a window that reaches the
-- server's clock starts there (the issue: at 3 pm "today" still listed the
-- 9 am slots). Checked over a week around now, in each fixture zone, with
-- and without an appointment type (cut slots and whole free blocks).
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")
local dates = require "coreplus.dates"

describe("mock availability around the server's clock", function()
  local mock
  lazy_setup(function() mock = testing.server{ rate_limit = false, tls = false } end)
  lazy_teardown(function() if mock then mock:stop() end end)

  local function slots(query)
    local now = os.time()
    local from, to = dates.date(now - 3 * 86400), dates.date(now + 3 * 86400)
    local out, page = {}, 1
    repeat
      local res = H.get(mock, ("AvailabilitySlot/?startDate=%s&endDate=%s&pageSize=100&pageNumber=%d%s")
        :format(from, to, page, query))
      assert.are.equal(200, res.status, res.body)
      for _, s in ipairs(res.json.timeslots) do out[#out + 1] = s end
      page = page + 1
    until #res.json.timeslots < 100
    return out, now
  end

  local zones = { H.MELBOURNE, "8F1C2A6E-3B4D-4E5F-9A7B-1C2D3E4F5A6B", "D4E5F6A7-B8C9-4DAE-8F01-23456789ABCD" }
  for _, zone in ipairs(zones) do
    for _, with_type in ipairs{ true, false } do
      it(("offers only slots that start after now (zone %s, %s)"):format(zone:sub(1, 8),
          with_type and "cut by appointment type" or "free blocks"), function()
        local types = H.get(mock, "AppointmentType/").json.appointmentTypes
        local q = "&timezoneId=" .. zone .. (with_type and "&appointmentTypeId=" .. types[2].appointmentTypeId or "")
        local list, now = slots(q)
        assert.is_true(#list > 0, "no slots at all in the coming days")
        for _, s in ipairs(list) do
          local t = assert(dates.parse(s.startDateTime))
          assert.is_true(t.epoch >= now - 1, s.startDateTime .. " has already begun")
        end
      end)
    end
  end
end)
