-- The mock's tenants (several practices, each its own access token and rate
-- budget) and its log of arrivals.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

describe("mock server tenants", function()
  local mock
  lazy_setup(function() mock = testing.server{ tenants = 3 } end)
  lazy_teardown(function() mock:stop() end)
  -- (reset empties the rate windows and the arrivals' log too)
  before_each(function() mock:reset() end)

  it("gives each tenant its own access token, the first being access_token", function()
    assert.equal(3, #mock.access_tokens)
    assert.equal(mock.access_token, mock.access_tokens[1])
    assert.are_not.equal(mock.access_tokens[2], mock.access_tokens[3])
    for _, token in ipairs(mock.access_tokens) do
      assert.equal(200, H.burst(mock, "Location/", 1, { access_token = token })[1])
    end
  end)

  it("gives each tenant its own 10 per second", function()
    local a = H.burst(mock, "Location/", 11, { access_token = mock.access_tokens[2] })
    local b = H.burst(mock, "Location/", 10, { access_token = mock.access_tokens[3] })
    assert.equal(1, H.count(a, 429))
    assert.equal(10, H.count(b, 200))
  end)

  it("logs each arrival with its status and tenant, in order; a read empties the log", function()
    H.burst(mock, "Location/", 11, { access_token = mock.access_tokens[3] })
    H.burst(mock, "Location/", 1, { access_token = mock.restricted_access_token })
    local log = mock:arrivals()
    assert.equal(12, #log)
    for i = 1, 11 do assert.equal(3, log[i].tenant) end
    assert.equal(429, log[11].status)
    assert.equal(200, log[1].status)
    assert.equal(0, log[12].tenant)
    for i = 2, #log do assert.is_true(log[i].t >= log[i - 1].t) end
    assert.is_true(math.abs(log[1].t - os.time()) < 30)
    assert.equal(0, #mock:arrivals())
  end)

  it("forgets the log on reset", function()
    H.burst(mock, "Location/", 2)
    mock:reset()
    assert.equal(0, #mock:arrivals())
  end)

  it("refuses a tenants option that is not a whole number from 1", function()
    for _, bad in ipairs{ 0, 1.5, "2", -1 } do
      assert.has_error(function() testing.server{ tenants = bad } end,
        "coreplus.testing.server: tenants must be an integer from 1 to 100000")
    end
  end)
end)
