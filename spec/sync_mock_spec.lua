-- The mock's side of the change feed for mirrors: POST /__mock/change edits
-- records behind the client's back, and lists, gets and updatedSince show
-- the edit. Requests are built by hand (spec/support/mock_http.lua), not by
-- the client under test.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local function docs_form(t)
  return (os.date("!%Y-%m-%d %H:%M:%S+0000", t):gsub(" ", "%%20"):gsub("%+", "%%2B"))
end

describe("mock server: records changed behind the client's back", function()
  local mock
  local month = os.date("!%Y-%m")
  lazy_setup(function()
    -- this month's fixtures last changed when the mock started, at the
    -- latest; updatedSince counts whole seconds, so the specs' "a second
    -- ago" must be past that second: wait for the clock to tick into the next
    mock = testing.server{ rate_limit = false, clients = 300, month = month }
    local up = os.time()
    for _ = 1, 200 do
      if os.time() > up then break end
      require("coreplus.core").sleep(0.01)
    end
  end)
  lazy_teardown(function() if mock then mock:stop() end end)
  before_each(function() mock:reset() end)

  local function change(body) return mock:admin("POST", "change", body) end

  it("edits a fixture client: the list, a get and updatedSince show it, and no other", function()
    local since = docs_form(os.time() - 1)
    local page = H.get(mock, "Client/?pageSize=5&pageNumber=2").json.clients
    local id = page[3].clientId
    assert.are.same({ id = id, kind = "client" }, assert(change{ kind = "client", id = id,
      fields = { lastName = "Nguyen", email = "n@example.com" } }))
    assert.are.equal("Nguyen", H.get(mock, "Client/?pageSize=5&pageNumber=2").json.clients[3].lastName)
    local one = H.get(mock, "Client/" .. id).json.client
    assert.are.same({ "Nguyen", "n@example.com" }, { one.lastName, one.email })
    local feed = H.get(mock, "Client/?updatedSince=" .. since).json
    assert.are.equal(1, feed.paging.totalRows)
    assert.are.equal(id, feed.clients[1].clientId)
    assert.are.equal("Nguyen", feed.clients[1].lastName)
  end)

  it("edits a client created through the API in place", function()
    local made = H.post(mock, "Client/", { firstName = "New", lastName = "Person", dateOfBirth = "1990-01-02" })
    local id = made.json.client.clientId
    assert(change{ kind = "client", id = id, fields = { firstName = "Renamed" } })
    assert.are.equal("Renamed", H.get(mock, "Client/" .. id).json.client.firstName)
  end)

  it("cancels and moves appointments: the list drops or moves them, a get says which", function()
    local zone = H.MELBOURNE
    local from, to = month .. "-01", month .. "-28"
    local list = H.get(mock, ("Appointment/?startDate=%s&endDate=%s&timezoneId=%s&pageSize=100"):format(from, to, zone))
    local total = list.json.paging.totalRows
    local a, b = list.json.appointments[1], list.json.appointments[2]
    assert(change{ kind = "appointment", id = a.appointmentId, cancel = true })
    assert(change{ kind = "appointment", id = b.appointmentId, shift = 60 * 86400 })
    local after = H.get(mock, ("Appointment/?startDate=%s&endDate=%s&timezoneId=%s&pageSize=100"):format(from, to,
      zone)).json
    assert.are.equal(total - 2, after.paging.totalRows)
    assert.are.equal("Cancelled", H.get(mock, "Appointment/" .. a.appointmentId).json.appointment.status)
    local moved = H.get(mock, "Appointment/" .. b.appointmentId).json.appointment
    assert.are_not.equal(b.startDateTime:sub(1, 10), moved.startDateTime:sub(1, 10))
  end)

  it("marks an invoice changed: the updatedSince feed lists it", function()
    local since = docs_form(os.time() - 1)
    local inv = H.get(mock, "Invoice/?pageSize=1", { version = "v2" }).json.invoices[1]
    assert.are.equal(0, H.get(mock, "Invoice/?updatedSince=" .. since, { version = "v2" }).json.paging.totalRows)
    assert(change{ kind = "invoice", id = inv.invoiceId })
    local feed = H.get(mock, "Invoice/?updatedSince=" .. since, { version = "v2" }).json
    assert.are.equal(1, feed.paging.totalRows)
    assert.are.equal(inv.invoiceId, feed.invoices[1].invoiceId)
  end)

  it("refuses an unknown kind, an unknown id and a field it cannot set", function()
    local _, e1 = change{ kind = "spaceship", id = "x" }
    assert.truthy(e1:find("kind", 1, true))
    local _, e2 = change{ kind = "client", id = "00000000-0000-4000-8000-000000000000" }
    assert.truthy(e2:find("no client", 1, true))
    local id = H.get(mock, "Client/?pageSize=1").json.clients[1].clientId
    local _, e3 = change{ kind = "client", id = id, fields = { clientId = "mine" } }
    assert.truthy(e3:find("cannot be changed", 1, true))
  end)
end)
