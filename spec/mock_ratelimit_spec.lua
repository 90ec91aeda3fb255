-- 10 requests per second per access token, by arrival, across workers.
local testing = require "coreplus.testing"
local core = require "coreplus.core"
local H = dofile("spec/support/mock_http.lua")

describe("mock server rate limit", function()
  local mock
  lazy_setup(function() mock = testing.server{ workers = 2 } end)
  lazy_teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("refuses exactly the 11th of 11 requests within a second with 429, and counts it", function()
    local codes = H.burst(mock, "Location/", 11)
    assert.are.equal(11, #codes)
    assert.are.equal(10, H.count(codes, 200))
    assert.are.equal(1, H.count(codes, 429))
    local s = mock:stats()
    assert.are.equal(11, s.requests)
    assert.are.equal(1, s.rate_limited)
    assert.are.equal(11, s.max_in_window)
    assert.are.equal(1, s.by_status["429"])
  end)

  it("counts across workers: 11 parallel connections still give one 429", function()
    local codes = H.burst(mock, "Location/", 11, { parallel = true })
    assert.are.equal(1, H.count(codes, 429))
    local s = mock:stats()
    assert.are.equal(1, s.rate_limited)
    assert.is_true(s.connections > 1)
  end)

  it("counts each access token separately", function()
    local a = H.burst(mock, "Location/", 10)
    local b = H.burst(mock, "Location/", 10, { access_token = mock.restricted_access_token })
    assert.are.equal(10, H.count(a, 200))
    assert.are.equal(10, H.count(b, 200))
    assert.are.equal(0, mock:stats().rate_limited)
  end)

  it("serves again once the window has slid past (refusals do not extend it)", function()
    local codes = H.burst(mock, "Location/", 15)
    assert.are.equal(5, H.count(codes, 429))
    -- knocking all the while: were refusals counted, the window would never
    -- slide past and this would end refused
    local status
    for _ = 1, 60 do
      status = H.get(mock, "Location/").status
      if status ~= 429 then break end
      core.sleep(0.05)
    end
    assert.are.equal(200, status)
  end)

  it("reports max_in_window for a client that stays under the limit", function()
    for _ = 1, 5 do assert.are.equal(200, H.get(mock, "Location/").status) end
    local s = mock:stats()
    assert.are.equal(5, s.max_in_window)
    assert.are.equal(0, s.rate_limited)
  end)

  it("counts connections: one curl process reuses one connection", function()
    H.burst(mock, "Location/", 3)
    assert.are.equal(1, mock:stats().connections)
  end)
end)

describe("mock server without rate limit", function()
  it("only measures when rate_limit = false", function()
    local mock = testing.server{ rate_limit = false, tls = false }
    local codes = H.burst(mock, "Location/", 15)
    local s = mock:stats()
    mock:stop()
    assert.are.equal(15, H.count(codes, 200))
    assert.are.equal(15, s.max_in_window)
    assert.are.equal(0, s.rate_limited)
  end)
end)

describe("mock server rate limit per consumer (limit_key = \"consumer\")", function()
  local mock
  lazy_setup(function() mock = testing.server{ limit_key = "consumer" } end)
  lazy_teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("gives one budget to every access token of the consumer", function()
    local a = H.burst(mock, "Location/", 10)
    local b = H.burst(mock, "Location/", 2, { access_token = mock.restricted_access_token })
    assert.are.equal(10, H.count(a, 200))
    assert.are.same({ 429, 429 }, b)
    assert.are.equal(2, mock:stats().rate_limited)
  end)

  it("refuses an unknown limit_key at start-up, naming it", function()
    local ok, err = pcall(testing.server, { limit_key = "practice", tls = false })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("limit_key", 1, true), tostring(err))
  end)
end)
