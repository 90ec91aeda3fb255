-- The Redis that holds a shared limit, under faults (issue 26 items 2, 3, 6):
-- 7 processes send requests to the mock through core.request with a 2 s
-- timeout, while garbage is written into the window, its `next` is made
-- unreadable, Redis is paused past the calls' timeout, killed and started
-- again (spec/support/redis_chaos.lua). Measured at the mock: while Redis is
-- away each process limits itself (on_redis_error = "local"), so those
-- seconds are outside the goal of 10 a second. About 30 s; the figures are
-- in `make bench` (bench/redis_faults.lua), from the same runner.
local testing = require "coreplus.testing"
local chaos = dofile("spec/support/chaos.lua")
local Redis = dofile("spec/support/redis.lua")
local plan = dofile("spec/support/redis_chaos.lua").plan

describe("a Redis shared limit under faults", function()
  local mock, server

  setup(function()
    math.randomseed(os.time())
    mock = testing.server{ tls = true }
    server = Redis.new()
    server:start()
  end)

  teardown(function()
    if server then server:stop() end
    if mock then mock:stop() end
  end)

  it("garbage, a pause past the timeout and a kill cost no process, no stall, no burst, "
    .. "and no call runs past its timeout", function()
    local r = chaos.run{ mock = mock, redis = server, plan = plan, timeout = 2 }
    if os.getenv("COREPLUS_SPEC_VERBOSE") then
      io.stderr:write(("# redis chaos: %.2f s without a success beyond the rate, max %d arrivals "
        .. "in a second (%d counting the outages), %d requests, %d x 429, longest call %.2f s "
        .. "(timeout 2 s), %d late, %d repairs, %d relets\n#   %s\n")
        :format(r.worst_progress, r.max_in_window, r.max_in_any_window, r.requests, r.rate_limited,
          r.longest_call, r.late_calls, r.repairs, r.relets, table.concat(r.events, "\n#   ")))
    end
    assert.equals(0, r.deaths, "workers killed by a signal nobody sent")
    assert.equals(0, r.late_calls, ("calls past their timeout (the longest %.2f s)"):format(r.longest_call))
    -- garbage costs a window (1.025 s) and the bookings it took back wait
    -- their turn again: 1.35 s beyond the rate on a quiet machine, up to 2.4
    -- under a loaded one; before the values were mended, 28.5 s
    assert.is_true(r.worst_progress <= 2.5, ("a worker went %.2f s without a success beyond the rate")
      :format(r.worst_progress))
    assert.is_true(r.max_in_window <= 10, ("%d arrivals in one second"):format(r.max_in_window))
    assert.is_true(r.repairs >= 1, "repairs " .. r.repairs)
    assert.is_true(r.requests > 100, "requests " .. r.requests)
  end)
end)
