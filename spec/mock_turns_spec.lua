-- The mock's turns (coreplus.testing.mock.turns): heavy parts of requests
-- run at most SLICE of CPU per turn of nginx's event loop, so that nginx
-- reads (and stamps) arrivals between them. Here outside nginx: `ngx` is a
-- stand-in whose cached time moves only when "nginx polls" (poll()) or the
-- mock renews it (update_time), and the CPU clock is moved by hand.
describe("mock turns", function()
  local turns, fake, cpu, saved_ngx

  -- ngx as the module uses it: now (cached), update_time, sleep (a yield
  -- that ends the turn: the caller polls before resuming).
  local function stand_in()
    local f = { cached = 1000.000, real = 1000.000, sleeps = 0 }
    f.ngx = {
      now = function() return f.cached end,
      update_time = function() f.cached = f.real end,
      sleep = function() f.sleeps = f.sleeps + 1; coroutine.yield("slept") end,
    }
    -- nginx polls: its cached time becomes the real one
    function f.poll(ms) f.real = f.real + (ms or 1) / 1000; f.cached = f.real end
    return f
  end

  before_each(function()
    saved_ngx = rawget(_G, "ngx")
    fake = stand_in()
    _G.ngx = fake.ngx
    package.loaded["coreplus.testing.mock.turns"] = nil
    turns = require "coreplus.testing.mock.turns"
    cpu = 0
    turns.cpu = function() return cpu end
  end)
  after_each(function()
    _G.ngx = saved_ngx
    package.loaded["coreplus.testing.mock.turns"] = nil
  end)

  -- A request's heavy part as a coroutine: waits for its turn, then works
  -- `cost` seconds of CPU, renewing the cached time on the way as the
  -- mock's handlers do; returns "done", or "slept" while it waits.
  local function request(cost)
    return coroutine.create(function()
      turns.update_time()         -- (the handler read the clock before)
      turns.wait()
      fake.real = fake.real + cost
      cpu = cpu + cost
      turns.update_time()
      return "done"
    end)
  end
  local function step(co) return select(2, assert(coroutine.resume(co))) end

  it("runs heavy parts one after another until the turn has spent its slice, then lets nginx poll", function()
    local per = turns.SLICE / 2.5   -- three fit in a slice (the third begins before it is spent)
    local done = 0
    local cos = {}
    for i = 1, 5 do cos[i] = request(per) end
    for i = 1, 5 do if step(cos[i]) == "done" then done = done + 1 end end
    assert.equal(3, done)
    assert.equal(2, fake.sleeps)
    fake.poll()                  -- nginx reads what arrived meanwhile; then the rest
    for i = 4, 5 do assert.equal("done", step(cos[i])) end
    assert.equal(2, fake.sleeps)
  end)

  it("does not take the mock's own clock reads for a poll", function()
    local heavy = request(turns.SLICE * 2)
    assert.equal("done", step(heavy))
    for _ = 1, 3 do turns.update_time() end
    assert.equal("slept", step(request(0)))
  end)

  it("always runs the first heavy part of a turn, however long the last turn ran", function()
    assert.equal("done", step(request(turns.SLICE * 10)))
    fake.poll()
    assert.equal("done", step(request(turns.SLICE * 10)))
    assert.equal(0, fake.sleeps)
  end)

  it("lets a part that waited run after one poll", function()
    assert.equal("done", step(request(turns.SLICE)))
    local waiting = request(0)
    assert.equal("slept", step(waiting))
    fake.poll()
    assert.equal("done", step(waiting))
  end)
end)

describe("mock turns, at the mock", function()
  local testing = require "coreplus.testing"
  local core = require "coreplus.core"
  local mock
  lazy_setup(function() mock = testing.server{ latency = 0.3, rate_limit = false } end)
  lazy_teardown(function() mock:stop() end)

  local function opts(path, o)
    o = o or {}
    return { method = "GET", url = mock:url(path), credentials = { consumer_id = mock.consumer_id,
      consumer_secret = mock.consumer_secret, access_token = o.access_token or mock.access_token },
      cafile = mock.cafile, user_agent = "coreplus-mock-spec/1.0", issuer = "https://spec.example",
      headers = o.headers }
  end

  it("reads a request that arrives while a burst of answers is made before the burst is over", function()
    local BURST = 60
    local p = core.pipeline{ concurrency = BURST }
    -- Pages of 100 clients (a few ms of Lua each), each on the connection a
    -- light request just came back on, with latencies that make their
    -- answers due together.
    for _ = 1, BURST do p:add(opts("Location/")) end
    local due
    for i = 1, BURST do
      assert.equal(200, select(2, p:next()).status)
      due = due or core.now() + 0.3
      p:add(opts(("Client/?pageSize=100&pageNumber=%d"):format(i % 5 + 1),
        { headers = { ["X-Mock-Latency"] = ("%.3f"):format(math.max(0.01, due - core.now())) } }))
    end
    mock:arrivals()
    assert.equal(200, select(2, p:next()).status)   -- the first answer: the mock is in the burst now
    -- A light request (another token, answered without latency) arrives now.
    local res = assert(core.request(opts("Location/", { access_token = mock.restricted_access_token,
      headers = { ["X-Mock-Latency"] = "0" } })))
    assert.equal(200, res.status, res.body)
    for _ = 2, BURST do assert.equal(200, select(2, p:next()).status) end
    p:close()
    -- nginx read (and stamped) the light one while the burst's answers were
    -- being made, not after the last of them.
    local log = mock:arrivals()
    assert.equal(BURST + 1, #log)
    local light, last_done
    for _, a in ipairs(log) do
      if a.tenant == 0 then light = a elseif not last_done or a.done > last_done then last_done = a.done end
    end
    assert.truthy(light)
    assert.is_true(light.t < last_done, ("read at %.3f, the burst's last answer done at %.3f"):format(light.t,
      last_done))
  end)
end)
