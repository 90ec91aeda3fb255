-- Benchmark: the limiter kept in Redis against the in-process one.
--   1. Per-request overhead: N limiter:acquire() calls (a booking and its
--      departure: two Redis round trips) with a limit too high to ever wait,
--      local vs Redis on 127.0.0.1, and reserve() alone (one round trip).
--   2. Four processes ("machines") x 25 requests through one Redis against
--      the mock: wall time, 429s, most requests in any 1-second window.
-- Starts its own redis-server on a free port (spec/support/redis.lua) and stops it.
--   lua5.4 bench/redis_limiter.lua        (or through bench/run.lua)
local core = require "coreplus.core"
local testing = require "coreplus.testing"
local children = require "children"

local N = 5000
local PROCS, TOTAL = 4, 100

-- Seconds per call of fn over N calls.
local function per_call(fn)
  for _ = 1, 100 do fn() end   -- connection, script cache
  local t = core.monotonic()
  for _ = 1, N do fn() end
  return (core.monotonic() - t) / N
end

local CHILD = [[
local coreplus = require "coreplus"
local core = require "coreplus.core"
local base, shared, cid, secret, token, start, count, cafile = ...
local cp = coreplus.new{ base_url = base, consumer_id = cid, consumer_secret = secret,
  access_token = token, cafile = cafile, shared_limit = shared, user_agent = "coreplus-bench/1.0" }
core.sleep(tonumber(start) - core.now())
local failed = 0
for _ = 1, tonumber(count) do
  if not cp.locations:list{} then failed = failed + 1 end
end
print(failed)
]]

local function machines(url)
  local mock = testing.server{ tls = true }
  local script = os.tmpname()
  local ok, st, wall, failed = pcall(function()
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
    return children.run(mock, script, url, PROCS, TOTAL)
  end)
  os.remove(script)
  mock:stop()
  if not ok then error(st, 0) end
  return st, wall, failed
end

local function run()
  math.randomseed(os.time())
  local redis = dofile("spec/support/redis.lua").new()   -- the suite's own server helper
  local url = redis:start()
  local ok, rows = pcall(function()
    -- the real rate (10) with a window too short to ever wait: the script's
    -- work is what a real limiter pays
    local fast = { rate = 10, per = 1e-6, margin = 0 }
    local function limiter(shared, k)
      return core.limiter{ rate = fast.rate, per = fast.per, margin = fast.margin,
        key = "bench " .. k, shared = shared }
    end
    local ll, rl = limiter(nil, "local"), limiter(url, "redis")
    local t_local = per_call(function() ll:acquire() end)
    local t_redis = per_call(function() rl:acquire() end)
    local r_local = per_call(function() ll:reserve() end)
    local r_redis = per_call(function() rl:reserve() end)
    ll:close(); rl:close()
    local st, wall, failed = machines(url)
    local limit = (TOTAL - 10) / 10 * 1.025   -- the last ten may leave after this
    return {
      { name = "redis limiter: acquire(), local", value = t_local * 1e6, unit = "us" },
      { name = "redis limiter: acquire(), Redis on 127.0.0.1 (2 round trips)", value = t_redis * 1e6,
        unit = "us" },
      { name = "redis limiter: per-request overhead vs local", value = (t_redis - t_local) * 1e6,
        unit = "us", goal = "<= 1000 us (a request takes ~100 ms)",
        pass = (t_redis - t_local) <= 0.001 },
      { name = "redis limiter: reserve() alone, local / Redis", value = ("%.1f / %.1f"):format(
        r_local * 1e6, r_redis * 1e6), unit = "us" },
      { name = "redis limiter: 4 machines x 25, wall", value = wall, unit = "s" },
      { name = "redis limiter: 4 machines x 25, wall / ideal (9.2 s)", value = wall / limit, unit = "x",
        goal = "<= 1.1x", pass = wall / limit <= 1.1 },
      { name = "redis limiter: 4 machines x 25, 429s from the mock", value = st.rate_limited, unit = "",
        goal = "0", pass = st.rate_limited == 0 },
      { name = "redis limiter: 4 machines x 25, failed requests", value = failed, unit = "",
        goal = "0", pass = failed == 0 },
      { name = "redis limiter: 4 machines x 25, mock max requests in 1 s", value = st.max_in_window,
        unit = "", goal = "<= 10", pass = st.max_in_window <= 10 },
    }
  end)
  redis:stop()
  if not ok then error(rows, 0) end
  return rows
end

return run
