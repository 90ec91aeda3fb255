-- coreplus.client_match.find_or_create: a client filter is a hint. Rows are
-- verified by name and date of birth, the list is read on when the first
-- page is not the whole answer, and a client is created only when nothing
-- matches. Against the stub (a server that honours, ignores or pages the
-- filter) and against the mock (the issue: two runs left 3 copies).
local coreplus = require "coreplus"
local testing = require "coreplus.testing"
local match = require "coreplus.client_match"

local CREDS = { consumer_id = "cid-1", consumer_secret = "secret-1", access_token = "tok-1" }

-- A client directory behind the stub: `honours` says whether `name=` is
-- applied (a case-insensitive substring of "first last", as the mock does).
local function directory(rows, honours)
  local stub = testing.stub(CREDS)
  local dir = { rows = rows, stub = stub, created = 0, said = {} }
  stub:on("GET", "Client/", function(req)
    local list = {}
    local needle = req.query.name and req.query.name:lower()
    for _, c in ipairs(dir.rows) do
      if not (honours and needle) or (c.firstName .. " " .. c.lastName):lower():find(needle, 1, true) then
        list[#list + 1] = c
      end
    end
    local size, number = tonumber(req.query.pageSize) or 50, tonumber(req.query.pageNumber) or 1
    local items = {}
    for i = (number - 1) * size + 1, math.min(number * size, #list) do items[#items + 1] = list[i] end
    return { body = { clients = items, paging = { totalRows = #list, pageNumber = number, pageSize = size },
      statusMessages = {} } }
  end)
  stub:on("POST", "Client/", function(req)
    dir.created = dir.created + 1
    local id = ("new-%d"):format(dir.created)
    local b = req.body
    dir.rows[#dir.rows + 1] = { clientId = id, firstName = b.firstName, lastName = b.lastName,
      dateOfBirth = b.dateOfBirth .. "T00:00:00" }
    return { body = { client = { clientId = id } } }
  end)
  -- (what its clients warn of: dir.said, the keys)
  function dir.client()
    local o = { base_url = "https://coreplus.test", transport = stub, random = function() return 0.5 end,
      log = function(_, key) dir.said[#dir.said + 1] = key end }
    for k, v in pairs(CREDS) do o[k] = v end
    return coreplus.new(o)
  end
  function dir.gets()
    local n = 0
    for _, r in ipairs(stub.requests) do if r.method == "GET" then n = n + 1 end end
    return n
  end
  return dir
end

local function crowd(n)
  local rows = {}
  for i = 1, n do
    rows[i] = { clientId = ("c-%04d"):format(i), firstName = "Person" .. i, lastName = "Family" .. (i % 7),
      dateOfBirth = "1970-01-01T00:00:00" }
  end
  return rows
end

local ADA = { firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1985-12-10" }
-- Ada as the server lists her (a fresh table: the directory may change it).
local function ada_row()
  return { clientId = "ada", firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1985-12-10T00:00:00" }
end

describe("client_match.find_or_create", function()
  it("finds the client the filter returns, by name and date of birth, without creating one", function()
    local rows = crowd(30)
    rows[#rows + 1] = ada_row()
    local dir = directory(rows, true)
    local client, created = match.find_or_create(dir.client(), ADA)
    assert.are.equal("ada", client.clientId)
    assert.is_false(created)
    assert.are.equal(0, dir.created)
    assert.are.equal("Lovelace", dir.stub.requests[1].query.name)
    assert.are.equal(1, dir.gets())
  end)

  it("ignores case and stray spaces in names", function()
    local dir = directory({ { clientId = "ada", firstName = "ADA ", lastName = "lovelace",
      dateOfBirth = "1985-12-10T00:00:00" } }, true)
    local client = match.find_or_create(dir.client(),
      { firstName = " ada", lastName = "Lovelace  ", dateOfBirth = "1985-12-10" })
    assert.are.equal("ada", client.clientId)
  end)

  it("does not take a namesake with another date of birth: it creates the client once", function()
    local dir = directory({ { clientId = "other", firstName = "Ada", lastName = "Lovelace",
      dateOfBirth = "1990-01-01T00:00:00" } }, true)
    local cp = dir.client()
    local client, created = match.find_or_create(cp, ADA)
    assert.is_true(created)
    assert.are.equal("new-1", client.clientId)
    assert.are.equal("Ada", client.firstName)
    -- A second run finds the one just created.
    local again, created2 = match.find_or_create(cp, ADA)
    assert.are.equal("new-1", again.clientId)
    assert.is_false(created2)
    assert.are.equal(1, dir.created)
  end)

  it("reads every page when the server ignores the filter, and finds the client on the last one", function()
    local rows = crowd(250)
    rows[#rows + 1] = ada_row()
    local dir = directory(rows, false)
    local client, created = match.find_or_create(dir.client(), ADA)
    assert.are.equal("ada", client.clientId)
    assert.is_false(created)
    assert.are.equal(0, dir.created)
    assert.are.equal(3, dir.gets())
    for _, r in ipairs(dir.stub.requests) do assert.are.equal("Lovelace", r.query.name) end
    assert.are.same({ "ignored_filter Client/ name" }, dir.said)   -- and it said so, once
  end)

  it("creates once, after reading every page, when the filter is ignored and nobody matches", function()
    local dir = directory(crowd(250), false)
    local cp = dir.client()
    local _, created = match.find_or_create(cp, ADA)
    assert.is_true(created)
    assert.are.equal(3, dir.gets())
    local client, created2 = match.find_or_create(cp, ADA)
    assert.is_false(created2)
    assert.are.equal("new-1", client.clientId)
    assert.are.equal(1, dir.created)
    assert.are.same({ "ignored_filter Client/ name" }, dir.said)
  end)

  it("reads on when many clients share the name (the filter honoured, more than a page)", function()
    local rows = {}
    for i = 1, 150 do
      rows[i] = { clientId = "l" .. i, firstName = "Ann" .. i, lastName = "Lovelace",
        dateOfBirth = "1985-12-10T00:00:00" }
    end
    rows[151] = ada_row()
    local dir = directory(rows, true)
    local client = match.find_or_create(dir.client(), ADA)
    assert.are.equal("ada", client.clientId)
    assert.are.equal(2, dir.gets())
  end)

  it("sends email and phone (as phoneNumberMobile) only when creating", function()
    local dir = directory({}, true)
    match.find_or_create(dir.client(), { firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1985-12-10",
      email = "ada@example.com", phone = "0400 000 000" })
    local post = dir.stub.requests[#dir.stub.requests]
    assert.are.equal("POST", post.method)
    assert.are.same({ firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1985-12-10",
      email = "ada@example.com", phoneNumberMobile = "0400 000 000" }, post.body)
  end)

  it("returns the list failure as nil, err and creates nothing", function()
    local stub = testing.stub(CREDS)
    stub:on("GET", "Client/", { status = 401, body = { result = { { severity = 2,
      reason = "Not authorized for viewing client list" } } } })
    local o = { base_url = "https://coreplus.test", transport = stub }
    for k, v in pairs(CREDS) do o[k] = v end
    local client, err = match.find_or_create(coreplus.new(o), ADA)
    assert.is_nil(client)
    assert.are.equal("forbidden", err.kind)
    assert.are.equal(1, #stub.requests)
  end)

  it("never repeats a create whose outcome is unknown", function()
    local stub = testing.stub(CREDS)
    stub:on("GET", "Client/", { body = { clients = {}, paging = { totalRows = 0, pageNumber = 1, pageSize = 100 } } })
    stub:on("POST", "Client/", { error = { kind = "timeout", message = "timed out", sent = true } })
    local o = { base_url = "https://coreplus.test", transport = stub, random = function() return 0.5 end }
    for k, v in pairs(CREDS) do o[k] = v end
    local client, err = match.find_or_create(coreplus.new(o), ADA)
    assert.is_nil(client)
    assert.are.equal("unknown", err.outcome)
    local posts = 0
    for _, r in ipairs(stub.requests) do if r.method == "POST" then posts = posts + 1 end end
    assert.are.equal(1, posts)
  end)

  it("refuses a created record without a clientId as bad_response", function()
    local stub = testing.stub(CREDS)
    stub:on("GET", "Client/", { body = { clients = {}, paging = { totalRows = 0, pageNumber = 1, pageSize = 100 } } })
    stub:on("POST", "Client/", { body = { client = {} } })
    local o = { base_url = "https://coreplus.test", transport = stub }
    for k, v in pairs(CREDS) do o[k] = v end
    local client, err = match.find_or_create(coreplus.new(o), ADA)
    assert.is_nil(client)
    assert.are.equal("bad_response", err.kind)
  end)

  it("raises, naming the field, for the caller's mistakes", function()
    local cp = directory({}, true).client()
    assert.has_error(function() match.find_or_create(cp, { lastName = "L", dateOfBirth = "1985-12-10" }) end,
      "find_or_create: missing required field 'firstName'")
    assert.has_error(function()
      match.find_or_create(cp, { firstName = "A", lastName = "L", dateOfBirth = "10/12/1985" })
    end,
      "find_or_create: field 'dateOfBirth' must be yyyy-mm-dd")
    assert.has_error(function() match.find_or_create(cp, "Ada") end,
      "bad argument #2 to 'find_or_create' (table of fields expected, got string)")
    assert.has_error(function() match.find_or_create(nil, ADA) end,
      "bad argument #1 to 'find_or_create' (a coreplus client expected)")
  end)
end)

describe("client_match against the mock", function()
  local mock
  lazy_setup(function() mock = testing.server{ tls = false, rate_limit = false } end)
  lazy_teardown(function() if mock then mock:stop() end end)

  it("two runs for the same person leave one client", function()
    local cp = mock:client()
    local fields = { firstName = "Grace", lastName = "Hopperfield", dateOfBirth = "1976-12-09" }
    local first, created = assert(match.find_or_create(cp, fields))
    assert.is_true(created)
    local second, created2 = assert(match.find_or_create(cp, fields))
    assert.is_false(created2)
    assert.are.equal(first.clientId, second.clientId)
    local page = assert(cp.clients:list{ name = "Hopperfield" })
    assert.are.equal(1, #page.items)
  end)

  it("finds a fixture client by name and date of birth", function()
    local cp = mock:client()
    local c = assert(cp.clients:list{ pageSize = 1 }).items[1]
    local found, created = assert(match.find_or_create(cp, { firstName = c.firstName, lastName = c.lastName,
      dateOfBirth = c.dateOfBirth:sub(1, 10) }))
    assert.is_false(created)
    assert.are.equal(c.clientId, found.clientId)
  end)
end)

describe("examples/book_from_form.lua", function()
  it("books twice for one person with one client, on a server that ignores the name filter", function()
    local book = dofile("examples/book_from_form.lua").book_from_form
    local dir = directory(crowd(120), false)
    local booked = 0
    dir.stub:on("POST", "Appointment/", function()
      booked = booked + 1
      return { body = { appointment = { appointmentId = "appt-" .. booked } } }
    end)
    local cp = dir.client()
    for _, start in ipairs{ "2031-05-20T09:00:00+10:00", "2031-05-21T09:00:00+10:00" } do
      local appt, message = book(cp, { firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1985-12-10",
        practitionerId = "p1", locationId = "l1", start = start, minutes = "30" })
      assert.truthy(appt, message)
    end
    assert.are.equal(2, booked)
    assert.are.equal(1, dir.created)
  end)
end)
