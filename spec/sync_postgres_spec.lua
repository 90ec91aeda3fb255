-- coreplus.sync into PostgreSQL 15 (a private server: spec/support/postgres.lua,
-- a database per case), against the mock: the cases are
-- spec/support/sync_cases.lua's; PostgreSQL's own are below.
local pg = dofile("spec/support/postgres.lua")
local sync = require "coreplus.sync"
local testing = require "coreplus.testing"

local installed, why = pg.installed()
if not installed then
  describe("coreplus.sync into PostgreSQL", function() pending(why) end)
  return
end
local server = assert(pg.start())   -- installed but not starting: a failure, not a pending
teardown(function() server:stop() end)

local n = 0
local function fresh_url()
  n = n + 1
  local name = "case" .. n
  assert(server:psql("CREATE DATABASE " .. name) == "", "CREATE DATABASE failed")
  return server.url:gsub("/postgres$", "/" .. name)
end

dofile("spec/support/sync_cases.lua"){ name = "PostgreSQL", describe = describe, it = it, lazy_setup = lazy_setup,
  lazy_teardown = lazy_teardown, before_each = before_each, fresh_url = fresh_url }

describe("coreplus.sync into PostgreSQL, its own", function()
  local mock
  lazy_setup(function() mock = testing.server{ clients = 20, rate_limit = false } end)
  lazy_teardown(function() if mock then mock:stop() end end)

  local function options()
    return { base_url = mock.base_url, consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token, cafile = mock.cafile, shared_limit = false, rate = 500,
      user_agent = "sync-spec/1.0", issuer = "https://sync-spec.example" }
  end

  it("stores data as jsonb and the filter columns typed, queryable as such", function()
    local url = fresh_url()
    assert.is_true(sync.run{ to = url, practice = "north", options = options(),
      resources = { "clients", "appointments", "invoices" } }.ok)
    local db = assert(sync.open(url))
    local types = {}
    for _, r in ipairs(db:query("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
      .. " WHERE column_name IN ('data', 'starts_at', 'date_of_birth', 'amount_owing', 'synced_at')")) do
      types[r[1]] = r[2]
    end
    assert.are.equal("jsonb", types["clients.data"])
    assert.are.equal("timestamp with time zone", types["appointments.starts_at"])
    assert.are.equal("date", types["clients.date_of_birth"])
    assert.are.equal("numeric", types["invoices.amount_owing"])
    local r = db:query("SELECT count(*) FROM clients WHERE data->>'lastName' = last_name")[1]
    assert.are.equal(20, tonumber(r[1]))
    r = db:query("SELECT count(*) FROM appointments WHERE starts_at < ends_at AND data->>'appointmentId' = id")[1]
    assert.is_true(tonumber(r[1]) > 0)
    db:close()
  end)

  it("a database or user the server does not know is a database error that says where to look", function()
    for _, url in ipairs{ (server.url:gsub("/postgres$", "/no_such_db")),
      (server.url:gsub("postgres://postgres@", "postgres://no_such_user:pw@")) } do
      local db, err = sync.open(url)
      assert.is_nil(db)
      assert.are.equal("database", err.kind)
      assert.matches("database, user or password", err.hint, 1, true)
      assert.is_nil(tostring(err):find(":pw@", 1, true))
    end
  end)

  it("binds every value as a parameter: a name full of SQL is stored as it is", function()
    local url = fresh_url()
    local cp = mock:client{ shared_limit = false, user_agent = "sync-spec/1.0", issuer = "https://sync-spec.example" }
    local evil = "O'Brien'); DROP TABLE clients; --"
    assert(cp.clients:create{ firstName = "Robert", lastName = evil, dateOfBirth = "1990-01-02" })
    assert.is_true(sync.run{ to = url, practice = "it's; --", options = options(), resources = { "clients" } }.ok)
    local db = assert(sync.open(url))
    local r = db:query("SELECT practice, last_name FROM clients WHERE last_name = ?", evil)[1]
    assert.are.same({ "it's; --", evil }, { r[1], r[2] })
    assert.are.equal(21, db:count("clients", "it's; --"))
    db:close()
  end)

  it("connects again when the server dropped its session between runs", function()
    local url = fresh_url()
    local s = assert(sync.new{ to = url, practice = "north", options = options(), resources = { "locations" } })
    assert.is_true(s:run().ok)
    server:psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'coreplus sync'")
    local report = s:run()
    assert.is_true(report.ok, tostring(report.practices[1].error))
    assert.are.equal(3, report.practices[1].resources[1].unchanged)
    s:close()
  end)

  it("holds a practice's lock for its connection's life: another session is refused until it ends", function()
    local url = fresh_url()
    local a = assert(sync.open(url))
    assert(a:lock("north"))
    local b = assert(sync.open(url))
    local ok, err = b:lock("north")
    assert.is_nil(ok)
    assert.are.equal("locked", err.kind)
    assert.is_true(b:lock("south"))
    a:close()   -- the session ends: so does its lock
    assert.is_true(b:lock("north"))
    b:close()
  end)
end)
