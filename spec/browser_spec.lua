-- The booking page in a real browser: headless Chromium driven by
-- python3-selenium (spec/support/browser.py), against the example service
-- in nginx (2 workers) and the mock coreplus at 300 ms latency. What the
-- browser saw is checked here, and what reached coreplus is checked at the
-- mock. Every page of every run is saved under build/screenshots/browser/.
local testing = require "coreplus.testing"
local cjson = require "cjson"
local dates = require "coreplus.dates"

local nginx = dofile("spec/support/nginx.lua")
local openresty = dofile("spec/support/openresty.lua")

local q, capture = nginx.q, nginx.capture

local SHOTS = nginx.TOP .. "/build/screenshots/browser"
local MELBOURNE = "39D62534-501C-49CD-9DA9-6FA8D6A81F48"

-- A last name no other run uses, so each person is a new client.
local function surname(tag)
  local letters = ("x"):rep(6):gsub("x", function() return string.char(97 + math.random(0, 25)) end)
  return "Tester" .. tag .. letters
end

describe("the booking page in headless Chromium", function()
  local mock, service, cp

  setup(function()
    math.randomseed(os.time())
    mock = testing.server{ tls = true, latency = 0.3 }
    service = openresty.start{ mock = mock, workers = 2, name = "browser-spec" }
    cp = mock:client()
    os.execute("mkdir -p " .. q(SHOTS) .. " && rm -f " .. q(SHOTS) .. "/*.png")
  end)

  teardown(function()
    if service then service.stop() end
    if mock then mock:stop() end
  end)

  --- robot(scenario, last, flags) -> what the browser saw (decoded JSON).
  local function robot(scenario, last, flags)
    local out = capture(("/usr/bin/python3 spec/support/browser.py %s --url %s --shots %s --last %s %s 2>&1")
      :format(scenario, q(service.url .. "/"), q(SHOTS), q(last), flags or ""))
    local ok, r = pcall(cjson.decode, out:match("({.*})%s*$") or "")
    assert(ok and type(r) == "table", "browser.py said: " .. out)
    assert(not r.error, "browser: " .. tostring(r.error) .. "\n" .. tostring(r.text) .. "\n" .. service.error_log())
    return r
  end

  local function appointment_id(url)
    return (assert(url:match("[?&]a=([%w%-]+)"), "no appointment in " .. url))
  end

  -- The person's appointments at the mock that are not cancelled.
  local function live_appointments_of(client_id)
    local now = os.time()
    local list = assert(cp.appointments:all{ startDate = dates.date(now - 86400),
      endDate = dates.date(now + 20 * 86400), timezoneId = MELBOURNE, clientId = client_id })
    local live = {}
    for _, a in ipairs(list) do if a.status ~= "Cancelled" then live[#live + 1] = a end end
    return live
  end

  local function h1s(r)
    local t = {}
    for i, p in ipairs(r.pages) do t[i] = p.h1 end
    return table.concat(t, " | ")
  end

  it("a robot taking the first choice at every step books within 6 pages and sees Booked and the reference", function()
    local r = robot("book", surname("Book"))
    assert.is_true(r.scripts)
    assert.is_true(#r.pages <= 6, h1s(r))
    local last = r.pages[#r.pages]
    assert.are.equal("Booked", last.h1, h1s(r))
    local appt = assert(cp.appointments:get(appointment_id(last.url)))
    assert.are.equal("Booked", appt.status)
    assert.are.equal(appt.appointmentReferenceNumber, r.reference)
    assert.truthy(r.last_text:find("Reference " .. appt.appointmentReferenceNumber, 1, true), r.last_text)
    -- Only future times were offered, and the one booked starts after now.
    assert.is_true(dates.parse(appt.startDateTime).epoch > os.time(), appt.startDateTime)
  end)

  it("cancels from the confirmation's link: the appointment is cancelled at coreplus", function()
    local r = robot("cancel", surname("Cancel"))
    assert.are.equal("Booked", r.pages[6].h1, h1s(r))
    assert.are.equal("Cancel your appointment?", r.pages[7].h1, h1s(r))
    assert.are.equal("Cancelled", r.pages[8].h1, h1s(r))
    local appt = assert(cp.appointments:get(appointment_id(r.pages[6].url)))
    assert.are.equal("Cancelled", appt.status)
  end)

  it("a double submit of the details form books once and shows the confirmation", function()
    local before = select(2, service.access_log():gsub('"POST /details ', ""))
    local r = robot("double", surname("Double"))
    local last = r.pages[#r.pages]
    assert.are.equal("Booked", last.h1, h1s(r))
    -- The form really reached the server twice ...
    local posts = select(2, service.access_log():gsub('"POST /details ', "")) - before
    assert.are.equal(2, posts)
    -- ... and the person has one appointment.
    local appt = assert(cp.appointments:get(appointment_id(last.url)))
    local live = live_appointments_of(appt.clients[1].clientId)
    assert.are.equal(1, #live)
    assert.are.equal(appt.appointmentId, live[1].appointmentId)
  end)

  it("a clash is shown as 'just taken, pick another', and the next choice books", function()
    local r = robot("clash", surname("Clash"))
    assert.are.equal("Booked", r.first.h1)
    assert.are.equal("That time was just taken", r.taken, h1s(r))
    assert.truthy(r.taken_text:find("pick another time", 1, true), r.taken_text)
    local last = r.pages[#r.pages]
    assert.are.equal("Booked", last.h1, h1s(r))
    assert.are_not.equal(appointment_id(r.first.url), appointment_id(last.url))
  end)

  it("the whole flow works with JavaScript off, at phone width", function()
    local r = robot("book", surname("NoScript"), "--no-js --width 390 --height 844 --prefix phone-nojs")
    assert.is_false(r.scripts)
    assert.is_true(#r.pages <= 6, h1s(r))
    assert.are.equal("Booked", r.pages[#r.pages].h1, h1s(r))
    assert.truthy(r.reference)
  end)

  it("left nothing alarming in error.log (no ngx.sleep(0) warning, no Lua error)", function()
    local log = service.error_log()
    assert.is_nil(log:find("ngx.sleep(0)", 1, true), log)
    assert.is_nil(log:find("[error]", 1, true), log)
  end)
end)
