-- The ngx transport's Redis limit does what the C core's does (issue 29,
-- the ngx side): a 429 widens the margin in Redis for every machine; while
-- Redis is away the nginx keeps to its recent share of the limit, counted
-- by all its workers in the shared dict (and counted again when the
-- window's numbers start again); it switches to the fall-back and back
-- without a burst (docs/decisions.md#redis-switch); every limiter call gets
-- what is left of the request's time; a call whose time had run out says
-- nothing of Redis. nginx with 2 workers and a plain redis-server, started
-- and stopped here; about 12 s.
local core = require "coreplus.core"
local nginx = dofile("spec/support/nginx.lua")
local Redis = dofile("spec/support/redis.lua")
local F = dofile("spec/support/files.lua")

local key = Redis.keys("redis_ngx_limit_spec")

describe("the ngx transport's Redis limit", function()
  local server, srv

  local function start_redis(port)
    if not port then server = Redis.new() end
    server:start{ port = port }
  end

  setup(function()
    start_redis()
    srv = nginx.start{ name = "redis-ngx-limit", ports = 1, render = function(vars)
      return (nginx.MAIN .. "events { worker_connections 64; }\nhttp {\n" .. nginx.HTTP .. [[
    server {
        listen 127.0.0.1:@P1@;
        location = /429 { return 429 '{"result":[]}'; }
]] .. nginx.EVAL .. [[
    }
}
]]):gsub("@(%w+)@", vars)
    end }
  end)

  teardown(function()
    if srv then srv.stop() end
    if server then server:stop() end
  end)

  local function hget(k, field)
    local w = core._private.redis_limiter_key(k)
    return (F.capture(server:cli(("HGET %s %s"):format(F.q(w), field))):gsub("%s+$", ""))
  end

  it("widens the margin in Redis, for every machine, when a request comes back 429", function()
    local k = key("learn")
    local r = srv.eval(([[
      local l = t.limiter{ rate = 10, per = 1, key = %q, shared = %q }
      local res = t.request{ url = "http://127.0.0.1:%d/429", limiter = l, timeout = 5 }
      return { status = res and res.status }
    ]]):format(k, server.url, srv.ports[1]))
    assert.equals(429, r.status)
    assert.equals(("%.6f"):format(core.defaults.learn_step), hget(k, "learnt"))
    -- the C core's limiter of the same key waits the learnt margin too
    local c = core.limiter{ rate = 1, per = 0.2, margin = 0, key = k, shared = server.url }
    c:acquire()
    assert.is_true(c:reserve() >= 0.2 + core.defaults.learn_step - 0.02)
    c:close()
  end)

  it("passes what is left of the call to every limiter call it makes", function()
    local r = srv.eval(([[
      local seen = {}
      local fake = {}
      function fake.reserve(_, deadline) seen.reserve = deadline; return fake.delay, {} end
      function fake.hold(_, _, _, deadline) seen.hold = deadline end
      function fake.ready() return 0 end
      function fake.sent(_, _, deadline) seen.sent = deadline; return 0 end
      function fake.cancel(_, _, deadline) seen.cancel = deadline or false end
      function fake.rate_limited(_, deadline) seen.rate_limited = deadline or false end
      local out = {}
      -- the wait would pass the deadline: cancelled, with the deadline
      fake.delay = 30
      t.request{ url = "http://127.0.0.1:%d/429", limiter = fake, timeout = 2, deadline = ngx.now() + 2 }
      out.wait_cancel = seen.cancel
      -- nothing listens: the booking is cancelled, with the deadline
      seen, fake.delay = {}, 0
      t.request{ url = "http://127.0.0.1:1/", limiter = fake, timeout = 2, deadline = ngx.now() + 2 }
      out.refused_cancel = seen.cancel
      -- a 429: the limit learns, with the deadline
      seen = {}
      t.request{ url = "http://127.0.0.1:%d/429", limiter = fake, timeout = 2, deadline = ngx.now() + 2 }
      out.rate_limited, out.sent = seen.rate_limited, seen.sent
      return out
    ]]):format(srv.ports[1], srv.ports[1]))
    for _, what in ipairs{ "wait_cancel", "refused_cancel", "rate_limited", "sent" } do
      assert.equals("number", type(r[what]), what)
    end
  end)

  it("says nothing of Redis when a call's time had already run out", function()
    local k = key("late")
    local seen = #srv.error_log()   -- (what other its wrote before: their own)
    local r = srv.eval(([[
      local l = t.limiter{ rate = 10, per = 1, key = %q, shared = %q }
      local d = l:reserve(ngx.now() - 1)
      return { d = d, stats = l:stats() }
    ]]):format(k, server.url))
    assert.is_number(r.d)
    assert.equals(0, r.stats.redis_errors)
    local log = srv.error_log():sub(seen + 1)
    assert.is_nil(log:find("on its own", 1, true), log)
  end)

  -- acquire n in a worker: { took, t0, t1 (ngx.now()), stats }
  local function acquire(o, n)
    local parts = {}
    for k, v in pairs(o) do
      parts[#parts + 1] = ("[%q] = %s"):format(k, type(v) == "string" and ("%q"):format(v) or v)
    end
    return srv.eval(([[
      local l = t.limiter{ %s }
      ngx.update_time()
      local t0 = ngx.now()
      for _ = 1, %d do assert(l:acquire()) end
      ngx.update_time()
      return { took = ngx.now() - t0, t0 = t0, t1 = ngx.now(), stats = l:stats() }
    ]]):format(table.concat(parts, ", "), n))
  end

  it("falls back knowing the departures it made under Redis", function()
    local o = { rate = 3, per = 1, margin = 0, key = key("to"), shared = server.url, redis_timeout = 0.2 }
    acquire(o, 3)                        -- 3 through Redis: the window is full
    server:stop()
    local r = acquire(o, 1)              -- on the fall-back (any worker): after those 3
    start_redis()
    assert.is_true(r.stats.redis_local >= 1)
    assert.is_true(r.took >= 0.8, ("the 4th left %.2f s after the 3 sent under Redis"):format(r.took))
  end)

  it("comes back to Redis keeping the departures Redis never saw", function()
    local port = server.port
    local o = { rate = 3, per = 3, margin = 0, key = key("back"), shared = server.url, redis_timeout = 0.2 }
    acquire(o, 1)                        -- (its share: the whole window)
    server:stop()
    local away = acquire(o, 2)           -- on the fall-back: 3 in the window
    start_redis(port)                    -- an empty window: it knows none of them
    nginx.sleep(1.2)                     -- (past the 1 s before a new attempt)
    local r = acquire(o, 1)
    assert.equals(0, r.stats.redis_errors, "booked in Redis")
    assert.is_true(r.t1 - away.t0 >= 2.7, ("the 4th left %.2f s after the 3 of the window")
      :format(r.t1 - away.t0))
  end)

  it("counts its share again when the window's numbers start again", function()
    local k = key("restart")
    local w = core._private.redis_limiter_key(k)
    local o = { rate = 10, per = 0.2, margin = 0, key = k, shared = server.url, redis_timeout = 0.2 }
    -- 1 of every 10 numbers is this nginx's: others take the other 9
    for _ = 1, 4 do
      acquire(o, 1)
      F.sh(server:cli(("HINCRBY %s next 9 >/dev/null"):format(F.q(w))))
    end
    -- the window restarts (an unreadable `next`): numbers start again at
    -- 11, above where this nginx's count began
    F.sh(server:cli(("HSET %s next garbage >/dev/null"):format(F.q(w))))
    acquire(o, 3)
    server:stop()
    local r = acquire(o, 4)
    start_redis()
    -- its share (1 a window), not 4 of 11 or more
    assert.equals(1, r.stats.redis_share_rate)
    assert.is_true(r.took >= 3 * 0.2 - 0.02, ("4 on the fall-back in %.2f s"):format(r.took))
  end)

  it("keeps to this nginx's recent share of the limit while Redis is away", function()
    local k = key("share")
    -- another machine (the C core here) books 9 of every 10 numbers
    local c = core.limiter{ rate = 10, per = 0.2, margin = 0, key = k, shared = server.url }
    local BOOK = ([[
      local l = t.limiter{ rate = 10, per = 0.2, margin = 0, key = %q, shared = %q }
      assert(l:acquire())
      return l:stats().redis_share_rate
    ]]):format(k, server.url)
    for _ = 1, 3 do
      srv.eval(BOOK)   -- (whichever worker: they count together)
      for _ = 1, 9 do c:acquire() end
    end
    c:close()
    local seen = #srv.error_log()
    server:stop()
    local r = srv.eval(([[
      local l = t.limiter{ rate = 10, per = 0.2, margin = 0, key = %q, shared = %q, redis_timeout = 0.2 }
      ngx.update_time()
      local t0 = ngx.now()
      for _ = 1, 5 do assert(l:acquire()) end
      ngx.update_time()
      return { took = ngx.now() - t0, share = l:stats().redis_share_rate, learnt = l:rate_limited() }
    ]]):format(k, server.url))
    start_redis()
    -- 3 of 30 numbers: a rate of 1 per 0.2 s, not 10
    assert.equals(1, r.share)
    assert.is_true(r.took >= 4 * 0.2 - 0.05, "took " .. r.took)
    assert.matches("at its recent share of the limit", srv.error_log():sub(seen + 1), 1, true)
    -- a 429 meanwhile teaches the fall-back
    assert.equals(core.defaults.learn_step, r.learnt)
  end)
end)
