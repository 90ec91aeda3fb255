-- Versions that find their way: an operation whose pinned version answers
-- route-not-found is tried once under the other version the catalogue
-- names; the one that answers is remembered (per client; across CLI runs in
-- the runtime directory) and said once. A write is repeated only when the
-- first answer proves it was not processed. Against the mock's v2_only
-- switch (a resource served under v2 only).
local cjson = require "cjson.safe"
local testing = require "coreplus.testing"
local H = dofile("spec/support/cli.lua")
local M = dofile("spec/support/mock_http.lua")
local F = dofile("spec/support/files.lua")

describe("API versions: a resource served under v2 only", function()
  local MONTH = M.future_month()
  local mock

  setup(function() mock = testing.server{ rate_limit = false, month = MONTH } end)
  teardown(function() if mock then mock:stop() end end)
  before_each(function() mock:reset() end)

  local function hits(path)
    return mock:stats().by_path[path] or 0
  end

  local function client()
    local said = {}
    local cp = mock:client{ user_agent = "versions-spec/1.0", log = function(message, key)
      said[#said + 1] = { key = key, message = message }
    end }
    return cp, said
  end

  it("the library lists it, tries v2.1 once, remembers v2 and says so once", function()
    mock:switches{ v2_only = { "Location" } }
    local cp, said = client()
    local first = assert(cp.locations:all{})
    assert.equal(3, #first)
    assert.equal(3, #assert(cp.locations:all{}))
    assert.equal(1, hits("/API/Core/v2.1/Location/"))
    assert.equal(2, hits("/API/Core/v2/Location/"))
    assert.same({ ["locations:list"] = "v2" }, cp:found_versions())
    assert.equal(1, #said)
    assert.matches("Location/ has no route under API version v2.1", said[1].message)
    assert.matches("v2 answers", said[1].message)
    -- another client starts from what this one found
    local other = client()
    other:learn_versions(cp:found_versions())
    assert(other.locations:list{})
    assert.equal(1, hits("/API/Core/v2.1/Location/"))
  end)

  it("next_free finds a slot when Location/ and AvailabilitySlot/ answer under v2 only", function()
    mock:switches{ v2_only = { "Location", "AvailabilitySlot" } }
    local cp = client()
    local loc = assert(cp.locations:all{})[1]
    local slot = assert(cp.availability_slots:next_free{ locationId = loc.locationId,
      from = MONTH .. "-10T00:00:00+10:00" })
    assert.equal(MONTH, slot.startDateTime:sub(1, 7))
    assert.equal("v2", cp:found_versions()["availability_slots:list"])
  end)

  it("books once when Appointment/ is v2 only: the route-not-found POST was not processed", function()
    mock:switches{ v2_only = { "Appointment" } }
    local cp, said = client()
    local loc = assert(cp.locations:all{})[1]
    local atype = assert(cp.appointment_types:all{})[1]
    local slot = assert(cp.availability_slots:next_free{ locationId = loc.locationId,
      from = MONTH .. "-10T00:00:00+10:00", appointmentTypeId = atype.appointmentTypeId })
    local who = assert(cp.clients:list{ pageSize = 1 }).items[1]
    local appt = assert(cp.appointments:book{ startDateTime = slot.startDateTime, endDateTime = slot.endDateTime,
      practitioner = { practitionerId = slot.practitionerId }, locationId = slot.locationId,
      clients = { { clientId = who.clientId } } })
    assert.truthy(appt.appointmentId)
    assert.equal(1, mock:stats().bookings_created)
    assert.equal(1, hits("/API/Core/v2.1/Appointment/"))
    assert.equal(1, hits("/API/Core/v2/Appointment/"))
    -- cancelling is another operation on the same POST Appointment/: found again, said once in all
    assert(cp.appointments:cancel(appt.appointmentId))
    local posts = 0
    for _, s in ipairs(said) do
      if s.message:find("^POST Appointment/ has no route") then posts = posts + 1 end
    end
    assert.equal(1, posts)
  end)

  it("never repeats a write whose answer is not route-not-found (a missing record, a server error)", function()
    local cp = client()
    local loc = assert(cp.locations:all{})[1]
    local body = { startDateTime = MONTH .. "-10T10:00:00+10:00", endDateTime = MONTH .. "-10T10:30:00+10:00",
      practitioner = { practitionerId = "00000000-0000-4000-8000-000000000000" }, locationId = loc.locationId,
      clients = { { clientId = "00000000-0000-4000-8000-000000000001" } } }
    local appt, err = cp.appointments:book(body)
    assert.is_nil(appt)
    assert.equal("not_found", err.kind)
    assert.is_nil(err.no_route)
    mock:fault{ fault = "500", path = "/appointment", method = "POST" }
    appt, err = cp.appointments:book(body)
    assert.is_nil(appt)
    assert.equal("unknown", err.outcome)
    mock:clear_faults()
    assert.equal(2, hits("/API/Core/v2.1/Appointment/"))
    assert.equal(0, hits("/API/Core/v2/Appointment/"))
    assert.same({}, cp:found_versions())
  end)

  it("says neither version has a route when both answer route-not-found", function()
    mock:switches{ v2_only = { "Location" } }
    local cp = client()
    cp:learn_versions{ ["locations:list"] = "v2.1" }   -- a stale memory, and v2.1 has none
    assert(cp.locations:list{})
    assert.equal("v2", cp:found_versions()["locations:list"])
    local _, err = cp.files:upload{ clientId = "c", name = "x.txt", data = "x" }
    assert.is_nil(err.no_route)   -- File/ is served under v2.1, the one version it is known under
  end)

  describe("the CLI", function()
    local env, runtime

    before_each(function()
      runtime = F.tmpdir()
      env = H.env_of(mock, { XDG_RUNTIME_DIR = runtime, COREPLUS_USER_AGENT = "versions-spec/1.0" })
    end)
    after_each(function() F.sh("rm -rf " .. F.q(runtime)) end)

    it("lists it, says so once, and the next run goes straight to v2", function()
      mock:switches{ v2_only = { "Location" } }
      local r = H.run(env, "locations", "--jsonl")
      assert.equal(0, r.code, r.err)
      assert.equal(3, #H.lines(r.out))
      assert.equal(1, select(2, r.err:gsub("no route under API version v2.1", "")))
      r = H.run(env, "locations", "--jsonl")
      assert.equal(0, r.code, r.err)
      assert.equal(3, #H.lines(r.out))
      assert.equal("", r.err)
      assert.equal(1, hits("/API/Core/v2.1/Location/"))
      assert.matches("locations:list\tv2", F.read(runtime .. "/coreplus-versions"))
    end)

    it("slots --location finds the zone and the slots under v2", function()
      mock:switches{ v2_only = { "Location", "AvailabilitySlot" } }
      local loc = assert(mock:client{ user_agent = "v/1", version = "v2" }.locations:all{})[1]
      local r = H.run(env, "slots", "--location", loc.locationId, "--from", MONTH .. "-10", "--jsonl")
      assert.equal(0, r.code, r.err)
      assert.is_true(#H.lines(r.out) > 0)
      assert.is_string(cjson.decode(H.lines(r.out)[1]).startDateTime)
    end)

    it("doctor names the version that works and how to pin it", function()
      mock:switches{ v2_only = { "Location" } }
      local r = H.run(env, "doctor")
      local line = r.out:match("[^\n]*GET Location/[^\n]*\n[^\n]*")
      assert.matches("under API version v2 only", line)
      assert.matches("%-%-api%-version v2", line)
      assert.equal(0, r.code, r.out .. r.err)
    end)
  end)
end)
