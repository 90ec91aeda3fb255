-- Fault injection, per request (X-Mock-Fault) and per server (/__mock/faults).
local testing = require "coreplus.testing"
local core = require "coreplus.core"
local H = dofile("spec/support/mock_http.lua")

local CURL_EMPTY_REPLY, CURL_PARTIAL, CURL_TIMEOUT = 52, 18, 28

describe("mock server faults", function()
  local mock
  -- A future month: the reset_after_commit booking must not be in the past.
  local MONTH = H.future_month()
  lazy_setup(function() mock = testing.server{ rate_limit = false, month = MONTH } end)
  lazy_teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  local function with_fault(name, o)
    o = o or {}
    o.headers = o.headers or {}
    o.headers["X-Mock-Fault"] = name
    o.path = o.path or "Client/?pageSize=5"
    return H.request(mock, o)
  end

  it("reset closes the connection without a response", function()
    local res = with_fault("reset")
    assert.are.equal(0, res.status)
    assert.are.equal(CURL_EMPTY_REPLY, res.curl_rc)
  end)

  it("reset_mid_body sends headers and part of the body, then drops the connection", function()
    local res = with_fault("reset_mid_body")
    assert.are.equal(CURL_PARTIAL, res.curl_rc)
    assert.are.equal(200, res.status)
    assert.is_true(#res.body > 0)
    assert.is_true(#res.body < tonumber(res.headers["content-length"]))
  end)

  it("slow_body stalls after part of the body (past the client's timeout)", function()
    local res = with_fault("slow_body", { headers = { ["X-Mock-Delay"] = "3" }, max_time = 0.5 })
    assert.are.equal(CURL_TIMEOUT, res.curl_rc)   -- curl's 0.5 s ran out, not the 3 s
    assert.are.equal(200, res.status)
    assert.is_true(#res.body > 0)
  end)

  it("slow_body completes when the client waits long enough", function()
    local res = with_fault("slow_body", { headers = { ["X-Mock-Delay"] = "0.2" } })
    assert.are.equal(200, res.status)
    assert.are.equal(5, #res.json.clients)
  end)

  it("hang sends nothing until the client gives up", function()
    local res = with_fault("hang", { headers = { ["X-Mock-Delay"] = "3" }, max_time = 0.5 })
    assert.are.equal(CURL_TIMEOUT, res.curl_rc)
    assert.are.equal(0, res.status)
  end)

  it("truncated gives a complete response whose JSON is cut off", function()
    local res = with_fault("truncated")
    assert.are.equal(0, res.curl_rc)
    assert.are.equal(200, res.status)
    assert.are.equal(#res.body, tonumber(res.headers["content-length"]))
    assert.is_nil(res.json)
    assert.truthy(res.body:find('^{"clients":%['))
  end)

  it("malformed_json answers 200 with invalid JSON", function()
    local res = with_fault("malformed_json")
    assert.are.equal(200, res.status)
    assert.is_nil(res.json)
    assert.truthy(res.headers["content-type"]:find("application/json", 1, true))
  end)

  it("html_200 answers 200 with an HTML page", function()
    local res = with_fault("html_200")
    assert.are.equal(200, res.status)
    assert.truthy(res.headers["content-type"]:find("text/html", 1, true))
    assert.truthy(res.body:find("<html>", 1, true))
  end)

  it("500, 502, 503 (with Retry-After) and 429 answer with that status", function()
    assert.are.equal(500, with_fault("500").status)
    assert.are.equal(502, with_fault("502").status)
    assert.are.equal(502, with_fault("html_502").status)
    local res = with_fault("503", { headers = { ["X-Mock-Retry-After"] = "2" } })
    assert.are.equal(503, res.status)
    assert.are.equal("2", res.headers["retry-after"])
    assert.are.equal("1", with_fault("503").headers["retry-after"])
    res = with_fault("429")
    assert.are.equal(429, res.status)
    assert.is_nil(res.headers["retry-after"])
  end)

  it("redirect points at another host name; Authorization does not follow it", function()
    local res = with_fault("redirect")
    assert.are.equal(302, res.status)
    assert.truthy(res.headers["location"]:find("^https://localhost:%d+/__mock/echo%-headers"))
    res = with_fault("redirect", { extra = "--location" })
    assert.are.equal(200, res.status)
    local echo = mock:admin("GET", "last-echo")
    assert.is_table(echo.headers)
    assert.is_nil(echo.headers.authorization)
    assert.are.equal(1, mock:stats().echo_requests)
  end)

  it("big_body sends a valid JSON body of the asked size", function()
    local res = with_fault("big_body", { headers = { ["X-Mock-Size-MB"] = "2" } })
    assert.are.equal(200, res.status)
    assert.are.equal(2 * 1048576, #res.body)
    assert.is_table(res.json)
  end)

  it("reset_after_commit stores the booking, then drops the connection", function()
    local prac = H.get(mock, "Practitioner/").json.practitioners[1]
    local client = H.get(mock, "Client/?pageSize=1").json.clients[1]
    local slot = H.get(mock, "AvailabilitySlot/?startDate=" .. MONTH .. "-10&endDate=" .. MONTH .. "-20&timezoneId=" ..
      H.MELBOURNE .. "&practitionerId=" .. prac.practitionerId).json.timeslots[1]
    -- A free block without appointmentTypeId: bookable as a whole.
    local start, finish = slot.startDateTime:gsub(" ", ""), slot.endDateTime:gsub(" ", "")
    local res = H.post(mock, "Appointment/", {
      startDateTime = start, endDateTime = finish, practitioner = { practitionerId = prac.practitionerId },
      locationId = slot.locationId, clients = { { clientId = client.clientId } } },
      { headers = { ["X-Mock-Fault"] = "reset_after_commit" } })
    assert.are.equal(CURL_EMPTY_REPLY, res.curl_rc)
    assert.are.equal(1, mock:stats().bookings)
  end)

  it("a counted per-request fault fails the first n requests with the same key", function()
    local hdr = { ["X-Mock-Fault"] = "503", ["X-Mock-Fault-Count"] = "2", ["X-Mock-Fault-Key"] = "spec-k" }
    local codes = {}
    for i = 1, 3 do codes[i] = H.get(mock, "Location/", { headers = hdr }).status end
    assert.are.same({ 503, 503, 200 }, codes)
  end)

  it("a server-wide fault with a count applies to that many requests, then stops", function()
    mock:fault{ fault = "503", count = 2, retry_after = 1 }
    local codes = {}
    for i = 1, 3 do codes[i] = H.get(mock, "Location/").status end
    assert.are.same({ 503, 503, 200 }, codes)
    local s = mock:stats()
    assert.are.equal(2, s.faults)
    assert.are.equal(2, s.by_fault["503"])
  end)

  it("a server-wide fault can be limited to a path and cleared", function()
    mock:fault{ fault = "500", path = "/practitioner" }
    assert.are.equal(200, H.get(mock, "Location/").status)
    assert.are.equal(500, H.get(mock, "Practitioner/").status)
    mock:fault{}
    assert.are.equal(200, H.get(mock, "Practitioner/").status)
    mock:fault{ fault = "500" }
    assert.are.equal(500, H.get(mock, "Location/").status)
    local null = require("cjson").null
    assert.are.equal(null, mock:admin("POST", "faults", { fault = null }).fault)
    assert.are.equal(200, H.get(mock, "Location/").status)
  end)

  it("refuses an unknown fault name", function()
    assert.are.equal(400, with_fault("gremlins").status)
    assert.has_error(function() mock:fault{ fault = "gremlins" } end)
  end)

  it("adds per-request latency (X-Mock-Latency) and server-wide latency", function()
    local t = core.now()
    assert.are.equal(200, H.get(mock, "Location/", { headers = { ["X-Mock-Latency"] = "0.3" } }).status)
    assert.is_true(core.now() - t >= 0.3)
    mock:fault{ latency = 0.25 }
    t = core.now()
    H.get(mock, "Location/")
    assert.is_true(core.now() - t >= 0.25)
    mock:clear_faults()
    t = core.now()
    H.get(mock, "Location/")
    assert.is_true(core.now() - t < 0.25)
  end)
end)
