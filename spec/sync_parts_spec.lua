-- coreplus.sync's parts without a server: database URLs, the rows' columns,
-- the stable JSON of `data`, the progress lines, the exit statuses.
local url = require "coreplus.sync.url"
local schema = require "coreplus.sync.schema"
local job = require "coreplus.sync.job"
local json = require "coreplus.json"
local progress = require "coreplus.sync.progress"
local cli_sync = require "coreplus.cli.sync"
local errors = require "coreplus.errors"
local core = require "coreplus.core"

describe("sync database URLs", function()
  it("reads sqlite:PATH and postgres URLs, the password to the last @ and percent-decoded", function()
    assert.are.same({ kind = "sqlite", path = "mirror.db" }, url.parse("sqlite:mirror.db"))
    assert.are.same({ kind = "sqlite", path = "/abs/m.db" }, url.parse("sqlite:///abs/m.db"))
    assert.are.same({ kind = "postgres", user = "sync", password = "p@ss:w/rd", host = "db.example", port = 5433,
      database = "mirror" }, url.parse("postgres://sync:p@ss:w%2Frd@db.example:5433/mirror"))
    assert.are.same({ kind = "postgres", user = "sync", host = "127.0.0.1", port = 5432, database = "m" },
      url.parse("postgresql://sync@127.0.0.1/m"))
  end)

  for _, bad in ipairs{ "", "mysql://x/y", "sqlite:", "sqlite::memory:", "postgres://host/db",
    "postgres://u@host:99999/db", "postgres://u@host" } do
    it("refuses " .. bad .. " with a reason", function()
      local r, why = url.parse(bad)
      assert.is_nil(r)
      assert.is_string(why)
    end)
  end

  it("never shows the password", function()
    assert.are.equal("postgres://sync:***@h:1/d", url.redacted("postgres://sync:s3cr@t@h:1/d"))
    local _, why = url.parse("postgres://sync:s3cret@h:1")
    assert.is_nil(why:find("s3cret", 1, true))
  end)
end)

describe("sync rows", function()
  it("fills the filter columns from the record, times as UTC", function()
    local appt = { appointmentId = "a1", status = "Booked", startDateTime = "2021-09-07T09:00:00 +10:00",
      endDateTime = "2021-09-07T09:30:00+10:00", practitioner = { practitionerId = "p1" }, locationId = "l1",
      appointmentTypeId = "t1", clients = { { clientId = "c1" } } }
    local row = job.row("appointments", appt)
    assert.are.equal("a1", row.id)
    assert.are.same({ "Booked", "2021-09-06T23:00:00Z", "2021-09-06T23:30:00Z", "p1", "l1", "t1", "c1" },
      row.values)
    local client = job.row("clients", { clientId = "c9", firstName = "Ann", lastName = "Lee",
      dateOfBirth = "1972-07-02T00:00:00", practitionerId = core.json_decode("null") })
    assert.are.same({ "Ann", "Lee", "1972-07-02" }, client.values)   -- null practitioner: NULL
    local inv = job.row("invoices", { invoiceId = "i1", invoiceNumber = "210603-1", clientId = "c1",
      generatedAt = "2021-06-03", amountOwing = "50.0" })
    assert.are.same({ "210603-1", "c1", "2021-06-03", "50.0" }, inv.values)
  end)

  it("leaves a time without an offset NULL (the instant would be a guess), and a record without id out", function()
    assert.is_nil(schema.utc("2021-09-07T09:00:00"))
    assert.is_nil(job.row("clients", { firstName = "No id" }))
    assert.are.equal("1", job.row("clients", { clientId = 1 }).id)
  end)

  it("stores the same record as the same text whatever its keys' order", function()
    local a = core.json_decode('{"b":1,"a":{"y":[1,2],"x":"s/t"},"lineItems":[],"n":null,"f":50.5}')
    local b = core.json_decode('{"f":50.5,"n":null,"lineItems":[],"a":{"x":"s/t","y":[1,2]},"b":1}')
    assert.are.equal(json.encode(a), json.encode(b))
    assert.are.equal('{"a":{"x":"s/t","y":[1,2]},"b":1,"f":50.5,"lineItems":[],"n":null}', json.encode(a))
  end)

  it("has one table per resource and a state table in its DDL, for both databases", function()
    for _, dialect in ipairs{ "sqlite", "postgres" } do
      local ddl = schema.ddl(dialect)
      for _, r in ipairs(schema.RESOURCES) do
        assert.truthy(ddl:find("CREATE TABLE " .. r .. " (", 1, true), r)
      end
      assert.truthy(ddl:find("CREATE TABLE sync_state", 1, true))
    end
    assert.truthy(schema.ddl("postgres"):find("data jsonb NOT NULL", 1, true))
    assert.truthy(schema.ddl("sqlite"):find("data TEXT NOT NULL", 1, true))
  end)
end)

describe("sync progress lines", function()
  it("shows one line per practice and resource, redrawn in place", function()
    local out, t = {}, 0
    local p = progress.new{ write = function(s) out[#out + 1] = s end, now = function() return t end,
      practices = { "north", "south" }, resources = { "clients" }, interval = 1 }
    p:event{ type = "progress", practice = "north", resource = "clients", read = 100, total = 537, written = 100,
      unchanged = 0, deleted = 0, requests = 1, rate_limited = 0 }
    t = 0.5
    p:event{ type = "progress", practice = "north", resource = "clients", read = 200, total = 537, written = 200,
      unchanged = 0, deleted = 0, requests = 2, rate_limited = 0 }
    assert.are.equal(1, #out)   -- within the interval: not redrawn
    p:event{ type = "resource_done", practice = "north", resource = "clients", read = 537, total = 537,
      written = 537, unchanged = 0, deleted = 0, requests = 6, rate_limited = 0, seconds = 1.2 }
    assert.are.equal(2, #out)
    assert.truthy(out[2]:find("^\27%[2A"))   -- back up over the two lines drawn
    local lines = p:lines()
    assert.truthy(lines[1]:find("north  clients           done      537/537 read  537 written  0 unchanged"
      .. "  6 requests  0 x 429  1.2 s", 1, true), lines[1])
    assert.truthy(lines[2]:find("south  clients           waiting", 1, true), lines[2])
  end)
end)

describe("sync exit statuses", function()
  local function report(...)
    local resources = {}
    for i, kind in ipairs{ ... } do
      resources[i] = { resource = "r" .. i, ok = kind == false, error = kind and errors.new{ kind = kind } or nil }
    end
    return { practices = { { practice = "p", resources = resources } } }
  end

  it("says what failed: database over API over locked over interrupted", function()
    assert.are.equal(0, cli_sync.status(report(false, false)))
    assert.are.equal(5, cli_sync.status(report(false, "interrupted")))
    assert.are.equal(4, cli_sync.status(report("interrupted", "locked")))
    assert.are.equal(1, cli_sync.status(report("locked", "server", "interrupted")))
    assert.are.equal(1, cli_sync.status(report("rate_limited")))
    assert.are.equal(3, cli_sync.status(report("server", "database")))
  end)
end)

describe("docs/sync.md", function()
  it("names every table and every column of the schema", function()
    local f = assert(io.open("docs/sync.md"))
    local doc = f:read("a")
    f:close()
    for _, name in ipairs(schema.RESOURCES) do
      local line = doc:match("\n| `" .. name .. "` |[^\n]*")
      assert.is_not_nil(line, name)
      for _, c in ipairs(schema.TABLES[name].columns) do
        assert.truthy(line:find("`" .. c[1] .. "`", 1, true), name .. "." .. c[1])
      end
    end
    for _, t in ipairs{ "sync_state", "sync_schema" } do assert.truthy(doc:find("`" .. t .. "`", 1, true), t) end
  end)
end)

describe("core.catch_signals", function()
  it("turns SIGTERM into a flag the program reads, until released", function()
    assert.is_true(core.catch_signals())
    assert.is_nil(core.caught_signal())
    os.execute("kill -TERM $PPID")   -- the shell's parent: this process
    assert.are.equal("TERM", core.caught_signal())
    assert.are.equal("TERM", core.caught_signal())   -- it stays until released
    assert.is_true(core.release_signals())
    assert.is_nil(core.caught_signal())
  end)
end)
