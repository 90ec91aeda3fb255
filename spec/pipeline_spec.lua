-- core.pipeline: requests in flight as a stream (the pager's fetch-ahead).
local core = require "coreplus.core"

describe("core.pipeline", function()
  local ctx, mock, cred, req

  setup(function()
    ctx = dofile("spec/support/core_mock.lua").start("pipeline_spec")
    mock, cred, req = ctx.mock, ctx.cred, ctx.page_req
  end)

  teardown(function()
    if ctx then ctx.stop() end
  end)
  before_each(function() mock:reset() end)

  it("returns every added request once, by id", function()
    local p = core.pipeline{ concurrency = 3 }
    local want = {}
    for i = 1, 3 do want[p:add(req(i))] = i end
    assert.equal(3, p:pending())
    local got = 0
    while true do
      local id, res, err = p:next()
      if id == nil then break end
      assert.is_nil(err)
      assert.equal(200, res.status)
      assert.matches('"pageNumber":' .. want[id], res.body)
      want[id] = nil
      got = got + 1
    end
    assert.equal(3, got)
    assert.same({}, want)
    assert.equal(0, p:pending())
    p:close()
  end)

  it("refuses more than its capacity, naming the fix", function()
    local p = core.pipeline{ concurrency = 1 }
    p:add(req(1))
    assert.error_matches(function() p:add(req(2)) end, "pipeline full")
    assert.truthy(p:next())
    assert.truthy(p:add(req(2)))
    p:close()
  end)

  it("streams: keeps N in flight, at the rate, with no 429", function()
    local p = core.pipeline{ concurrency = 4 }
    local added, done = 0, 0
    while done < 25 do
      while p:pending() < p:capacity() and added < 25 do
        added = added + 1
        p:add(req(added))
      end
      local _, res = p:next()
      assert.equal(200, res.status)
      done = done + 1
    end
    local s = mock:stats()
    assert.equal(0, s.rate_limited)
    assert.is_true(s.max_in_window <= 10)
  end)

  it("gives transport failures as id, nil, err", function()
    local p = core.pipeline{ concurrency = 2 }
    local id = p:add{ url = "https://127.0.0.1:1/API/Core/v2.1/Client/", cafile = mock.cafile,
      credentials = cred, connect_timeout = 2 }
    local got, res, err = p:next()
    assert.equal(id, got)
    assert.is_nil(res)
    assert.equal("network", err.kind)
    assert.is_false(err.sent)
  end)

  it("sends nothing for requests added but not yet run when closed", function()
    local p = core.pipeline{ concurrency = 4 }
    for i = 1, 4 do p:add(req(i)) end
    p:close()
    p:close()   -- idempotent
    core.sleep(0.2)
    assert.equal(0, mock:stats().requests)
    assert.error_matches(function() p:add(req(1)) end, "closed")
  end)

  it("validates options before booking anything", function()
    local p = core.pipeline{ concurrency = 2 }
    assert.error_matches(function() p:add{ url = "https://x/\r\n" } end, "url")
    assert.equal(0, p:pending())
    assert.error_matches(function() core.pipeline{ concurrency = 0 } end, "concurrency")
  end)

  it("keeps the core's state alive while a pipeline lives", function()
    -- A second, private copy of the core: once its functions are garbage,
    -- only the pipeline still needs its state (share handle, handle pool).
    local path = assert(package.searchpath("coreplus.core", package.cpath))
    local open = assert(package.loadlib(path, "luaopen_coreplus_core"))
    local p = open().pipeline{ concurrency = 2 }
    collectgarbage()
    collectgarbage()
    local junk = {}   -- reuses freed memory, so that a use of it shows
    for i = 1, 2000 do junk[i] = ("x"):rep(400) .. i end
    assert.equal(2000, #junk)
    for i = 1, 2 do p:add(req(i)) end
    for _ = 1, 2 do
      local id, res, err = p:next()
      assert.truthy(id)
      assert.is_nil(err)
      assert.equal(200, res.status)
    end
    p:close()
  end)

  it("lets the pager stop fetching when a Lua 5.4 loop breaks", function()
    local cp = mock:client{ concurrency = 4 }
    local n = 0
    for _ in cp.clients:each{ pageSize = 5 } do
      n = n + 1
      if n == 7 then break end   -- inside page 2: pages 3..6 were queued, not sent
    end
    core.sleep(0.3)
    assert.is_true(mock:stats().requests <= 5, "requests " .. mock:stats().requests)
  end)
end)
