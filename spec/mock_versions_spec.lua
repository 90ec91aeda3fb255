-- Each operation answers only under the API versions the docs show it at
-- (the developer docs' versions per operation); another version gets the 404 of a
-- path the server does not have (405 where the resource is there but not
-- the method). versions = "lax" answers everything under v2 and v2.1.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local NO_RESOURCE = "No HTTP resource was found that matches the request URI"

describe("mock server API versions", function()
  local strict, lax, client, invoice
  lazy_setup(function()
    strict = testing.server{ rate_limit = false, tls = false }
    lax = testing.server{ rate_limit = false, tls = false, versions = "lax" }
    client = H.get(strict, "Client/?pageSize=1").json.clients[1]
    invoice = H.get(strict, "Invoice/?pageSize=1", { version = "v2" }).json.invoices[1]
  end)
  lazy_teardown(function()
    strict:stop()
    lax:stop()
  end)

  local function call(mock, version, method, path, body)
    return H.request(mock, { method = method, path = path, version = version, body = body })
  end

  -- {method, path, body}: operations the docs show only under v2.
  local function v2_only()
    return {
      { "POST", "ClientFamily/", { clientId = client.clientId, firstName = "Ann", surname = "Smith" } },
      { "GET", "Invoice/" },
      { "GET", "Invoice/" .. invoice.invoiceId },
      { "GET", "Payment/?invoiceId=" .. invoice.invoiceId },
      { "POST", "Payment/", { invoiceId = invoice.invoiceId, payments = {} } },
    }
  end

  it("answers the v2-only operations under v2", function()
    for _, op in ipairs(v2_only()) do
      local res = call(strict, "v2", op[1], op[2], op[3])
      assert.are_not.equal(404, res.status, op[1] .. " " .. op[2] .. ": " .. res.body)
      assert.are_not.equal(405, res.status, op[1] .. " " .. op[2] .. ": " .. res.body)
    end
    assert.are.equal(200, call(strict, "v2", "POST", "AppointmentType/", { description = "Telehealth" }).status)
  end)

  it("answers them under v2.1 with the 404 of a path it does not have", function()
    for _, op in ipairs(v2_only()) do
      local res = call(strict, "v2.1", op[1], op[2], op[3])
      assert.are.equal(404, res.status, op[1] .. " " .. op[2])
      assert.are.same({ result = { { severity = 2, reason = NO_RESOURCE } } }, res.json)
      assert.are.same(H.get(strict, "NoSuchThing/").json, res.json)
    end
  end)

  it("answers AppointmentType POST under v2.1 with 405: the list is there, creating is not", function()
    local res = call(strict, "v2.1", "POST", "AppointmentType/", { description = "Telehealth" })
    assert.are.equal(405, res.status, res.body)
    assert.are.equal(200, call(strict, "v2.1", "GET", "AppointmentType/").status)
    assert.are.equal(200, call(strict, "v2", "GET", "AppointmentType/").status)
  end)

  it("answers the operations seen under both versions under both", function()
    for _, v in ipairs{ "v2", "v2.1" } do
      for _, path in ipairs{ "Client/?pageSize=1", "Client/" .. client.clientId, "Practitioner/", "Location/",
                             "AvailabilitySlot/?startDate=2030-01-07&endDate=2030-01-07&timezoneId=" .. H.MELBOURNE,
                             "Appointment/?startDate=2030-01-07&endDate=2030-01-07&timezoneId=" .. H.MELBOURNE } do
        assert.are.equal(200, call(strict, v, "GET", path).status, v .. " " .. path)
      end
    end
  end)

  it("takes File/ under v2.1 only and Message/ under both (multipart; a JSON body is refused, not unknown)", function()
    assert.are.equal(404, call(strict, "v2", "POST", "File/", {}).status)
    assert.are.equal(400, call(strict, "v2.1", "POST", "File/", {}).status)
    for _, v in ipairs{ "v2", "v2.1" } do
      assert.are.equal(400, call(strict, v, "POST", "Message/", {}).status, v)
    end
  end)

  it("knows no other version", function()
    assert.are.equal(404, call(strict, "v3", "GET", "Location/").status)
    assert.are.equal(404, call(lax, "v1", "GET", "Location/").status)
  end)

  it("with versions = \"lax\", answers every operation under v2 and v2.1", function()
    for _, v in ipairs{ "v2", "v2.1" } do
      for _, op in ipairs(v2_only()) do
        local res = call(lax, v, op[1], op[2], op[3])
        assert.are_not.equal(404, res.status, v .. " " .. op[1] .. " " .. op[2] .. ": " .. res.body)
      end
      assert.are.equal(200, call(lax, v, "POST", "AppointmentType/", { description = "Telehealth" }).status, v)
      assert.are.equal(400, call(lax, v, "POST", "File/", {}).status, v)
    end
  end)

  it("refuses an unknown versions value at start-up, naming it", function()
    local ok, err = pcall(testing.server, { versions = "loose", tls = false })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("versions", 1, true), tostring(err))
  end)
end)
