-- Switching between Redis and the fall-back (on_redis_error = "local"), in
-- the C core (docs/decisions.md#redis-switch): the fall-back's window knows
-- the departures made under Redis; for a window after the last departure
-- Redis cannot know of, Redis bookings pass the fall-back window too; and
-- the share a process falls back to is counted right when the window's
-- numbers start again. A plain redis-server, stopped and started here;
-- about 8 s. (The ngx transport's side: spec/redis_ngx_limit_spec.lua.)
local core = require "coreplus.core"
local Redis = dofile("spec/support/redis.lua")
local F = dofile("spec/support/files.lua")

local key = Redis.keys("redis_switch_spec")

describe("a Redis limit switching to its fall-back and back", function()
  local server

  before_each(function()
    server = Redis.new()
    server:start()
  end)

  after_each(function()
    if server then server:stop() end
  end)

  local function acquire_all(lim, n)
    local t0 = core.monotonic()
    for _ = 1, n do assert(lim:acquire()) end
    return core.monotonic() - t0
  end

  it("falls back knowing the departures it made under Redis", function()
    local lim = core.limiter{ rate = 3, per = 1, margin = 0, key = key("to"), shared = server.url,
      redis_timeout = 0.2 }
    acquire_all(lim, 3)                 -- 3 through Redis: the window is full
    server:stop()
    local took = acquire_all(lim, 1)    -- on the fall-back: after those 3
    assert.is_true(lim:stats().redis_local >= 1)
    assert.is_true(took >= 0.8, ("the 4th left %.2f s after the 3 sent under Redis"):format(took))
    lim:close()
  end)

  it("comes back to Redis keeping the departures Redis never saw", function()
    local url = server.url
    local lim = core.limiter{ rate = 3, per = 3, margin = 0, key = key("back"), shared = url,
      redis_timeout = 0.2 }
    acquire_all(lim, 1)                 -- (its share: the whole window)
    server:stop()
    local t0 = core.monotonic()
    acquire_all(lim, 2)                 -- on the fall-back: 3 in the window
    local port = tonumber(url:match(":(%d+)/"))
    server:start{ port = port }         -- an empty window: it knows none of them
    core.sleep(math.max(0, t0 + 1.2 - core.monotonic()))   -- (past the 1 s before a new attempt)
    local errors = lim:stats().redis_errors
    local took = acquire_all(lim, 1)
    assert.equals(errors, lim:stats().redis_errors, "booked in Redis")
    assert.is_true(core.monotonic() - t0 >= 2.7,
      ("the 4th left %.2f s after the 3 of the window (took %.2f s)"):format(core.monotonic() - t0, took))
    lim:close()
  end)

  it("counts its share again when the window's numbers start again", function()
    local k = key("share")
    local w = core._private.redis_limiter_key(k)
    local lim = core.limiter{ rate = 10, per = 0.2, margin = 0, key = k, shared = server.url,
      redis_timeout = 0.2 }
    -- 1 of every 10 numbers is this process's: others take the other 9
    for _ = 1, 4 do
      acquire_all(lim, 1)
      F.sh(server:cli(("HINCRBY %s next 9 >/dev/null"):format(F.q(w))))
    end
    -- the window restarts (an unreadable `next`): numbers start again at
    -- 11, above where this process's count began
    F.sh(server:cli(("HSET %s next garbage >/dev/null"):format(F.q(w))))
    acquire_all(lim, 3)
    server:stop()
    -- its share (1 a window), not 4 of 11 or more
    local took = acquire_all(lim, 4)
    assert.is_true(took >= 3 * 0.2 - 0.02, ("4 on the fall-back in %.2f s"):format(took))
    lim:close()
  end)
end)
