-- The write commands: each one dry (the request printed, nothing sent) and
-- for real against the mock.
local coreplus = require "coreplus"
local cjson = require "cjson.safe"
local H = dofile("spec/support/cli.lua")

describe("coreplus writes", function()
  local mock, env
  H.use_mock(setup, teardown, { tls = true }, function(m, e) mock, env = m, e end)

  local function first(...)
    local r = H.run(env, ...)
    assert.equal(0, r.code, r.err)
    return cjson.decode(H.lines(r.out)[1])
  end

  --- Runs a write with --dry-run --json: the request, and nothing reached the mock.
  local function dry(...)
    local before = mock:stats().requests
    local r = H.run(env, ...)
    assert.equal(0, r.code, r.err)
    assert.equal(before, mock:stats().requests, "a dry run sent a request")
    assert.falsy(r.out:find(mock.consumer_secret, 1, true))
    assert.falsy(r.out:find(mock.access_token, 1, true))
    local req = assert(cjson.decode(H.lines(r.out)[1]), r.out)
    assert.truthy(req.headers.Authorization:match("^JwToken eyJh%.%.%..+$"), req.headers.Authorization)
    return req
  end

  --- args followed by more arguments (table.unpack only spreads when last).
  local function plus(list, ...)
    local t = { table.unpack(list) }
    for _, a in ipairs({ ... }) do t[#t + 1] = a end
    return table.unpack(t)
  end

  local function real(...)
    local r = H.run(env, ...)
    assert.equal(0, r.code, r.err)
    return cjson.decode(r.out)
  end

  local function future_slot()
    local loc = first("locations", "--jsonl", "--page-size", "1")
    return first("slots", "--location", loc.locationId, "--from", os.date("!%Y-%m-%d", os.time() + 86400),
      "--to", os.date("!%Y-%m-%d", os.time() + 15 * 86400), "--page-size", "1", "--jsonl")
  end

  it("clients create", function()
    local args = { "clients", "create", "--first-name", "Ada", "--last-name", "Lovelace", "--dob", "1990-12-10" }
    local req = dry(plus(args, "--dry-run", "--json"))
    assert.equal("POST", req.method)
    assert.equal(mock.base_url .. "/API/Core/v2.1/Client/", req.url)
    assert.same({ firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1990-12-10" }, req.body)
    local made = real(plus(args, "--json"))
    assert.is_string(made.clientId)
  end)

  it("clients family", function()
    local client = first("clients", "--jsonl", "--page-size", "1")
    local args = { "clients", "family", "--client", client.clientId, "--first-name", "Grace", "--surname", "Hopper",
      "--relationship", "Mother" }
    local req = dry(plus(args, "--dry-run", "--jsonl"))
    assert.equal(mock.base_url .. "/API/Core/v2/ClientFamily/", req.url)
    assert.equal("Mother", req.body.relationship)
    local made = real(plus(args, "--json"))
    assert.is_string(made.familyId)
    assert.equal("Hopper", made.surname)
  end)

  it("payments add", function()
    local inv = first("invoices", "--jsonl", "--page-size", "1")
    local full = real("invoices", inv.invoiceId, "--json")
    local line = full.lineItems[1].lineItemId
    local args = { "payments", "add", "--invoice", inv.invoiceId, "--line-item", line, "--amount", "10.50",
      "--date", os.date("!%Y-%m-%d") }
    local req = dry(plus(args, "--dry-run", "--json"))
    assert.same({ { lineItemId = line, amountPaid = "10.50", datePaid = os.date("!%Y-%m-%d") } }, req.body.payments)
    real(plus(args, "--json"))
    local paid = H.run(env, "payments", "--invoice", inv.invoiceId, "--jsonl")
    assert.equal(0, paid.code, paid.err)
    assert.truthy(paid.out:find('"amountPaid":"10.50"', 1, true))
  end)

  it("appointment-types create", function()
    local args = { "appointment-types", "create", "--description", "Initial consultation", "--duration", "45" }
    local req = dry(plus(args, "--dry-run", "--json"))
    assert.equal(45, req.body.durationMinutes)
    assert.equal("Initial consultation", real(plus(args, "--json")).description)
  end)

  it("appointments update reschedules a booking", function()
    local slot = future_slot()
    local client = first("clients", "--jsonl", "--page-size", "1")
    local booked = real("book", "--practitioner", slot.practitionerId, "--location", slot.locationId,
      "--client", client.clientId, "--start", slot.startDateTime, "--duration", "15", "--json")
    local req = dry("appointments", "update", booked.appointmentId, "--notes", "running late", "--dry-run", "--json")
    assert.equal(mock.base_url .. "/API/Core/v2.1/Appointment/" .. booked.appointmentId .. "/", req.url)
    assert.same({ notes = "running late" }, req.body)
    local moved = real("appointments", "update", booked.appointmentId, "--start", slot.startDateTime,
      "--duration", "30", "--notes", "longer", "--json")
    assert.equal(booked.appointmentId, moved.appointmentId)
    assert.equal("longer", moved.notes)
    assert.is_true(H.run(env, "cancel", booked.appointmentId).code == 0)
  end)

  it("request METHOD PATH, with --query and --data", function()
    local req = dry("request", "POST", "Client/", "--data",
      '{"firstName":"Req","lastName":"Uest","dateOfBirth":"1980-01-02"}', "--dry-run", "--json")
    assert.equal("Req", req.body.firstName)
    local made = real("request", "POST", "Client/", "--data",
      '{"firstName":"Req","lastName":"Uest","dateOfBirth":"1980-01-02"}', "--json")
    assert.is_string(made.client.clientId)
    local got = real("request", "GET", "Client/", "--query", "pageSize=2", "--json")
    assert.equal(2, #got.clients)
  end)

  it("--data @file gives the body; a body that is not a JSON object is a usage error (2)", function()
    local path = mock.prefix .. "/client.json"
    H.write(path, '{"firstName":"File","lastName":"Body","dateOfBirth":"1970-07-07"}')
    local req = dry("clients", "create", "--data", "@" .. path, "--dry-run", "--json")
    assert.equal("File", req.body.firstName)
    local bad = H.run(env, "clients", "create", "--data", "[1,2]")
    assert.equal(2, bad.code)
    H.one_line_error(bad)
  end)

  describe("multipart writes", function()
    -- files:upload and messages:send come with the library's multipart work.
    local has = coreplus.new{ base_url = "https://x.invalid", consumer_id = "i", consumer_secret = "s",
      access_token = "t", transport = { request = function() end } }
    local it_if = (has.files and has.messages) and it or pending

    it_if("files upload --client ID PATH", function()
      local client = first("clients", "--jsonl", "--page-size", "1")
      local path = mock.prefix .. "/referral.txt"
      H.write(path, "referral letter\n")
      local req = dry("files", "upload", "--client", client.clientId, path, "--dry-run", "--json")
      assert.equal(mock.base_url .. "/API/Core/v2.1/File/", req.url)
      assert.truthy(req.headers["Content-Type"]:find("multipart/form-data", 1, true))
      real("files", "upload", "--client", client.clientId, path, "--json")
    end)

    it_if("messages send --data JSON --attach PATH", function()
      local path = mock.prefix .. "/letter.txt"
      H.write(path, "letter\n")
      local msg = '{"Header":{"SendingFacility":""},"MessageContents":[{"AttachedFileDetails":'
        .. '{"Size":7,"Name":"letter.txt"}}]}'
      local req = dry("messages", "send", "--data", msg, "--attach", path, "--dry-run", "--json")
      assert.truthy(req.url:find("/Message/", 1, true))
      real("messages", "send", "--data", msg, "--attach", path, "--json")
    end)
  end)
end)
