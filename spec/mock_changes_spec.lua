-- The change feed and field selection (the developer docs' dates, Client and Invoice pages):
-- updatedSince is parsed in the docs' form (and +10:00, T, Z), refused
-- when it cannot be read, and applied to clients and invoices; Field=
-- selects invoice fields, ids always included.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local V2 = "v2"   -- Invoice is documented under v2 only

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- A UTC instant in the docs' form, URL-encoded: 2017-06-30%2014:18:00%2B0000
local function docs_form(t)
  return (os.date("!%Y-%m-%d %H:%M:%S+0000", t):gsub(" ", "%%20"):gsub("%+", "%%2B"))
end

describe("mock server updatedSince and Field=", function()
  local mock
  lazy_setup(function() mock = testing.server{ rate_limit = false, month = "2025-09" } end)
  lazy_teardown(function() mock:stop() end)
  -- (a client one it creates must not count in another's totals, in any order)
  before_each(function() mock:reset() end)

  local function clients(since, extra)
    return H.get(mock, "Client/?updatedSince=" .. since .. (extra or ""))
  end

  local function total(res)
    assert.are.equal(200, res.status, res.body)
    return res.json.paging.totalRows
  end

  it("reads the docs' form, +10:00, a T and Z as the same instant", function()
    local n = total(clients("2025-03-01%2000:00:00%2B1000"))
    assert.is_true(n > 0 and n < 537, "n = " .. n)
    assert.are.equal(n, total(clients("2025-03-01T00:00:00%2B10:00")))
    assert.are.equal(n, total(clients("2025-03-01%2000:00%2B10:00")))
    assert.are.equal(n, total(clients("2025-02-28T14:00:00Z")))
  end)

  it("returns the clients changed after the instant: all of them, fewer, none", function()
    assert.are.equal(537, total(clients("2000-01-01%2000:00:00%2B1000")))
    local earlier = total(clients("2025-01-01%2000:00:00%2B1000"))
    local later = total(clients("2025-06-01%2000:00:00%2B1000"))
    assert.is_true(earlier > later and later > 0)
    -- Fixture clients last changed before their month began.
    assert.are.equal(0, total(clients("2025-09-01T00:00:00Z")))
  end)

  it("pages what it returns, and combines with other filters", function()
    local n = total(clients("2025-06-01%2000:00:00%2B1000"))
    local res = clients("2025-06-01%2000:00:00%2B1000", "&pageSize=10&pageNumber=2")
    assert.are.same({ totalRows = n, pageNumber = 2, pageSize = 10 }, res.json.paging)
    assert.are.equal(math.min(10, n - 10), #res.json.clients)
    local some = total(clients("2000-01-01%2000:00:00%2B1000", "&name=a"))
    assert.is_true(some > 0 and some < 537)
    assert.is_true(total(clients("2025-06-01%2000:00:00%2B1000", "&name=a")) <= some)
  end)

  it("includes a client created through the API after the instant, and nothing older", function()
    local since = docs_form(os.time() - 30)
    assert.are.equal(0, total(clients(since)))
    local made = H.post(mock, "Client/", { firstName = "New", lastName = "Person", dateOfBirth = "1990-01-02" })
    assert.are.equal(200, made.status, made.body)
    local res = clients(since)
    assert.are.equal(1, total(res))
    assert.are.equal(made.json.client.clientId, res.json.clients[1].clientId)
  end)

  for _, bad in ipairs{
    "garbage", "", "2017-06-30%2014:18:00",          -- no offset
    "2017-06-30%2014:18:00+1000",                    -- + not encoded: arrives as a space
    "2017-13-30%2014:18:00%2B1000", "2017-06-30%2025:00:00%2B1000", "2017-06-30%2014:18:61%2B1000",
    "2017-06-30%2014:18:00%2B2500", "1498796280",
  } do
    it("refuses updatedSince=" .. bad .. " with 400 and a result body naming it", function()
      for _, path in ipairs{ "Client/", "Invoice/" } do
        local res = H.get(mock, path .. "?updatedSince=" .. bad, { version = path == "Invoice/" and V2 or nil })
        assert.are.equal(400, res.status, path .. " " .. res.body)
        assert.are.equal(2, res.json.result[1].severity)
        assert.truthy(H.reason(res):find("updatedSince", 1, true), res.body)
      end
    end)
  end

  describe("on invoices", function()
    local function invoices(q)
      return H.get(mock, "Invoice/?" .. q, { version = V2 })
    end

    it("returns the invoices changed after the instant", function()
      assert.are.equal(120, total(invoices("updatedSince=2025-08-01%2000:00:00%2B1000")))
      local mid = total(invoices("updatedSince=2025-09-02%2012:00:00%2B1000"))
      assert.is_true(mid > 0 and mid < 120, "mid = " .. mid)
      assert.are.equal(0, total(invoices("updatedSince=2025-10-05T00:00:00Z")))
    end)

    it("includes an invoice once a payment changed it", function()
      local since = docs_form(os.time() - 30)
      assert.are.equal(0, total(invoices("updatedSince=" .. since)))
      local inv = invoices("pageSize=1&pageNumber=7").json.invoices[1]
      local full = H.get(mock, "Invoice/" .. inv.invoiceId, { version = V2 }).json
      local paid = H.post(mock, "Payment/", { invoiceId = inv.invoiceId, payments = { {
        lineItemId = full.lineItems[1].lineItemId, amountPaid = "5.00", datePaid = "2025-09-20" } } },
        { version = V2 })
      assert.are.equal(200, paid.status, paid.body)
      local res = invoices("updatedSince=" .. since)
      assert.are.equal(1, total(res))
      assert.are.equal(inv.invoiceId, res.json.invoices[1].invoiceId)
    end)

    it("lists the documented fields, with empty lineItems, when no Field= is given", function()
      local inv = invoices("pageSize=1").json.invoices[1]
      assert.are.same({ "amountOwing", "clientId", "generatedAt", "invoiceId", "invoiceNumber", "lineItems" },
        keys(inv))
      assert.are.same({}, inv.lineItems)
    end)

    it("selects fields with repeated Field=, ids included regardless", function()
      local res = invoices("pageSize=3&Field=invoiceNumber&Field=lineItems.itemNumber")
      assert.are.equal(200, res.status, res.body)
      for _, inv in ipairs(res.json.invoices) do
        assert.are.same({ "invoiceId", "invoiceNumber", "lineItems" }, keys(inv))
        assert.is_true(#inv.lineItems > 0)
        for _, li in ipairs(inv.lineItems) do assert.are.same({ "itemNumber", "lineItemId" }, keys(li)) end
      end
      local only = invoices("pageSize=1&Field=clientId").json.invoices[1]
      assert.are.same({ "clientId", "invoiceId" }, keys(only))
    end)

    it("keeps the money format for selected amounts and adds the get* flags' fields", function()
      local res = invoices("pageSize=1&field=LINEITEMS.UNITAMOUNT&Field=amountOwing&getLocationId=true")
      assert.are.equal(200, res.status, res.body)
      local inv = res.json.invoices[1]
      assert.are.same({ "amountOwing", "invoiceId", "lineItems", "locationId" }, keys(inv))
      assert.is_string(inv.amountOwing)
      assert.truthy(res.body:find('"unitAmount":%d+%.%d'))
    end)

    it("refuses an unknown Field with 400 naming it", function()
      local res = invoices("Field=invoiceNumber&Field=secretSauce")
      assert.are.equal(400, res.status)
      assert.truthy(H.reason(res):find("secretsauce", 1, true), res.body)
    end)
  end)
end)
