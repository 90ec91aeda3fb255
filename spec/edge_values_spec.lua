-- Edge values from callers and from the server, each pinned where it once broke:
-- concurrency and pageNumber options, pages fetched ahead that fail, totalRows
-- beyond the rows, huge exp/nbf, a JSON null reason (stub transport, no network).
local jwt = require "coreplus.jwt"
local S = dofile("spec/support/stub_client.lua")
local new_stub, client = S.new_stub, S.client

local function fixture(n)
  local rows = {}
  for i = 1, n do rows[i] = { clientId = ("c-%05d"):format(i) } end
  return rows
end

local function paged(key, rows, total)
  return function(req)
    local size = tonumber(req.query.pageSize) or 50
    local number = tonumber(req.query.pageNumber) or 1
    local items = {}
    for i = (number - 1) * size + 1, math.min(number * size, #rows) do items[#items + 1] = rows[i] end
    return { body = { [key] = items, paging = { totalRows = total or #rows, pageNumber = number,
      pageSize = size }, statusMessages = {} } }
  end
end

local function count_page(stub, number)
  local n = 0
  for _, r in ipairs(stub.requests) do
    if r.query.pageNumber == tostring(number) then n = n + 1 end
  end
  return n
end

describe("edge values: option 'concurrency'", function()
  it("refuses a concurrency that floors to 0 instead of failing inside the pager", function()
    assert.error_matches(function() client(new_stub(), { concurrency = 0.5 }) end,
      "option 'concurrency'")
  end)
  it("refuses a concurrency the C core's pipeline cannot hold", function()
    assert.error_matches(function() client(new_stub(), { concurrency = 1000 }) end,
      "option 'concurrency'")
  end)
end)

describe("edge values: pages fetched ahead", function()
  local rows = fixture(500)

  it("a fetched-ahead page refused with 404 is sent once, not repeated", function()
    local stub = new_stub()
    stub:on("GET", "Client/", function(req)
      if req.query.pageNumber == "3" then
        return { status = 404, body = { result = { { severity = 2, reason = "gone" } } } }
      end
      return paged("clients", rows)(req)
    end)
    local cp = client(stub)
    local failure
    for page, err in cp.clients:pages{} do
      if not page then failure = err break end
    end
    assert.equal("not_found", failure.kind)
    assert.equal(1, count_page(stub, 3))
  end)

  it("with retries = 0 a fetched-ahead page that got a 503 is not sent again", function()
    local stub = new_stub()
    stub:on("GET", "Client/", function(req)
      if req.query.pageNumber == "2" then return { status = 503 } end
      return paged("clients", rows)(req)
    end)
    local cp = client(stub, { retries = 0 })
    local failure
    for page, err in cp.clients:pages{} do
      if not page then failure = err break end
    end
    assert.equal("server", failure.kind)
    assert.equal(1, count_page(stub, 2))
  end)

  it("a fetched-ahead page that got a 429 is retried after Retry-After, not at once", function()
    local stub = new_stub()
    local refused = false
    stub:on("GET", "Client/", function(req)
      if req.query.pageNumber == "2" and not refused then
        refused = true
        return { status = 429, headers = { ["Retry-After"] = "3" } }
      end
      return paged("clients", rows)(req)
    end)
    local cp = client(stub)
    assert.equal(500, #assert(cp.clients:all{}))
    assert.equal(2, count_page(stub, 2))
    assert.equal(1, #stub.sleeps)
    assert.is_true(stub.sleeps[1] >= 3)
  end)
end)

describe("edge values: a totalRows far beyond the rows", function()
  for _, total in ipairs({ "1e18", "1e999" }) do
    it(("stops at the first empty page when totalRows is %s"):format(total), function()
      local stub = new_stub()
      local rows = fixture(150)
      stub:on("GET", "Client/", function(req)
        if #stub.requests > 50 then return { status = 500, body = "runaway pager" } end
        local size = tonumber(req.query.pageSize)
        local number = tonumber(req.query.pageNumber)
        local items = {}
        for i = (number - 1) * size + 1, math.min(number * size, #rows) do items[#items + 1] = rows[i] end
        return { body = ('{"clients":%s,"paging":{"totalRows":%s,"pageNumber":%d,"pageSize":%d}}'):format(
          #items > 0 and require("cjson").encode(items) or "[]", total, number, size) }
      end)
      local cp = client(stub)
      local items, err = cp.clients:all{}
      assert.is_nil(err)
      assert.equal(150, #items)
      assert.is_true(#stub.requests < 10)
    end)
  end
end)

describe("edge values: pageNumber given by the caller", function()
  local rows = fixture(500)
  it("each/pages with a string pageNumber fail with a clear message, not a comparison error", function()
    local stub = new_stub()
    stub:on("GET", "Client/", paged("clients", rows))
    local cp = client(stub)
    local ok, err = pcall(function() for _ in cp.clients:each{ pageNumber = "2" } do end end)
    assert.is_false(ok)
    assert.matches("pageNumber", tostring(err))
    assert.not_matches("attempt to compare", tostring(err))
  end)
  it("refuses pageNumber 0 (pages are 1-based) before any request", function()
    local stub = new_stub()
    stub:on("GET", "Client/", paged("clients", rows))
    local cp = client(stub)
    assert.error_matches(function() cp.clients:list{ pageNumber = 0 } end, "pageNumber")
    assert.equal(0, #stub.requests)
  end)
  it("each from pageNumber 4 yields the rows from there on", function()
    local stub = new_stub()
    stub:on("GET", "Client/", paged("clients", rows))
    local cp = client(stub)
    local n = 0
    for c in cp.clients:each{ pageNumber = 4 } do
      n = n + 1
      assert.equal(rows[300 + n].clientId, c.clientId)
    end
    assert.equal(200, n)
  end)
end)

describe("edge values: jwt.decode with huge exp/nbf", function()
  it("returns nil, err for an exp far in the past instead of raising", function()
    local token = jwt.encode({ exp = -1e300 }, "s")
    local ok, claims, err = pcall(jwt.decode, token, "s")
    assert.is_true(ok, tostring(claims))
    assert.is_nil(claims)
    assert.equal("expired", err.reason)
  end)
  it("returns nil, err for an nbf far in the future instead of raising", function()
    local token = jwt.encode({ nbf = 1e300 }, "s")
    local ok, claims, err = pcall(jwt.decode, token, "s")
    assert.is_true(ok, tostring(claims))
    assert.is_nil(claims)
    assert.equal("not_yet_valid", err.reason)
  end)
end)

describe("edge values: a JSON null reason in result[]", function()
  it("is skipped for the next text field, not shown as 'userdata' nor mapped from nothing", function()
    local stub = new_stub()
    stub:on("GET", "Client/", { status = 401, body =
      '{"result":[{"severity":2,"reason":null,"message":"Not authorized for viewing client list"}]}' })
    local cp = client(stub)
    local page, err = cp.clients:list{}
    assert.is_nil(page)
    assert.equal("forbidden", err.kind)
    assert.not_matches("userdata", tostring(err))
    assert.matches("VIEW_CLIENTLIST", err.hint)
  end)
end)
