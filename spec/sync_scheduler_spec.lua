-- coreplus.scheduler: tasks in coroutines over one pipeline. The unit part
-- runs on a simulated transport (a clock that moves only when the loop waits,
-- requests that take the time their URL says), so orders and durations are
-- exact; the last part runs three practices against the mock.
local scheduler = require "coreplus.scheduler"
local testing = require "coreplus.testing"

-- A transport whose requests take `?t=SECONDS` of simulated time.
local function simulated()
  local sim = { clock = 0, sent = {}, blocking = 0, max_pending = 0 }
  local function duration(opts) return tonumber(opts.url:match("t=([%d.]+)")) or 1 end
  sim.transport = {
    name = "sim",
    now = function() return sim.clock end,
    sleep = function(s) sim.clock = sim.clock + s end,
    request = function(opts)
      sim.blocking = sim.blocking + 1
      sim.clock = sim.clock + duration(opts)
      return { status = 200, body = opts.url }
    end,
    pipeline = function(o)
      local p = { cap = o.concurrency, items = {}, last_id = 0 }
      function p.add(_, opts)
        assert(#p.items < p.cap, "pipeline over its capacity")
        p.last_id = p.last_id + 1
        p.items[#p.items + 1] = { id = p.last_id, due = sim.clock + duration(opts), url = opts.url }
        sim.sent[#sim.sent + 1] = opts.url
        sim.max_pending = math.max(sim.max_pending, #p.items)
        return p.last_id
      end
      function p.next()
        if #p.items == 0 then return nil end
        local best = 1
        for i, it in ipairs(p.items) do if it.due < p.items[best].due then best = i end end
        local it = table.remove(p.items, best)
        if it.due > sim.clock then sim.clock = it.due end
        return it.id, { status = 200, body = it.url }
      end
      function p.pending() return #p.items end
      function p.capacity() return p.cap end
      function p.close() p.items = {} end
      return p
    end,
  }
  return sim
end

describe("coreplus.scheduler", function()
  it("runs tasks' requests at once: two tasks of three 1 s requests take 3 s, not 6", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport }
    local got = {}
    for name in ("ab"):gmatch(".") do
      sched:spawn(function()
        for i = 1, 3 do
          local res = sched.transport.request{ url = "http://x/" .. name .. i .. "?t=1" }
          got[#got + 1] = res.body:match("/(%w+)%?")
        end
      end)
    end
    assert.is_true(sched:run())
    assert.are.equal(3, sim.clock)
    assert.are.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, got)
    assert.are.equal(0, sim.blocking)
  end)

  it("gives the places in order when the pipeline is full, and never goes over it", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport, concurrency = 2 }
    for i = 1, 5 do
      sched:spawn(function() sched.transport.request{ url = "http://x/" .. i .. "?t=1" } end)
    end
    assert.is_true(sched:run())
    assert.are.equal(2, sim.max_pending)
    assert.are.same({ "http://x/1?t=1", "http://x/2?t=1", "http://x/3?t=1", "http://x/4?t=1", "http://x/5?t=1" },
      sim.sent)
    assert.are.equal(3, sim.clock)   -- 2 + 2 + 1 requests, a second each
  end)

  it("wakes sleepers in the order they are due", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport }
    local order = {}
    for _, s in ipairs{ 3, 1, 2 } do
      sched:spawn(function() sched:sleep(s); order[#order + 1] = s end)
    end
    sched:run()
    assert.are.same({ 1, 2, 3 }, order)
    assert.are.equal(3, sim.clock)
  end)

  it("keeps streams apart: each gets its own answers, in the order they complete", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport }
    local seen = {}
    for name in ("pq"):gmatch(".") do
      sched:spawn(function()
        local s = sched.transport.pipeline{ concurrency = 3 }
        local ids = {}
        for _, t in ipairs{ 3, 1, 2 } do ids[s:add{ url = "http://x/" .. name .. t .. "?t=" .. t }] = t end
        assert.are.equal(3, s:pending())
        local mine = {}
        for _ = 1, 3 do
          local id, res = s:next()
          mine[#mine + 1] = ids[id] .. res.body:match("/(%a)%d")
        end
        assert.is_nil(s:next())
        seen[name] = table.concat(mine, " ")
      end)
    end
    assert.is_true(sched:run())
    assert.are.same({ p = "1p 2p 3p", q = "1q 2q 3q" }, seen)
    assert.are.equal(3, sim.clock)
  end)

  it("drops what a closed stream had in flight", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport }
    local other
    sched:spawn(function()
      local s = sched.transport.pipeline{ concurrency = 2 }
      s:add{ url = "http://x/slow?t=5" }
      s:close()
    end)
    sched:spawn(function() other = sched.transport.request{ url = "http://x/fast?t=1" }.body end)
    assert.is_true(sched:run())
    assert.are.equal("http://x/fast?t=1", other)
  end)

  it("returns a task's values through join, and its error", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport }
    local a = sched:spawn(function(x) sched:sleep(1); return x * 2, "two" end, 21)
    local b = sched:spawn(function() error("boom") end)
    local joined
    sched:spawn(function()
      local ok, v, w = sched:join(a)
      local bok, berr = sched:join(b)
      joined = { ok, v, w, bok, berr:match("boom") }
    end)
    local ok, failed = sched:run()
    assert.is_false(ok)
    assert.are.equal(1, #failed)
    assert.are.equal(b, failed[1])
    assert.are.same({ true, 42, "two", false, "boom" }, joined)
    assert.is_true(a.done and a.ok)
  end)

  it("fails a task that yields on its own account, instead of losing it", function()
    local sched = scheduler.new{ transport = simulated().transport }
    local t = sched:spawn(function() coroutine.yield("mine") end)
    local ok = sched:run()
    assert.is_false(ok)
    assert.truthy(t.error:find("coroutine.yield inside a coreplus.scheduler task", 1, true))
  end)

  it("fails tasks that wait for nothing (a join on itself) instead of hanging", function()
    local sched = scheduler.new{ transport = simulated().transport }
    local t
    t = sched:spawn(function() sched:join(t) end)
    local ok, failed = sched:run()
    assert.is_false(ok)
    assert.truthy(failed[1].error:find("deadlock", 1, true))
  end)

  it("outside a task, requests and sleeps block as on the default transport", function()
    local sim = simulated()
    local sched = scheduler.new{ transport = sim.transport }
    assert.are.equal("http://x/?t=2", sched.transport.request{ url = "http://x/?t=2" }.body)
    sched:sleep(1)
    assert.are.equal(1, sim.blocking)
    assert.are.equal(3, sim.clock)
    -- a coroutine of the task's own is "outside" too: it must not yield to the loop
    sched:spawn(function()
      coroutine.wrap(function() sched.transport.request{ url = "http://x/?t=1" } end)()
    end)
    assert.is_true(sched:run())
    assert.are.equal(2, sim.blocking)
  end)

  it("refuses misuse by name", function()
    local sched = scheduler.new{ transport = simulated().transport }
    assert.has_error(function() sched:spawn("no") end, "bad argument #1 to 'spawn' (function expected, got string)")
    assert.has_error(function() scheduler.new{ concurrency = 0 } end)
    assert.has_error(function() sched:join({ done = false, joiners = {} }) end,
      "join: call it from inside a task of this scheduler")
  end)
end)

describe("coreplus.scheduler's places for many practices", function()
  it("gives 8 places a practice, from the default 64 up to the core's maximum", function()
    assert.equal(scheduler.DEFAULT_CONCURRENCY, scheduler.concurrency_for(1))
    assert.equal(80, scheduler.concurrency_for(10))
    local most = require("coreplus.core").defaults.max_concurrency
    assert.equal(most, scheduler.concurrency_for(40))
    assert.equal(most, scheduler.concurrency_for(1000))
  end)

  it("a sync of 40 practices gets them, not 64 for all", function()
    local F = dofile("spec/support/files.lua")
    local dir = F.tmpdir()
    local practices = {}
    for i = 1, 40 do
      practices[i] = { practice = "p" .. i, options = { base_url = "https://127.0.0.1:9", consumer_id = "c",
        consumer_secret = "s", access_token = "t" .. i, shared_limit = false, user_agent = "spec/1.0",
        issuer = "https://spec.example" } }
    end
    local s = assert(require("coreplus.sync").new{ to = "sqlite:" .. dir .. "/m.db", practices = practices })
    assert.equal(scheduler.concurrency_for(40), s.sched.pipe:capacity())
    s:close()
    F.sh("rm -rf " .. F.q(dir))
  end)
end)

describe("coreplus.scheduler with clients of three practices", function()
  local mock
  lazy_setup(function() mock = testing.server{ tenants = 3, latency = 0.05, clients = 250 } end)
  lazy_teardown(function() if mock then mock:stop() end end)

  it("pages each practice's clients at once, each within its own limit, with no 429", function()
    local sched = scheduler.new{}
    local counts = {}
    for i = 1, 3 do
      local cp = mock:client{ access_token = mock.access_tokens[i], transport = sched.transport,
        shared_limit = false, user_agent = "sync-spec/1.0", issuer = "https://sync-spec.example" }
      sched:spawn(function()
        local n = 0
        for _ in cp.clients:each{} do n = n + 1 end
        counts[i] = n
      end)
    end
    mock:arrivals()
    assert.is_true(sched:run())
    sched:close()
    assert.are.same({ 250, 250, 250 }, counts)
    local arrivals = mock:arrivals()
    assert.are.equal(9, #arrivals)
    -- every practice's first page arrives before any practice's last one
    local first_of, last_at = {}, 0
    for n, a in ipairs(arrivals) do
      assert.are.equal(200, a.status)
      first_of[a.tenant] = first_of[a.tenant] or n
      last_at = n
    end
    for i = 1, 3 do assert.is_true(first_of[i] <= 3, "practice " .. i .. " waited for the others") end
    assert.are.equal(9, last_at)
    assert.are.equal(0, mock:stats().rate_limited)
  end)
end)
