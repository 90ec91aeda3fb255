-- Chaos in OpenResty (issue 26): nginx with 2 workers whose light threads
-- call the mock through the ngx transport (every request on a new connection
-- that takes 0.3 s to open, so bookings spend a while connecting), while a
-- worker is SIGKILLed, another SIGSTOPped for 3 s and one blocked for 3 s.
-- Measured at the mock and in the workers (spec/support/ngx_chaos.lua): no
-- worker ended by a signal nobody sent, no stall beyond about a second past
-- what the rate implies (the lease a dead worker's bookings hold the others
-- up for, then the 0.3 s the next requests take to connect, and 0.4 s for a
-- loaded machine), at most 10 arrivals in any second, no 429, and every call
-- within its timeout (but those of a worker while it was stopped or blocked,
-- which cannot run). About 40 s. COREPLUS_SPEC_VERBOSE=1 prints the figures.
local testing = require "coreplus.testing"
local ngx_chaos = dofile("spec/support/ngx_chaos.lua")

describe("chaos in OpenResty: workers killed, stopped and blocked", function()
  local mock

  setup(function() mock = testing.server{ tls = true } end)
  teardown(function() if mock then mock:stop() end end)

  it("cost no worker, no stall beyond a lease, no burst, no call past its timeout", function()
    local connect = 0.3
    local r = ngx_chaos.run{ mock = mock, duration = 22, callers = 10, timeout = 5,
      fresh_connections = true, connect_delay = connect,
      plan = { { at = 3, kill = 1 }, { at = 8, stop = 1, for_ = 3 }, { at = 15, block = 3 } } }
    if os.getenv("COREPLUS_SPEC_VERBOSE") then
      io.stderr:write("# ngx chaos: ", ngx_chaos.summary(r), "\n#   ", table.concat(r.events, "\n#   "),
        "\n#   arrivals per second: ", table.concat(r.timeline, " "), "\n")
    end
    assert.are.equal(0, r.deaths, "workers ended by a signal nobody sent")
    local most = require("coreplus.core").defaults.lease + connect + 0.4
    assert.is_true(r.worst_stall <= most, ("a stall of %.2f s beyond the rate"):format(r.worst_stall))
    assert.is_true(r.max_per_second <= 10, r.max_per_second .. " arrivals in one second")
    assert.are.equal(0, r.rate_limited, "429s")
    assert.are.equal(0, r.late, ("%d calls past their timeout (longest %.2f s)"):format(r.late, r.longest))
    assert.is_true(r.requests > 100, "requests " .. r.requests)
  end)
end)
