-- The fault matrix of issue 9: the client against the mock coreplus server
-- (127.0.0.1 only) while something goes wrong. Every row ends in the
-- documented error kind (or in success, where retrying is right), without a
-- crash, without hanging past the timeout, and without the consumer secret
-- or a token in anything the caller sees. The last part proves a booking
-- whose answer is lost is not sent twice.
local testing = require "coreplus.testing"
local core = require "coreplus.core"
local coreplus = require "coreplus"

-- Everything a caller could print: the error's text and every string field.
local function exposed(err)
  local parts = { tostring(err) }
  if type(err) == "table" then
    for k, v in pairs(err) do
      parts[#parts + 1] = tostring(k) .. "=" .. tostring(v)
      if type(v) == "table" then
        for _, x in pairs(v) do parts[#parts + 1] = tostring(x) end
      end
    end
  end
  return table.concat(parts, "\n")
end

describe("fault matrix (client against the mock)", function()
  local mock, secret, token
  local log

  lazy_setup(function()
    mock = testing.server{ tls = true, month = "2025-09", clients = 120, seed = 3 }
    secret, token = mock.consumer_secret, mock.access_token
  end)
  lazy_teardown(function() if mock then mock:stop() end end)
  before_each(function()
    mock:reset()
    mock:clear_faults()
    log = {}
  end)

  -- A client for the mock that records every on_request record and every
  -- backoff sleep; short timeouts so that a hang fails fast.
  local function client(over)
    local o = { timeout = 5, connect_timeout = 3, backoff = 0.05, backoff_max = 0.2,
      on_request = function(info) log[#log + 1] = info end,
      sleep = function(s) log[#log + 1] = { slept = s }; core.sleep(s) end }
    for k, v in pairs(over or {}) do o[k] = v end
    return mock:client(o)
  end

  local function no_secrets(err)
    local text = exposed(err)
    for _, rec in ipairs(log) do text = text .. "\n" .. exposed(rec) end
    assert.is_nil(text:find(secret, 1, true), "consumer secret exposed")
    assert.is_nil(text:find(token, 1, true), "access token exposed")
    assert.is_nil(text:find("eyJ", 1, true), "a JWT exposed")
  end

  -- Runs f (which returns res, err), checks that it failed with `kind` and
  -- exposed nothing; returns the error. (That it did not hang shows in the
  -- kind: a call that outlived its timeout would say "timeout", and one
  -- that never returned would stop the run; the waits it made are in log.)
  local function fails(kind, f)
    local res, err = f()
    assert.is_nil(res)
    assert.is_table(err)
    assert.equals(kind, err.kind, exposed(err))
    assert.is_string(err.message)
    no_secrets(err)
    return err
  end

  -- The seconds the client slept between attempts, from log.
  local function slept()
    local list, total = {}, 0
    for _, rec in ipairs(log) do
      if rec.slept then list[#list + 1] = rec.slept; total = total + rec.slept end
    end
    return list, total
  end

  it("connection refused: network, at once", function()
    local dead = coreplus.new{ base_url = "http://127.0.0.1:9", allow_http = true,
      consumer_id = mock.consumer_id, consumer_secret = secret, access_token = token,
      user_agent = "faults-spec/1.0", issuer = "https://spec.example", retries = 2, backoff = 0.01, backoff_max = 0.02,
      on_request = function(info) log[#log + 1] = info end,
      sleep = function(s) log[#log + 1] = { slept = s } end }
    fails("network", function() return dead.clients:list{} end)
    local waits = slept()
    assert.equals(3, #log - #waits)   -- a GET that never got through is retried
    -- at once: the retries wait the backoff, and no more
    assert.equals(2, #waits)
    for _, s in ipairs(waits) do assert.is_true(s <= 0.02, "slept " .. s) end
  end)

  it("reset mid-body: network, retried (GET) and then given up", function()
    mock:fault{ fault = "reset_mid_body" }
    fails("network", function() return client{ retries = 1 }.clients:list{ pageSize = 20 } end)
    assert.equals(2, mock:stats().by_fault.reset_mid_body)
  end)

  it("slow body past the timeout: timeout, no hang", function()
    mock:fault{ fault = "slow_body", delay = 5 }
    local err = fails("timeout", function() return client{ timeout = 1, retries = 0 }.clients:list{} end)
    assert.truthy(err.hint)
    assert.same({}, (slept()))
  end)

  it("truncated JSON: bad_response", function()
    mock:fault{ fault = "truncated" }
    fails("bad_response", function() return client().clients:list{ pageSize = 20 } end)
  end)

  it("malformed JSON: bad_response", function()
    mock:fault{ fault = "malformed_json" }
    fails("bad_response", function() return client().clients:list{} end)
  end)

  it("an HTML page with status 200: bad_response, with an excerpt-free message", function()
    mock:fault{ fault = "html_200" }
    local err = fails("bad_response", function() return client().clients:list{} end)
    assert.equals(200, err.status)
  end)

  it("500: server, not retried", function()
    mock:fault{ fault = "500" }
    local err = fails("server", function() return client().clients:list{} end)
    assert.equals(500, err.status)
    assert.equals(1, mock:stats().by_fault["500"])
  end)

  it("503 with Retry-After: retried after the time asked, then succeeds", function()
    mock:fault{ fault = "503", count = 2, retry_after = 1 }
    -- the waits are recorded, not slept: the mock counts its faults, not time
    local page, err = client{ backoff_max = 8, sleep = function(s) log[#log + 1] = { slept = s } end }
      .clients:list{ pageSize = 10 }
    assert.is_table(page, exposed(err))
    assert.equals(10, #page.items)
    local waits, total = slept()
    assert.equals(2, #waits)
    for _, s in ipairs(waits) do assert.is_true(s >= 1, "slept " .. s) end
    assert.is_true(total >= 2)
    assert.equals(2, mock:stats().by_fault["503"])
    no_secrets(nil)
  end)

  it("a 429 storm: backs off, succeeds, never over 10 requests a second at the server", function()
    mock:fault{ fault = "429", count = 8 }
    -- each 429 waits at least a whole window: 8 of them need more than the 5 s default here
    local cp = client{ retries = 10, concurrency = 4, timeout = 30 }
    local items, err = cp.clients:all{ pageSize = 10 }
    assert.is_table(items, exposed(err))
    assert.equals(120, #items)
    local st = mock:stats()
    assert.equals(8, st.by_fault["429"])
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. tostring(st.max_in_window))
    assert.equals(0, st.rate_limited)
    local retried = 0
    for _, rec in ipairs(log) do if rec.retry == "rate_limited" then retried = retried + 1 end end
    assert.equals(8, retried)
    no_secrets(nil)
  end)

  it("a body over max_body: too_large, not retried", function()
    mock:fault{ fault = "big_body", size_mb = 3 }
    fails("too_large", function() return client{ max_body = 1024 * 1024 }.clients:list{} end)
    assert.equals(1, mock:stats().by_fault.big_body)
  end)

  it("a redirect to another host: not followed, so Authorization goes nowhere else", function()
    mock:fault{ fault = "redirect" }   -- to https://localhost:<port>/__mock/echo-headers
    local err = fails("bad_response", function() return client().clients:list{} end)
    assert.equals(302, err.status)
    assert.equals(0, mock:stats().echo_requests or 0)
  end)

  describe("TLS", function()
    it("a certificate from an unknown CA: tls, not retried", function()
      local cp = coreplus.new{ base_url = mock.base_url, consumer_id = mock.consumer_id,
        consumer_secret = secret, access_token = token, user_agent = "faults-spec/1.0",
        issuer = "https://spec.example", on_request = function(info) log[#log + 1] = info end }   -- system CAs only
      local err = fails("tls", function() return cp.clients:list{} end)
      assert.truthy(err.hint:find("cafile", 1, true))
      assert.equals(1, #log)
      assert.equals(0, mock:stats().requests)
    end)

    for _, variant in ipairs{ "wrong_host", "expired" } do
      it(("a certificate that is %s: tls, nothing sent"):format(variant:gsub("_", " ")), function()
        local bad = testing.server{ tls_variant = variant, month = "2025-09", clients = 5 }
        local ok, e = pcall(function()
          local cp = bad:client{ on_request = function(info) log[#log + 1] = info end }
          fails("tls", function() return cp.clients:list{} end)
          assert.equals(0, bad:stats().requests)
        end)
        bad:stop()
        assert(ok, e)
      end)
    end
  end)
end)

describe("no doubled bookings", function()
  local mock, cp, practitioner, location, patient, atype

  -- A fixture month wholly in the future (the mock refuses past bookings):
  -- the one after next.
  local t = os.date("!*t")
  local MONTH = ("%04d-%02d"):format(t.year + (t.month + 2 > 12 and 1 or 0), (t.month + 1) % 12 + 1)

  lazy_setup(function()
    mock = testing.server{ tls = true, month = MONTH, clients = 20, seed = 5, rate_limit = false }
    cp = mock:client{ backoff = 0.01 }
    practitioner = assert(cp.practitioners:all{})[1]
    patient = assert(cp.clients:list{ pageSize = 1 }).items[1]
    atype = assert(cp.appointment_types:all{})[2]
  end)
  lazy_teardown(function() if mock then mock:stop() end end)

  -- The first free slot of the practitioner in the second half of the month
  -- (it says where the practitioner works).
  local function free_slot()
    local tz = "39D62534-501C-49CD-9DA9-6FA8D6A81F48"   -- Melbourne
    for d = 15, 28 do
      local day = ("%s-%02d"):format(MONTH, d)
      local page = assert(cp.availability_slots:list{ startDate = day, endDate = day, timezoneId = tz,
        practitionerId = practitioner.practitionerId, appointmentTypeId = atype.appointmentTypeId })
      if page.items[1] then
        location = page.items[1].locationId
        return page.items[1]
      end
    end
    error("no free slot in " .. MONTH .. "-15..28")
  end

  it("a booking whose connection drops after the server stored it is not retried; outcome unknown", function()
    local s = free_slot()
    local before = mock:stats().bookings
    mock:fault{ fault = "reset_after_commit", count = 1, method = "POST" }
    local appt, err = cp.appointments:book{
      startDateTime = s.startDateTime:gsub(" ", ""), endDateTime = s.endDateTime:gsub(" ", ""),
      practitioner = { practitionerId = practitioner.practitionerId }, locationId = location,
      clients = { { clientId = patient.clientId } }, appointmentTypeId = atype.appointmentTypeId }
    assert.is_nil(appt)
    assert.equals("network", err.kind)
    assert.equals("unknown", err.outcome)
    assert.equals(1, err.attempts)
    assert.truthy(err.hint:find("list the appointments", 1, true))
    local st = mock:stats()
    assert.equals(1, st.by_path["/API/Core/v2.1/Appointment/"])   -- sent once
    assert.equals(before + 1, st.bookings)                         -- stored once
    assert.equals(1, st.by_fault.reset_after_commit)
    assert.is_nil(tostring(err):find(mock.consumer_secret, 1, true))
  end)

  it("core.request never repeats a POST by itself when a reused connection drops after the server stored it", function()
    -- libcurl re-sends on its own when a *reused* connection dies before the
    -- answer; warm the connection first so that the POST would reuse it.
    local creds = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token }
    assert.equals(200, assert(core.request{ method = "GET", url = mock:url("Practitioner/"),
      credentials = creds, cafile = mock.cafile }).status)
    mock:reset()
    local res, err = core.request{ method = "POST", url = mock:url("Client/"), credentials = creds,
      cafile = mock.cafile, body = '{"firstName":"Once","lastName":"Only"}',
      headers = { ["X-Mock-Fault"] = "reset_after_commit" } }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    local st = mock:stats()
    assert.equals(1, st.by_path["/API/Core/v2.1/Client/"])
  end)

  it("a booking refused before it was sent (connection refused) is safe to retry and says so", function()
    local dead = coreplus.new{ base_url = "http://127.0.0.1:9", allow_http = true,
      consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token, retries = 1, backoff = 0.01, user_agent = "faults-spec/1.0",
      issuer = "https://spec.example" }
    local appt, err = dead.appointments:book{ startDateTime = "2025-09-16T10:00:00+10:00",
      endDateTime = "2025-09-16T10:30:00+10:00", practitioner = { practitionerId = "p" },
      locationId = "l", clients = { { clientId = "c" } } }
    assert.is_nil(appt)
    assert.equals("network", err.kind)
    assert.is_nil(err.outcome)
  end)
end)
