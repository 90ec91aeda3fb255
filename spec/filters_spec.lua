-- Trust, but verify: the filters the docs do not document (`name` on
-- Client/, `clientId`, `practitionerId`, `locationId` on Appointment/) are
-- checked on the rows that come back. Against the mock honouring them and
-- against the mock ignoring them (its ignore_filters switch, as a server
-- that follows only the docs would), the CLI's --name, --client,
-- --location, --practitioner and examples/export_appointments_csv.lua give
-- the same, right rows; the client says once that the filter was ignored.
local cjson = require "cjson.safe"
local filters = require "coreplus.filters"
local testing = require "coreplus.testing"
local H = dofile("spec/support/cli.lua")
local M = dofile("spec/support/mock_http.lua")
local F = dofile("spec/support/files.lua")

describe("filters: the rules", function()
  local id, name = filters.rules.id, filters.rules.name

  it("id: equal ignoring case, any of a list, through lists and objects", function()
    local appt = { clients = { { clientId = "AB-1" } }, practitioner = { practitionerId = "p1" }, locationId = "L" }
    assert.is_true(id("ab-1", appt, { "clients.clientId" }))
    assert.is_false(id("ab-2", appt, { "clients.clientId" }))
    assert.is_true(id({ "x", "P1" }, appt, { "practitioner.practitionerId", "practitionerId" }))
    assert.is_true(id("P1", { practitionerId = "p1" }, { "practitioner.practitionerId", "practitionerId" }))
    assert.is_nil(id("L", { subject = "no location here" }, { "locationId" }))
  end)

  it("name: inside the name as a person writes it, ignoring case and spaces", function()
    local c = { firstName = "Ada", middleName = "King", lastName = "Lovelace", preferredName = "Countess" }
    for _, text in ipairs{ "love", "ADA", "ada lovelace", " Lovelace,  Ada ", "lovelace ada", "ada king lovelace",
      "countess lovelace", "king" } do
      assert.is_true(name(text, c), text)
    end
    assert.is_false(name("babbage", c))
    assert.is_false(name("ada babbage", c))
    assert.is_nil(name("x", { clientId = "c" }))
  end)

  it("keeps a row that cannot be judged, drops one that does not match, counts per filter", function()
    local spec = { filters = { clientId = { rule = "id", fields = { "clients.clientId" } } } }
    local checks = filters.checks(spec, { clientId = "c1", startDate = "2025-01-01" })
    local rows = { { clients = { { clientId = "c1" } } }, { clients = { { clientId = "c2" } } }, { subject = "?" } }
    local kept, dropped = filters.apply(checks, rows)
    assert.equal(2, #kept)
    assert.same({ clientId = 1 }, dropped)
    assert.is_nil(filters.checks(spec, { startDate = "2025-01-01" }))
    assert.equal(rows, (filters.apply(nil, rows)))
  end)
end)

describe("filters the server may ignore, against the mock both ways", function()
  local MONTH = M.future_month()
  local FROM, TO = MONTH .. "-03", MONTH .. "-09"
  local mock, env, cp

  -- The CLI's rows (JSON lines) and its stderr.
  local function cli(...)
    local r = H.run(env, ...)
    assert.equal(0, r.code, r.err)
    local rows = {}
    for _, l in ipairs(H.lines(r.out)) do rows[#rows + 1] = assert(cjson.decode(l)) end
    return rows, r.err
  end

  local function ids(rows, key)
    local out = {}
    for i, row in ipairs(rows) do out[i] = row[key] end
    return out
  end

  local function count(text, needle)
    local n = 0
    for _ in text:gmatch(needle) do n = n + 1 end
    return n
  end

  -- What each filter should give, worked out here from unfiltered lists.
  local want = {}

  setup(function()
    mock = testing.server{ rate_limit = false, month = MONTH }
    env = H.env_of(mock, { COREPLUS_USER_AGENT = "filters-spec/1.0" })
    cp = mock:client{ user_agent = "filters-spec/1.0" }
    local smith = {}
    for _, c in ipairs(assert(cp.clients:all{})) do
      if (c.firstName .. " " .. c.lastName):lower():find("smith", 1, true) then smith[#smith + 1] = c.clientId end
    end
    want.smith = smith
    local loc = assert(cp.locations:all{})[1]
    want.loc, want.tz = loc.locationId, loc.timeZone.timezoneId
    local appts = assert(cp.appointments:all{ startDate = FROM, endDate = TO, timezoneId = want.tz })
    want.client = appts[1].clients[1].clientId
    want.prac = appts[1].practitioner.practitionerId
    local by = { client = {}, prac = {}, loc = {} }
    for _, a in ipairs(appts) do
      if a.clients[1].clientId == want.client then by.client[#by.client + 1] = a.appointmentId end
      if a.practitioner.practitionerId == want.prac then by.prac[#by.prac + 1] = a.appointmentId end
      if a.locationId == want.loc then by.loc[#by.loc + 1] = a.appointmentId end
    end
    want.appts = by
    assert.is_true(#smith > 5 and #by.client > 0 and #by.prac > 1 and #by.loc > 1)
  end)
  teardown(function() if mock then mock:stop() end end)

  for _, ignore in ipairs{ false, true } do
    local how = ignore and "ignoring them" or "honouring them"

    describe("a server " .. how, function()
      before_each(function() mock:switches{ ignore_filters = ignore } end)

      it("clients --name: the matching clients, and page 2 of them", function()
        local rows, err = cli("clients", "--name", "Smith", "--jsonl")
        assert.same(want.smith, ids(rows, "clientId"))
        assert.equal(ignore and 1 or 0, count(err, "ignored the filter name=Smith"))
        rows = cli("clients", "--name", "smith", "--page-size", "3", "--page", "2", "--jsonl")
        assert.same({ want.smith[4], want.smith[5], want.smith[6] }, ids(rows, "clientId"))
        rows = cli("clients", "--name", "Smith", "--all", "--jsonl")
        assert.same(want.smith, ids(rows, "clientId"))
      end)

      it("appointments --client, --practitioner and --location", function()
        local window = { "--from", FROM, "--to", TO, "--timezone", want.tz, "--all", "--jsonl" }
        local function appts(flag, value)
          local rows, err = cli("appointments", flag, value, table.unpack(window))
          return ids(rows, "appointmentId"), err
        end
        local got, err = appts("--client", want.client)
        assert.same(want.appts.client, got)
        assert.equal(ignore and 1 or 0, count(err, "ignored the filter clientId="))
        assert.same(want.appts.prac, (appts("--practitioner", want.prac)))
        assert.same(want.appts.loc, (appts("--location", want.loc)))
      end)

      it("examples/export_appointments_csv.lua writes each appointment once", function()
        local dir = F.tmpdir()
        local out = dir .. "/appointments.csv"
        local cmd = { "env" }
        for k, v in pairs(env) do
          if v ~= false then cmd[#cmd + 1] = k .. "=" .. F.q(v) end
        end
        cmd[#cmd + 1] = "lua5.4 examples/export_appointments_csv.lua " .. F.q(out) .. " " .. FROM .. " " .. TO
        assert.is_true(F.sh(table.concat(cmd, " ") .. " 2>" .. F.q(dir .. "/err")))
        local seen, rows = {}, 0
        for line in (F.read(out) or ""):gmatch("[^\r\n]+") do
          local appt_id = line:match("^([^,]+)")
          if appt_id ~= "appointmentId" then
            assert.is_nil(seen[appt_id], "written twice: " .. appt_id)
            seen[appt_id] = true
            rows = rows + 1
          end
        end
        F.sh("rm -rf " .. F.q(dir))
        -- every location's appointments, each once
        local expected = 0
        for _, loc in ipairs(assert(cp.locations:all{})) do
          mock:switches{ ignore_filters = false }
          expected = expected + #assert(cp.appointments:all{ startDate = FROM, endDate = TO,
            timezoneId = loc.timeZone.timezoneId, locationId = loc.locationId })
        end
        assert.equal(expected, rows)
      end)
    end)
  end
end)
