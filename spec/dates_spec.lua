-- Date helpers: coreplus's response formats in, request formats out.
local dates = require "coreplus.dates"

describe("dates.parse", function()
  local cases = {
    { "2021-09-07T09:00:00 +10:00", { year = 2021, month = 9, day = 7, hour = 9, min = 0, sec = 0, offset = 600 },
      1630969200 },
    { "2021-09-07T09:00:00+10:00", { offset = 600, hour = 9 }, 1630969200 },
    { "2021-09-07T09:00+10:00", { offset = 600, hour = 9, sec = 0 }, 1630969200 },
    { "2017-06-30 14:18:00+1000", { offset = 600, hour = 14, min = 18 }, 1498796280 },
    { "2021-09-06T23:00:00Z", { offset = 0 }, 1630969200 },
    { "2021-09-07T09:00:00 -03:30", { offset = -210 }, 1631017800 },
    { "1972-07-02T00:00:00", { year = 1972, month = 7, day = 2, hour = 0 }, 78883200 },
    { "2021-06-03", { year = 2021, month = 6, day = 3, hour = 0 }, 1622678400 },
    { "2024-02-29T12:00:00.123 +00:00", { day = 29, hour = 12, offset = 0 }, 1709208000 },
  }
  for _, c in ipairs(cases) do
    it("reads " .. c[1], function()
      local t = assert(dates.parse(c[1]))
      for k, v in pairs(c[2]) do assert.equal(v, t[k], k) end
      assert.equal(c[3], t.epoch)
    end)
  end
  it("leaves offset nil when the text has none (date of birth)", function()
    assert.is_nil(dates.parse("1972-07-02T00:00:00").offset)
  end)
  for _, bad in ipairs({ "", "yesterday", "2021-13-01", "2021-09-07T25:00:00", "2021-09-07T09:00:00 +1",
    "2021-09-07X09:00", 42 }) do
    it("refuses " .. tostring(bad), function()
      local t, err = dates.parse(bad)
      assert.is_nil(t)
      assert.is_string(err)
    end)
  end
end)

describe("dates formatting", function()
  it("formats yyyy-mm-dd for query parameters", function()
    assert.equal("2021-09-06", dates.date(1630969200))
    assert.equal("2021-09-07", dates.date(1630969200, 600))
    assert.equal("2021-09-07", dates.date{ year = 2021, month = 9, day = 7 })
  end)
  it("formats date-times with offsets for bookings", function()
    assert.equal("2021-09-07T09:00:00+10:00", dates.datetime(1630969200, 600))
    assert.equal("2021-09-06T23:00:00+00:00", dates.datetime(1630969200))
    assert.equal("2021-09-06T19:30:00-03:30", dates.datetime(1630969200, -210))
  end)
  it("round-trips through parse", function()
    for _, e in ipairs({ 0, 951782400, 1709208000, 4102444800 }) do
      for _, off in ipairs({ -720, 0, 330, 600 }) do
        assert.equal(e, dates.parse(dates.datetime(e, off)).epoch)
      end
    end
  end)
  it("reads HTTP Date headers", function()
    assert.equal(784111777, dates.http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.is_nil(dates.http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.is_nil(dates.http_date(nil))
  end)
end)
