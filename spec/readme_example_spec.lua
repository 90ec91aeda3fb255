-- The README's "Testing your code" example, verbatim: a user's function and
-- its busted spec written with the stub transport (no network, no server).
local coreplus = require "coreplus"
local testing = require "coreplus.testing"
require "coreplus.testing.busted"      -- assert.coreplus_requested

-- The code under test: tomorrow's reminder list.
local function reminder_list(cp, day, timezone_id)
  local out = {}
  for a in cp.appointments:each{ startDate = day, endDate = day, timezoneId = timezone_id } do
    out[#out + 1] = { id = a.appointmentId, at = a.startDateTime, client = a.clients[1].clientId }
  end
  return out
end

local MELBOURNE = "39D62534-501C-49CD-9DA9-6FA8D6A81F48"

describe("reminder_list", function()
  local stub, cp

  before_each(function()
    -- The stub checks every request as coreplus would: the token must verify
    -- with this secret, carry the exact URL and method, and be in its time
    -- window (a frozen clock here: backoff moves it, nothing waits).
    stub = testing.stub{ consumer_id = "consumer-1", consumer_secret = "test-secret",
      access_token = "token-1", now = 1747699200 }
    cp = coreplus.new{ base_url = "https://sandbox.coreplus.com.au", consumer_id = "consumer-1",
      consumer_secret = "test-secret", access_token = "token-1", transport = stub }
  end)

  after_each(function()
    stub:assert_all_used()      -- every route registered was asked for
  end)

  it("collects the day's appointments across pages", function()
    stub:on("GET", "Appointment/", function(req)
      local page = tonumber(req.query.pageNumber)
      local items = {}
      for i = 1, page == 1 and 100 or 50 do
        local n = (page - 1) * 100 + i
        items[i] = { appointmentId = "a" .. n, startDateTime = "2025-05-20T09:00:00 +10:00",
          clients = { { clientId = "c" .. n } } }
      end
      return { body = { appointments = items,
        paging = { totalRows = 150, pageNumber = page, pageSize = 100 } } }
    end)

    local list = reminder_list(cp, "2025-05-20", MELBOURNE)

    assert.equal(150, #list)
    assert.same({ id = "a150", at = "2025-05-20T09:00:00 +10:00", client = "c150" }, list[150])
    assert.coreplus_requested(stub, "GET", "Appointment/",
      { times = 2, query = { startDate = "2025-05-20", pageSize = 100 } })
  end)

  it("waits out coreplus's rate limit: 429, then the page", function()
    stub:on("GET", "Appointment/", { responses = {
      { status = 429, headers = { ["Retry-After"] = "1" } },
      { body = { appointments = {}, paging = { totalRows = 0 } } },
    } })

    assert.same({}, reminder_list(cp, "2025-05-20", MELBOURNE))
    assert.equal(2, stub:calls("GET", "Appointment/"))
  end)

  it("raises the error object, with its hint, when coreplus refuses", function()
    stub:on("GET", "Appointment/", { status = 401,
      body = { result = { { severity = 2, reason = "Not authorized for viewing appointments" } } } })

    local ok, err = pcall(reminder_list, cp, "2025-05-20", MELBOURNE)

    assert.is_false(ok)
    assert.equal("forbidden", err.kind)
    assert.matches("disable and re%-enable", err.hint)
  end)

  it("fails like coreplus would when the secret is wrong", function()
    local wrong = coreplus.new{ base_url = "https://sandbox.coreplus.com.au", consumer_id = "consumer-1",
      consumer_secret = "not-the-secret", access_token = "token-1", transport = stub }
    -- No route needed: coreplus (and the stub) refuse the token before that.

    local page, err = wrong.locations:list()

    assert.is_nil(page)
    assert.equal("invalid_token", err.kind)
  end)
end)
