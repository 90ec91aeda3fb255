-- The mock's switches (a server that differs from the docs), with requests
-- built by hand (curl, the C core's signer): ignore_filters drops only the
-- filters the docs do not document, v2_only answers a resource under v2
-- only with the route-not-found 404, jitter is taken and refused as it
-- should be, and reset returns every switch to its start-up value.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

describe("mock switches", function()
  local mock
  setup(function()
    mock = testing.server{ rate_limit = false, ignore_filters = false, v2_only = { "Practitioner" }, jitter = 0 }
  end)
  teardown(function() if mock then mock:stop() end end)
  before_each(function() mock:reset() end)

  local function clients(query)
    local r = H.get(mock, "Client/?" .. query)
    assert.equal(200, r.status, r.body)
    return r.json.paging.totalRows
  end

  it("start with the launcher's values, change while running, and reset to them", function()
    assert.same({ ignore_filters = false, v2_only = { "practitioner" }, jitter = 0 }, mock:switches())
    assert.same({ ignore_filters = true, v2_only = { "location" }, jitter = 0.05 },
      mock:switches{ ignore_filters = true, v2_only = { "Location/" }, jitter = 0.05 })
    mock:reset()
    assert.same({ ignore_filters = false, v2_only = { "practitioner" }, jitter = 0 }, mock:switches())
  end)

  it("refuse what they cannot be", function()
    for _, bad in ipairs{ { ignore_filters = "yes" }, { jitter = -1 }, { jitter = 61 }, { v2_only = { "../x" } },
      { wobble = true } } do
      local v, err = mock:admin("POST", "switches", bad)
      assert.is_nil(v)
      assert.is_string(err)
    end
  end)

  it("ignore_filters: name on Client/ is ignored, the documented paging is not", function()
    local all = clients("pageSize=1")
    assert.is_true(clients("name=Smith&pageSize=1") < all)
    mock:switches{ ignore_filters = true }
    assert.equal(all, clients("name=Smith&pageSize=1"))
    local r = H.get(mock, "Client/?name=Smith&pageSize=3&pageNumber=2")
    assert.equal(3, #r.json.clients)
    assert.equal(2, r.json.paging.pageNumber)
  end)

  it("v2_only: the route-not-found 404 under v2.1, the resource under v2, other resources as before", function()
    local r = H.get(mock, "Practitioner/", { version = "v2.1" })
    assert.equal(404, r.status)
    assert.matches("No HTTP resource was found that matches the request URI", r.body, 1, true)
    assert.equal(200, H.get(mock, "Practitioner/", { version = "v2" }).status)
    assert.equal(200, H.get(mock, "Location/", { version = "v2.1" }).status)
  end)
end)
