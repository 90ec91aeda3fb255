-- The behaviour of coreplus.sync, run against the mock into one database
-- kind: spec/sync_sqlite_spec.lua and spec/sync_postgres_spec.lua call it
-- with their busted functions (a dofile'd file cannot see them) and a
-- function giving a fresh, empty database URL.
--   dofile("spec/support/sync_cases.lua"){ describe =, it =, lazy_setup =,
--     lazy_teardown =, before_each =, name =, fresh_url = function() -> url }
local assert = require "luassert"
local testing = require "coreplus.testing"
local sync = require "coreplus.sync"
local job_mod = require "coreplus.sync.job"

return function(B)
  local describe, it = B.describe, B.it
  local mock, url, api

  local function options(token)
    return { base_url = mock.base_url, consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = token or mock.access_token, cafile = mock.cafile, shared_limit = false, rate = 500,
      retries = 0, user_agent = "sync-spec/1.0", issuer = "https://sync-spec.example" }
  end

  local function new_sync(extra)
    local o = { to = url, practice = "north", options = options() }
    for k, v in pairs(extra or {}) do o[k] = v end
    return assert(sync.new(o))
  end

  local function resource(report, name, practice)
    for _, p in ipairs(report.practices) do
      if practice == nil or p.practice == practice then
        for _, r in ipairs(p.resources) do if r.resource == name then return r end end
      end
    end
  end

  local function scalar(s, sql, ...)
    return s.db:query(sql, ...)[1][1]
  end

  local function count(s, tbl, practice)
    return s.db:count(tbl, practice or "north")
  end

  describe("coreplus.sync into " .. B.name, function()
    B.lazy_setup(function()
      mock = testing.server{ clients = 180, rate_limit = false, tenants = 2 }
      api = mock:client{ shared_limit = false, rate = 500, user_agent = "sync-spec-api/1.0" }
    end)
    B.lazy_teardown(function() if mock then mock:stop() end end)
    B.before_each(function()
      mock:reset()
      url = B.fresh_url()
    end)

    it("mirrors every resource on its first run: as many rows as the API lists, labelled, no token", function()
      local s = new_sync()
      local report = s:run()
      assert.is_true(report.ok)
      local appts = resource(report, "appointments")
      local expect = { clients = 180, practitioners = #assert(api.practitioners:all{}),
        locations = #assert(api.locations:all{}), appointment_types = #assert(api.appointment_types:all{}),
        invoices = #assert(api.invoices:all{}), appointments = appts.read }
      for name, n in pairs(expect) do
        assert.are.equal(n, count(s, name), name)
        assert.are.equal(n, resource(report, name).written, name)
      end
      assert.is_true(appts.read > 100)
      assert.are.equal(expect.invoices, resource(report, "payments").requests)   -- one per invoice, the first time
      assert.are.equal(0, scalar(s, "SELECT count(*) FROM clients WHERE practice <> 'north'") + 0)
      for _, row in ipairs(s.db:query("SELECT practice, resource, cursor, detail FROM sync_state")) do
        for _, v in ipairs(row) do
          assert.is_nil(tostring(v):find(mock.access_token, 1, true))
        end
      end
      assert.are.equal(7, #s.db:query("SELECT resource FROM sync_state WHERE practice = 'north'"))
      -- data is the record's JSON
      local c = assert(api.clients:list{ pageSize = 1 }).items[1]
      local data = scalar(s, "SELECT data FROM clients WHERE practice = 'north' AND id = ?", c.clientId)
      assert.are.equal(c.lastName, require("cjson").decode(data).lastName)
      s:close()
    end)

    it("reads only what changed on the next run: 5 clients changed behind its back", function()
      local s = new_sync()
      assert.is_true(s:run().ok)
      local ids = {}
      for i, row in ipairs(s.db:query("SELECT id FROM clients WHERE practice = 'north' ORDER BY id")) do
        if i <= 5 then ids[i] = row[1] end
      end
      for i, id in ipairs(ids) do
        assert(mock:admin("POST", "change", { kind = "client", id = id, fields = { lastName = "Changed" .. i } }))
      end
      local report = s:run()
      assert.is_true(report.ok)
      local clients = resource(report, "clients")
      assert.are.equal(1, clients.requests)
      assert.are.same({ 5, 5, 0 }, { clients.read, clients.written, clients.unchanged })
      for i, id in ipairs(ids) do
        assert.are.equal("Changed" .. i, scalar(s, "SELECT last_name FROM clients WHERE practice = 'north' AND id = ?",
          id))
      end
      assert.are.equal(180, count(s, "clients"))
      -- the small lists are read again, and nothing in them is written
      local practitioners = resource(report, "practitioners")
      assert.are.same({ 0, practitioners.read }, { practitioners.written, practitioners.unchanged })
      s:close()
    end)

    it("reads next time a client changed while its pages were being read (the cursor is from before them)", function()
      local s0 = new_sync{ resources = { "clients" } }
      assert.is_true(s0:run().ok)
      local first = s0.db:query("SELECT id FROM clients WHERE practice = 'north' ORDER BY id LIMIT 1")[1][1]
      s0:close()
      -- a fresh mirror: its first page is read, then the client changes, then
      -- the rest comes slowly (a cursor taken at the end would be past the change)
      url = B.fresh_url()
      local changed = false
      local s = new_sync{ resources = { "clients" }, on_event = function(ev)
        if ev.type == "progress" and ev.resource == "clients" and not changed then
          changed = true
          assert(mock:admin("POST", "change", { kind = "client", id = first, fields = { lastName = "Midway" } }))
          mock:fault{ latency = 1.5 }
        end
      end }
      local ok, report = pcall(s.run, s)
      mock:clear_faults()
      assert.is_true(ok, report)
      assert.is_true(report.ok)
      s.on_event = nil
      local again = resource(s:run(), "clients")
      assert.is_true(again.read >= 1)
      assert.are.equal("Midway", scalar(s, "SELECT last_name FROM clients WHERE practice = 'north' AND id = ?", first))
      s:close()
    end)

    it("picks up a cancellation and a move out of the window, with one request each", function()
      local s = new_sync()
      local first = resource(s:run(), "appointments")
      local rows = s.db:query("SELECT id FROM appointments WHERE practice = 'north' ORDER BY id")
      local cancelled, moved = rows[1][1], rows[2][1]
      assert(mock:admin("POST", "change", { kind = "appointment", id = cancelled, cancel = true }))
      assert(mock:admin("POST", "change", { kind = "appointment", id = moved, shift = 400 * 86400 }))
      local before = scalar(s, "SELECT starts_at FROM appointments WHERE practice = 'north' AND id = ?", moved)
      local report = s:run()
      local appts = resource(report, "appointments")
      assert.is_true(appts.ok)
      assert.are.equal(first.requests + 2, appts.requests)
      assert.are.equal("Cancelled", scalar(s, "SELECT status FROM appointments WHERE practice = 'north' AND id = ?",
        cancelled))
      local after = scalar(s, "SELECT starts_at FROM appointments WHERE practice = 'north' AND id = ?", moved)
      assert.are_not.equal(tostring(before), tostring(after))
      assert.are.equal(2, appts.written)
      -- a cancelled appointment is not asked after again
      assert.are.equal(first.requests, resource(s:run(), "appointments").requests)
      s:close()
    end)

    it("adds a payment made through the API, asking only for the invoices that changed", function()
      local s = new_sync()
      assert.is_true(s:run().ok)
      local inv = assert(api.invoices:list{ pageSize = 1 }).items[1]
      local line = assert(api.invoices:get(inv.invoiceId)).lineItems[1]
      assert(api.payments:create{ invoiceId = inv.invoiceId, payments = { { lineItemId = line.lineItemId,
        amountPaid = "12.50", datePaid = "2025-09-20" } } })
      local report = s:run()
      local payments, invoices = resource(report, "payments"), resource(report, "invoices")
      assert.is_true(payments.ok)
      assert.are.equal(invoices.read, payments.requests)
      assert.is_true(payments.requests < #assert(api.invoices:all{}))
      assert.are.equal(1, count(s, "payments"))
      local row = s.db:query("SELECT id, invoice_id, line_item_id, amount_paid FROM payments"
        .. " WHERE practice = 'north'")[1]
      assert.are.same({ inv.invoiceId .. "/" .. line.lineItemId .. "/1", inv.invoiceId, line.lineItemId, 12.5 },
        { row[1], row[2], row[3], tonumber(row[4]) })
      s:close()
    end)

    it("keeps the rows of a run stopped half-way and its old cursor; the next run completes it", function()
      local batch = job_mod.BATCH
      job_mod.BATCH = 50   -- rows per transaction: two are committed before the stop
      local pages = 0
      local s = new_sync{ resources = { "clients" }, stop = function() return pages >= 2 end,
        on_event = function(ev) if ev.type == "progress" and ev.resource == "clients" then pages = pages + 1 end end }
      local ok, report = pcall(s.run, s)
      job_mod.BATCH = batch
      assert.is_true(ok, report)
      local clients = resource(report, "clients")
      assert.are.equal("interrupted", clients.error.kind)
      local kept = count(s, "clients")
      assert.is_true(kept >= 50 and kept < 180, "kept " .. kept)
      assert.is_nil(s.db:state("north", "clients"))   -- no cursor: the next run reads all again
      pages = -math.huge
      report = s:run()
      clients = resource(report, "clients")
      assert.is_true(clients.ok)
      assert.are.same({ 180, 180 - kept, kept }, { clients.read, clients.written, clients.unchanged })
      assert.are.equal(180, count(s, "clients"))
      assert.are.equal(180, scalar(s, "SELECT count(DISTINCT id) FROM clients WHERE practice = 'north'") + 0)
      assert.is_string(s.db:state("north", "clients").cursor)
      s:close()
    end)

    it("reads everything again when a cursor is damaged, instead of failing on every run", function()
      local s = new_sync{ resources = { "clients" } }
      assert.is_true(s:run().ok)
      s.db:set_state("north", "clients", "not a time", nil, nil)
      local clients = resource(s:run(), "clients")
      assert.is_true(clients.ok)
      assert.are.same({ 180, 180 }, { clients.read, clients.unchanged })
      assert.is_string(s.db:state("north", "clients").cursor:match("^%d%d%d%d%-"))
      s:close()
    end)

    it("refuses a second sync of a practice while one runs, and writes nothing for it", function()
      local a, b = new_sync(), new_sync()
      assert(a.db:lock("north"))
      local report = b:run()
      assert.is_false(report.ok)
      assert.are.equal("locked", report.practices[1].error.kind)
      assert.are.equal(0, count(b, "clients"))
      a.db:unlock("north")
      assert.is_true(b:run().ok)
      a:close(); b:close()
    end)

    it("runs two practices at once, their rows kept apart by label", function()
      local s = new_sync{ practices = { { practice = "north", options = options(mock.access_tokens[1]) },
        { practice = "south", options = options(mock.access_tokens[2]) } }, resources = { "clients", "locations" } }
      local report = s:run()
      assert.is_true(report.ok)
      assert.are.equal(180, count(s, "clients", "north"))
      assert.are.equal(180, count(s, "clients", "south"))
      assert.are.equal(2, #report.practices)
      local tenants = {}
      for _, a in ipairs(mock:arrivals()) do tenants[a.tenant] = (tenants[a.tenant] or 0) + 1 end
      assert.are.same({ 3, 3 }, tenants)   -- 2 pages of clients and the locations, each
      s:close()
    end)

    it("creates its schema once, and refuses a database from a newer version", function()
      local s = new_sync()
      assert.are.equal(1, s.db:schema_version())
      s.db:exec("INSERT INTO sync_schema (version, applied_at) VALUES (?, ?)", "99", "2030-01-01T00:00:00Z")
      s:close()
      local again, err = sync.new{ to = url, practice = "north", options = options() }
      assert.is_nil(again)
      assert.are.equal("database", err.kind)
      assert.truthy(tostring(err):find("schema version 99", 1, true))
    end)
  end)
end
