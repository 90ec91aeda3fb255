-- The stub transport as a user's own busted suite uses it: each `describe`
-- is one feature of the contract (coreplus.testing.stub), written the way a spec of
-- someone else's code would call it.
local coreplus = require "coreplus"
local testing = require "coreplus.testing"
require "coreplus.testing.busted"

local CREDS = { consumer_id = "consumer-1", consumer_secret = "test-secret", access_token = "token-1" }

local function client(stub, extra)
  local o = { base_url = "https://sandbox.coreplus.com.au", transport = stub }
  for k, v in pairs(CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return coreplus.new(o)
end

local function new_stub(extra)
  local o = {}
  for k, v in pairs(CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return testing.stub(o)
end

-- The user's code under test: find a client by name, create it when absent.
local function ensure_client(cp, first, last)
  local page, err = cp.clients:list{ name = first .. " " .. last }
  if not page then
    if err.kind == "not_found" then page = { items = {} } else return nil, err end
  end
  if page.items[1] then return page.items[1] end
  return cp.clients:create{ firstName = first, lastName = last, dateOfBirth = "1990-01-01" }
end

describe("stub: a request no route matches", function()
  it("fails with kind stub_missing, naming the method and path and listing the routes", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { body = { locations = {} } })
    stub:on("POST", "Appointment/", { body = { appointment = {} } })
    local cp = client(stub, { retries = 0 })

    local page, err = cp.clients:list{}

    assert.is_nil(page)
    assert.equal("stub_missing", err.kind)
    assert.matches("GET Client/", err.message, 1, true)
    assert.matches("GET Location/", err.message, 1, true)
    assert.matches("POST Appointment/", err.message, 1, true)
    assert.matches('stub:on("GET", "Client/"', err.hint, 1, true)
    assert.matches("stub_missing", tostring(err), 1, true)
  end)

  it("is never a not_found that code could take for 'create it'", function()
    local stub = new_stub()
    stub:on("POST", "Client/", { body = { client = { clientId = "new" } } })
    local cp = client(stub, { retries = 0 })

    local made, err = ensure_client(cp, "Ada", "Lovelace")

    assert.is_nil(made)
    assert.equal("stub_missing", err.kind)
    assert.equal(0, stub:calls("POST", "Client/"))
  end)

  it("is not repeated by the client's retries, GET or POST", function()
    local stub = new_stub()
    local cp = client(stub)   -- default retries

    local _, get_err = cp.locations:list()
    local _, post_err = cp.clients:create{ firstName = "A", lastName = "B", dateOfBirth = "2000-01-01" }

    assert.equal("stub_missing", get_err.kind)
    assert.equal("stub_missing", post_err.kind)
    assert.is_nil(post_err.outcome)   -- nothing was sent anywhere
    assert.equal(2, stub:calls())
    assert.same({}, stub.sleeps)
  end)

  it("says so when a route with times is used up", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { body = { locations = {} }, times = 1 })
    local cp = client(stub, { retries = 0 })
    assert.truthy(cp.locations:list())

    local _, err = cp.locations:list()

    assert.equal("stub_missing", err.kind)
    assert.matches("GET Location/ (used up)", err.message, 1, true)
  end)
end)

describe("stub: response sequences", function()
  it("plays responses in order and repeats the last: 429 twice, then 200", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { responses = {
      { status = 429 }, { status = 429 },
      { body = { locations = { { locationId = "L1" } } } },
    } })
    local cp = client(stub)

    local page = assert(cp.locations:list())
    local again = assert(cp.locations:list())

    assert.equal("L1", page.items[1].locationId)
    assert.equal("L1", again.items[1].locationId)   -- the last one repeats
    assert.equal(4, stub:calls("GET", "Location/"))
    assert.equal(2, #stub.sleeps)                    -- the client backed off twice
  end)

  it("answers at most `times` requests, then older routes answer", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { body = { locations = { { locationId = "old" } } } })
    stub:on("GET", "Location/", { responses = { { body = { locations = { { locationId = "new" } } } } },
      times = 2 })
    local cp = client(stub)

    local seen = {}
    for i = 1, 3 do seen[i] = assert(cp.locations:list()).items[1].locationId end

    assert.same({ "new", "new", "old" }, seen)
  end)

  it("takes a callable entry, a luassert spy included", function()
    local stub = new_stub()
    local answer = spy.new(function(req)
      return { body = { client = { clientId = req.path:match("Client/(.+)$") } } }
    end)
    stub:on("GET", "Client/*", { responses = { { status = 503 }, answer } })
    local cp = client(stub)

    local c = assert(cp.clients:get("c-42"))

    assert.equal("c-42", c.clientId)
    assert.spy(answer).was.called(1)
  end)

  it("refuses a bare list of responses, pointing at {responses = ...}", function()
    local stub = new_stub()
    assert.has_error(function() stub:on("GET", "Location/", { { status = 429 }, { status = 200 } }) end,
      "bad argument #3 to 'on' (response: a list of responses goes in {responses = {...}})")
  end)

  it("refuses a misspelt field by name", function()
    local stub = new_stub()
    assert.has_error(function() stub:on("GET", "Location/", { stauts = 429 }) end,
      "bad argument #3 to 'on' (response: unknown field 'stauts')")
  end)
end)

describe("stub:calls", function()
  it("counts the requests that matched a method and path, retries included", function()
    local stub = new_stub()
    stub:on("GET", "Client/*", { responses = { { status = 503 }, { body = { client = {} } } } })
    stub:on("GET", "Location/", { body = { locations = {} } })
    local cp = client(stub)

    cp.clients:get("a")
    cp.clients:get("b")
    cp.locations:list()

    assert.equal(3, stub:calls("GET", "Client/*"))
    assert.equal(1, stub:calls("get", "client/b"))
    assert.equal(1, stub:calls("GET", "Location/"))
    assert.equal(0, stub:calls("POST", "Location/"))
    assert.equal(4, stub:calls())
  end)
end)

describe("assert.coreplus_requested", function()
  local stub, cp
  before_each(function()
    stub = new_stub()
    stub:on("GET", "Client/", { body = { clients = {}, paging = { totalRows = 0 } } })
    stub:on("POST", "Client/", { body = { client = { clientId = "new" } } })
    cp = client(stub)
  end)

  it("passes when the request was made, with the query and body given", function()
    ensure_client(cp, "Ada", "Lovelace")

    assert.coreplus_requested(stub, "GET", "Client/", { times = 1, query = { name = "Ada Lovelace" } })
    assert.coreplus_requested(stub, "POST", "Client/", { body = { firstName = "Ada", lastName = "Lovelace" } })
    assert.is_not.coreplus_requested(stub, "POST", "Appointment/")
  end)

  it("fails with what was expected and what the stub received", function()
    cp.clients:list{ name = "Grace Hopper" }

    local ok, err = pcall(function()
      assert.coreplus_requested(stub, "GET", "Client/", { query = { name = "Ada Lovelace" } })
    end)

    assert.is_false(ok)
    err = tostring(err)
    assert.matches("Expected the stub to have received GET Client/ with query name=Ada Lovelace"
      .. " at least once; it received it never.", err, 1, true)
    assert.matches("GET Client/?name=Grace%20Hopper", err, 1, true)
  end)

  it("counts exactly with times, and reads numbers in the query as the URL has them", function()
    for _ = 1, 2 do cp.clients:list{ pageSize = 5 } end

    assert.coreplus_requested(stub, "GET", "Client/", { times = 2, query = { pageSize = 5 } })
    local ok, err = pcall(function()
      assert.coreplus_requested(stub, "GET", "Client/", { times = 1 })
    end)
    assert.is_false(ok)
    assert.matches("once; it received it 2 times", tostring(err), 1, true)
  end)

  it("fails a negated assertion when the request was made", function()
    cp.clients:create{ firstName = "A", lastName = "B", dateOfBirth = "2000-01-01" }
    assert.has_error(function() assert.is_not.coreplus_requested(stub, "POST", "Client/") end)
  end)

  it("refuses an unknown option by name", function()
    assert.has_error(function() assert.coreplus_requested(stub, "GET", "Client/", { tims = 1 }) end,
      "assert.coreplus_requested: unknown option 'tims'")
  end)
end)

describe("stub:assert_all_used", function()
  it("passes when every route was used as registered", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { responses = { { status = 429 }, { body = { locations = {} } } } })
    assert(client(stub).locations:list())
    assert.has_no.errors(function() stub:assert_all_used() end)
  end)

  it("names the routes that were not", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { body = { locations = {} } })
    stub:on("POST", "Appointment/", { body = {} })
    stub:on("GET", "Client/", { responses = { { status = 503 }, { status = 503 }, { body = {} } } })
    local cp = client(stub, { retries = 1 })
    cp.locations:list()
    cp.clients:list()

    local ok, err = pcall(stub.assert_all_used, stub)

    assert.is_false(ok)
    assert.matches("POST Appointment/ (answered 0 of 1)", err, 1, true)
    assert.matches("GET Client/ (answered 2 of 3)", err, 1, true)
    assert.not_matches("Location", err, 1, true)
  end)
end)

describe("stub: a frozen clock", function()
  local T = 1700000000

  it("signs and verifies at the time given", function()
    local stub = new_stub{ now = T, skew = 30 }
    stub:on("GET", "Location/", { body = { locations = {} } })
    local cp = client(stub)

    assert.truthy(cp.locations:list())

    local claims = stub.requests[1].claims
    assert.equal(T, claims.nbf)
    assert.equal(T + 60, claims.exp)
    assert.equal(30, cp.clock_offset)   -- learnt from the stub's Date: T + skew
  end)

  it("moves only when the client sleeps through the stub (its backoff)", function()
    local stub = new_stub{ now = T }
    stub:on("GET", "Location/", { responses = { { status = 429, headers = { ["Retry-After"] = "7" } },
      { body = { locations = {} } } } })

    assert.truthy(client(stub).locations:list())

    assert.equal(T, stub.requests[1].claims.nbf)
    assert.is_true(stub.requests[2].claims.nbf >= T + 7)
    assert.equal(stub.requests[2].claims.nbf, T + math.floor(stub.sleeps[1]))
  end)

  it("takes a callable clock the spec moves", function()
    local t = T
    local stub = new_stub{ now = function() return t end }
    stub:on("GET", "Location/", { body = { locations = {} } })
    local cp = client(stub)
    cp.locations:list()
    t = t + 3600
    cp.locations:list()
    assert.equal(T + 3600, stub.requests[2].claims.nbf)
  end)

  it("still refuses a token outside the server's window (skew)", function()
    local stub = new_stub{ now = T, skew = 3600 }
    stub:on("GET", "Location/", { body = { locations = {} } })

    local page, err = client(stub, { retries = 0 }).locations:list()

    assert.is_nil(page)
    assert.equal("invalid_token", err.kind)
  end)
end)

describe("stub: a rate limit", function()
  it("answers 429 beyond rate_limit requests in one second, as coreplus does", function()
    local stub = new_stub{ now = 1700000000, rate_limit = 10 }
    stub:on("GET", "Location/", { body = { locations = {} } })
    local cp = client(stub, { retries = 0 })

    local kinds = {}
    for i = 1, 11 do
      local page, err = cp.locations:list()
      kinds[i] = page and "ok" or err.kind
    end

    assert.equal("ok", kinds[10])
    assert.equal("rate_limited", kinds[11])
  end)

  it("lets a retrying client through once its backoff has moved the clock on", function()
    local stub = new_stub{ now = 1700000000, rate_limit = 2 }
    stub:on("GET", "Location/", { body = { locations = {} } })
    local cp = client(stub, { retries = 5, backoff = 1, backoff_max = 1, random = function() return 1 end })

    for _ = 1, 3 do assert.truthy(cp.locations:list()) end

    assert.equal(4, stub:calls("GET", "Location/"))
    assert.equal(1, #stub.sleeps)
  end)

  it("refuses a rate_limit that is not a number", function()
    assert.has_error(function() testing.stub{ rate_limit = "10" } end,
      "testing.stub: option 'rate_limit' must be a number of requests per second, or false (got string)")
  end)
end)

describe("hooks accept any callable", function()
  it("takes on_request = spy.new(fn)", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { body = { locations = {} } })
    local hook = spy.new(function() end)
    local cp = client(stub, { on_request = hook })

    cp.locations:list()

    assert.spy(hook).was.called(1)
    assert.equal(200, hook.calls[1].vals[1].status)
  end)

  it("takes spies for sleep, random and now, and for a route's answer", function()
    local stub = new_stub()
    local answer = spy.new(function() return { body = { locations = {} } } end)
    stub:on("GET", "Location/", answer)
    local sleep = spy.new(function() end)
    local cp = client(stub, { sleep = sleep, random = spy.new(function() return 0.5 end),
      now = spy.new(function() return os.time() end) })

    cp.locations:list()

    assert.spy(answer).was.called(1)
    assert.spy(sleep).was_not.called()
  end)

  it("takes a spy as the stub's clock", function()
    local stub = new_stub{ now = spy.new(function() return 1700000000 end) }
    stub:on("GET", "Location/", { body = { locations = {} } })
    client(stub).locations:list()
    assert.equal(1700000000, stub.requests[1].claims.nbf)
  end)
end)

describe("stub: options", function()
  it("refuses an unknown option by name", function()
    assert.has_error(function() testing.stub{ secret = "s" } end, "testing.stub: unknown option 'secret'")
  end)

  it("reset forgets requests and rewinds sequences", function()
    local stub = new_stub()
    stub:on("GET", "Location/", { responses = { { body = { locations = { { locationId = "1" } } } },
      { body = { locations = { { locationId = "2" } } } } } })
    local cp = client(stub)
    cp.locations:list()
    stub:reset()
    assert.equal(0, #stub.requests)
    assert.equal("1", cp.locations:list().items[1].locationId)
  end)
end)
