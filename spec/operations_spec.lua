-- Every documented operation at its documented version, with its fields in
-- the documented forms (stub transport, no network): versions per row,
-- local checks, datetimes, amounts, updatedSince, changed_since, next_free,
-- uploads and messages, the user agent.
local coreplus = require "coreplus"
local stub_mod = require "coreplus.testing.stub"

local CREDS = { consumer_id = "cid-1", consumer_secret = "secret-1", access_token = "tok-1" }

local function setup(extra)
  local stub = stub_mod.new(CREDS)
  local o = { base_url = "https://coreplus.test", transport = stub, user_agent = "spec-app/1.0" }
  for k, v in pairs(CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return stub, coreplus.new(o)
end

local function last(stub) return stub.requests[#stub.requests] end

local function raises(fn, text)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.matches(text, tostring(err), 1, true)
end

describe("operations: each at its documented version", function()
  local cases = {
    { "client_family:create", "POST", "ClientFamily/", "v2", function(cp)
      return cp.client_family:create{ clientId = "c1", firstName = "Ada", surname = "Lovelace" } end },
    { "appointment_types:create", "POST", "AppointmentType/", "v2", function(cp)
      return cp.appointment_types:create{ description = "Consult" } end },
    { "appointment_types:list", "GET", "AppointmentType/", "v2.1", function(cp)
      return cp.appointment_types:list{} end },
    { "invoices:list", "GET", "Invoice/", "v2", function(cp) return cp.invoices:list{} end },
    { "invoices:get", "GET", "Invoice/i1", "v2", function(cp) return cp.invoices:get("i1") end },
    { "payments:list", "GET", "Payment/", "v2", function(cp) return cp.payments:list{ invoiceId = "i1" } end },
    { "payments:create", "POST", "Payment/", "v2", function(cp)
      return cp.payments:create{ invoiceId = "i1", payments = { { lineItemId = "l", amountPaid = "1.00" } } } end },
    { "clients:list", "GET", "Client/", "v2.1", function(cp) return cp.clients:list{} end },
    { "files:upload", "POST", "File/", "v2.1", function(cp)
      return cp.files:upload{ clientId = "c1", name = "a.txt", data = "hello" } end },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " goes to /API/Core/" .. c[4] .. "/" .. c[3], function()
      local stub, cp = setup()
      stub:on(c[2], c[3], { body = {} })
      assert.truthy(c[5](cp))
      assert.equal("https://coreplus.test/API/Core/" .. c[4] .. "/" .. c[3], last(stub).url:match("^[^?]*"))
    end)
  end

  it("a client's version applies to rows without one; a per-call version overrides both", function()
    local stub, cp = setup{ version = "v2" }
    stub:on("GET", "Location/", { body = { locations = {} } })
    stub:on("GET", "Invoice/", { body = { invoices = {} } })
    cp.locations:list{}
    assert.matches("/API/Core/v2/Location/", last(stub).url, 1, true)
    cp:request("GET", "Invoice/", { version = "v3" })
    assert.matches("/API/Core/v3/Invoice/", last(stub).url, 1, true)
  end)
end)

describe("operations: local checks", function()
  it("ClientFamily needs clientId, firstName and surname, before anything is sent", function()
    local stub, cp = setup()
    raises(function() cp.client_family:create{ clientId = "c1", firstName = "Ada" } end,
      "missing required field 'surname'")
    assert.equal(0, #stub.requests)
  end)

  it("payments: numbers go out as strings with 2 decimals; bad amounts are refused by name", function()
    local stub, cp = setup()
    stub:on("POST", "Payment/", { body = {} })
    cp.payments:create{ invoiceId = "i", payments = { { lineItemId = "l", amountPaid = 40.5 },
      { lineItemId = "m", amountPaid = "70" } } }
    assert.equal("40.50", last(stub).body.payments[1].amountPaid)
    assert.equal("70", last(stub).body.payments[2].amountPaid)
    for _, bad in ipairs{ 40.555, -1, "40.555", "-3", "abc", 0 / 0 } do
      raises(function() cp.payments:create{ invoiceId = "i", payments = { { amountPaid = bad } } } end,
        "field 'payments[1].amountPaid'")
    end
    assert.equal(1, #stub.requests)
  end)

  it("datetimes go out in the request form, from the API's space form, ISO or unix seconds", function()
    local stub, cp = setup()
    stub:on("POST", "Appointment/", { body = { appointment = { appointmentId = "a1" } } })
    local end_epoch = require("coreplus.dates").parse("2030-09-06T23:30:00Z").epoch
    cp.appointments:book{ startDateTime = "2030-09-07T09:00:00 +10:00", endDateTime = end_epoch,
      practitioner = { practitionerId = "p" }, locationId = "l", clients = { { clientId = "c" } } }
    local body = last(stub).body
    assert.equal("2030-09-07T09:00:00+10:00", body.startDateTime)
    assert.equal("2030-09-07T09:30:00+10:00", body.endDateTime)   -- at its sibling's offset
    raises(function() cp.appointments:update("a1", { startDateTime = "2030-09-07T09:00" }) end,
      "field 'startDateTime' must be a datetime with an offset")
  end)

  it("updatedSince takes unix seconds or a datetime and goes out in the docs' form", function()
    local stub, cp = setup()
    stub:on("GET", "Client/", { body = { clients = {} } })
    cp.clients:list{ updatedSince = 1498796280 }
    assert.equal("2017-06-30 04:18:00+0000", last(stub).query.updatedSince)
    cp.clients:list{ updatedSince = "2017-06-30T14:18:00+10:00" }
    assert.equal("2017-06-30 14:18:00+1000", last(stub).query.updatedSince)
    assert.matches("updatedSince=2017-06-30%2014%3A18%3A00%2B1000", last(stub).url, 1, true)
    raises(function() cp.invoices:list{ updatedSince = "garbage" } end, "parameter 'updatedSince'")
  end)
end)

describe("operations: changed_since", function()
  it("pages through what changed and gives back a checkpoint from before the first page", function()
    local stub, cp = setup()
    local before = os.time()
    stub:on("GET", "Invoice/", function(req)
      local n = tonumber(req.query.pageNumber)
      return { body = { invoices = { { invoiceId = "i" .. n } },
        paging = { totalRows = 3, pageNumber = n, pageSize = 1 } } }
    end)
    local changes, checkpoint = cp.invoices:changed_since(1498796280, { pageSize = 1 })
    local seen = {}
    for inv in changes do seen[#seen + 1] = inv.invoiceId end
    assert.same({ "i1", "i2", "i3" }, seen)
    assert.is_true(checkpoint <= before and checkpoint >= before - 5, tostring(checkpoint))
    for _, r in ipairs(stub.requests) do assert.equal("2017-06-30 04:18:00+0000", r.query.updatedSince) end
  end)

  it("returns nil, err when the first page fails", function()
    local stub, cp = setup()
    stub:on("GET", "Client/", { status = 404 })
    local changes, err = cp.clients:changed_since(0)
    assert.is_nil(changes)
    assert.equal("not_found", err.kind)
  end)
end)

describe("operations: next_free", function()
  it("returns the first future free slot, asking with the location's timezone", function()
    local stub, cp = setup()
    local now = os.time()
    local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S", t) .. " +00:00" end
    stub:on("GET", "Location/", { body = { locations = { { locationId = "L1",
      timeZone = { timezoneId = "TZ-1" } } }, paging = { totalRows = 1 } } })
    stub:on("GET", "AvailabilitySlot/", function(req)
      assert.equal("TZ-1", req.query.timezoneId)
      return { body = { timeslots = {
        { startDateTime = iso(now + 7200), practitionerId = "P" },
        { startDateTime = iso(now - 3600), practitionerId = "P" },     -- already past
        { startDateTime = iso(now + 3600), practitionerId = "P" } } } }
    end)
    local slot = assert(cp.availability_slots:next_free{ practitionerId = "P", locationId = "L1" })
    assert.equal(iso(now + 3600), slot.startDateTime)
  end)

  it("returns nil when nothing is free within the horizon", function()
    local stub, cp = setup()
    stub:on("GET", "AvailabilitySlot/", { body = { timeslots = {} } })
    local slot, err = cp.availability_slots:next_free{ timezoneId = "TZ", locationId = "L", days = 7 }
    assert.is_nil(slot)
    assert.is_nil(err)
  end)
end)

describe("operations: uploads", function()
  it("files:upload builds the json part (name, clientId, size as a string) and the File part", function()
    local stub, cp = setup()
    stub:on("POST", "File/", { body = { fileId = "f1" } })
    local rec = assert(cp.files:upload{ clientId = "c1", name = "letter.pdf", data = "%PDF-1.4 hello",
      parentFolderId = "folder-1" })
    assert.equal("f1", rec.fileId)
    local parts = last(stub).multipart
    assert.equal("json", parts[1].name)
    assert.same({ name = "letter.pdf", primaryDomainKey = "c1", size = "14", entity = "client",
      parentFolderId = "folder-1", isFolder = false }, parts[1].json)
    assert.equal("File", parts[2].name)
    assert.equal("letter.pdf", parts[2].filename)
    assert.equal("%PDF-1.4 hello", parts[2].data)
  end)

  it("files:upload sends a path from disk", function()
    local stub, cp = setup()
    stub:on("POST", "File/", { body = {} })
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write(string.rep("x", 1000)); f:close()
    assert.truthy(cp.files:upload{ clientId = "c1", name = "x.txt", path = path })
    os.remove(path)
    assert.equal("1000", last(stub).multipart[1].json.size)
  end)

  it("refuses before sending: a missing file, one over max_upload, a missing clientId", function()
    local stub, cp = setup{ max_upload = 10 }
    local rec, err = cp.files:upload{ clientId = "c1", name = "x", path = "/nonexistent/file" }
    assert.is_nil(rec)
    assert.equal("validation", err.kind)
    rec, err = cp.files:upload{ clientId = "c1", name = "x", data = string.rep("y", 11) }
    assert.is_nil(rec)
    assert.equal("too_large", err.kind)
    raises(function() cp.files:upload{ name = "x", data = "y" } end, "missing required field 'clientId'")
    assert.equal(0, #stub.requests)
  end)

  it("an upload whose outcome is unknown is not repeated", function()
    local stub, cp = setup()
    stub:on("POST", "File/", { error = { kind = "network", message = "reset", sent = true } })
    local rec, err = cp.files:upload{ clientId = "c1", name = "x", data = "y" }
    assert.is_nil(rec)
    assert.equal("unknown", err.outcome)
    assert.equal(1, #stub.requests)
  end)

  it("messages:send fills AttachedFileDetails from the attachments", function()
    local stub, cp = setup()
    stub:on("POST", "Message/", { body = {} })
    assert.truthy(cp.messages:send({ Client = { Firstname = "Ada" } },
      { { name = "a.pdf", data = "12345" }, { name = "b.txt", data = "xy" } }))
    local parts = last(stub).multipart
    assert.equal("messageData", parts[1].name)
    local md = parts[1].json
    assert.same({ SendingFacility = "" }, md.Header)
    assert.same({ Name = "a.pdf", Size = 5 }, md.MessageContents[1].AttachedFileDetails)
    assert.same({ Name = "b.txt", Size = 2 }, md.MessageContents[2].AttachedFileDetails)
    assert.equal("a.pdf", parts[2].filename)
    assert.equal("xy", parts[3].data)
  end)
end)

describe("operations: the user agent", function()
  it("names the app before the library's own agent", function()
    local stub = stub_mod.new(CREDS)
    local seen
    local request = stub.request
    stub.request = function(opts) seen = opts.user_agent; return request(opts) end
    stub:on("GET", "Location/", { body = { locations = {} } })
    local cp = coreplus.new{ base_url = "https://coreplus.test", transport = stub, user_agent = "my-sync/1.2",
      consumer_id = CREDS.consumer_id, consumer_secret = CREDS.consumer_secret, access_token = CREDS.access_token }
    cp.locations:list{}
    assert.matches("^my%-sync/1%.2 lua%-coreplus/", seen)
  end)

  it("says once what to set when no issuer is given, and nothing when one is", function()
    for _, issuer in ipairs{ false, "https://myapp.example" } do
      local stub = stub_mod.new(CREDS)
      stub.name = "curl"   -- as the real transport is named: a stub alone does not warn
      local said = {}
      local cp = coreplus.new{ base_url = "https://coreplus.test", transport = stub, issuer = issuer or nil,
        user_agent = "spec/1.0", log = function(message, key) said[#said + 1] = { key, message } end,
        consumer_id = CREDS.consumer_id, consumer_secret = CREDS.consumer_secret, access_token = CREDS.access_token }
      stub:on("GET", "Location/", { body = { locations = {} } })
      cp.locations:list{}
      cp.locations:list{}
      if issuer then
        assert.same({}, said)
      else
        assert.equal(1, #said)
        assert.equal("default_issuer", said[1][1])
        assert.matches("set issuer (COREPLUS_ISSUER)", said[1][2], 1, true)
      end
    end
  end)

  it("says once that coreplus may block library defaults when none is set", function()
    local stub = stub_mod.new(CREDS)
    stub.name = "curl"   -- as the real transport is named: a stub alone does not warn
    local said, hooked = {}, {}
    local cp = coreplus.new{ base_url = "https://coreplus.test", transport = stub,
      issuer = "https://spec.example",
      log = function(_, key) said[#said + 1] = key end,
      on_request = function(info)
        for _, w in ipairs(info.warnings or {}) do hooked[#hooked + 1] = w.key end
      end,
      consumer_id = CREDS.consumer_id, consumer_secret = CREDS.consumer_secret, access_token = CREDS.access_token }
    stub:on("GET", "Location/", { body = { locations = {} } })
    cp.locations:list{}
    cp.locations:list{}
    assert.same({ "default_user_agent" }, said)
    assert.same({ "default_user_agent" }, hooked)
  end)
end)
