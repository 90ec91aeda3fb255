-- core.request_many: concurrent requests over one multi handle, results in
-- input order, each request still throttled by its limiter.
local core = require "coreplus.core"
local cjson = require "cjson"

describe("core.request_many", function()
  local ctx, mock, page_req

  setup(function()
    ctx = dofile("spec/support/core_mock.lua").start("request_many_spec")
    mock, page_req = ctx.mock, ctx.page_req
  end)

  teardown(function()
    if ctx then ctx.stop() end
  end)

  it("returns results in input order", function()
    local list = {}
    for i = 1, 12 do list[i] = page_req(i) end
    local results = core.request_many(list, { concurrency = 6 })
    assert.equals(12, #results)
    for i = 1, 12 do
      assert.is_nil(results[i].error)
      assert.equals(200, results[i].status)
      assert.equals(i, cjson.decode(results[i].body).paging.pageNumber)
    end
  end)

  it("puts a transport failure in its own slot as {error = err}", function()
    local list = { page_req(1), { url = "https://127.0.0.1:1/x", connect_timeout = 2 }, page_req(3) }
    local results = core.request_many(list)
    assert.equals(200, results[1].status)
    assert.equals("network", results[2].error.kind)
    assert.is_false(results[2].error.sent)
    assert.equals(200, results[3].status)
  end)

  it("keeps the rate: 25 requests through one limiter, no 429, at most 10 per second", function()
    mock:reset()
    local list = {}
    for i = 1, 25 do list[i] = page_req(i) end
    local t0 = core.monotonic()
    local results = core.request_many(list, { concurrency = 10 })
    local took = core.monotonic() - t0
    for i = 1, 25 do assert.equals(200, results[i].status) end
    local st = mock:stats()
    assert.equals(0, st.rate_limited)
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. tostring(st.max_in_window))
    assert.is_true(took > 1.0, "took " .. took)   -- 25 at 10/s cannot finish in 1 s
  end)

  it("overlaps slow responses instead of waiting for each", function()
    local list = {}
    for i = 1, 8 do list[i] = page_req(i, { headers = { ["X-Mock-Latency"] = "1" } }) end
    local t0 = core.monotonic()
    local results = core.request_many(list, { concurrency = 8 })
    local took = core.monotonic() - t0
    for i = 1, 8 do assert.equals(200, results[i].status) end
    assert.is_true(took < 4, "took " .. took)   -- side by side: 1 s; one after another: 8 s
  end)

  it("times out each request on its own", function()
    local list = { page_req(1, { timeout = 0.4, headers = { ["X-Mock-Latency"] = "3" } }), page_req(2) }
    local results = core.request_many(list, { concurrency = 2 })
    assert.equals("timeout", results[1].error.kind)
    assert.equals(200, results[2].status)
  end)

  it("keeps each request's deadline: one that cannot make it fails alone, unsent", function()
    local slow = core.limiter{ rate = 1, per = 10, margin = 0 }
    local list = { page_req(1, { limiter = slow }), page_req(2, { limiter = slow, deadline = core.now() + 1 }),
      page_req(3) }
    local t0 = core.monotonic()
    local results = core.request_many(list, { concurrency = 3 })
    local took = core.monotonic() - t0
    slow:close()
    assert.equals(200, results[1].status)
    assert.equals("timeout", results[2].error.kind)
    assert.is_false(results[2].error.sent)
    assert.equals(200, results[3].status)
    assert.is_true(took < 5, "took " .. took)   -- not the 10 s the slow limiter would make it wait
  end)

  it("checks every request before sending any", function()
    local before = mock:stats().requests
    local ok, msg = pcall(core.request_many, { page_req(1), { url = "ftp://x" } })
    assert.is_false(ok)
    assert.matches("'url'", msg)
    ok, msg = pcall(core.request_many, { page_req(1), 5 })
    assert.is_false(ok)
    assert.matches("#2", msg)
    ok, msg = pcall(core.request_many, { page_req(1) }, { concurrency = 0 })
    assert.is_false(ok)
    assert.matches("'concurrency'", msg)
    assert.equals(before, mock:stats().requests)
  end)

  it("returns an empty list for an empty list", function()
    assert.same({}, core.request_many({}))
  end)
end)
