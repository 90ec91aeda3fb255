-- Benchmark: the Redis of a shared limit under the faults of issue 26, one
-- at a time, then all together (spec/support/redis_chaos.lua): 7 processes
-- send requests to the mock through core.request, sharing one Redis limit.
--   1. one unreadable value in a booking that has left (10 below the latest;
--      calls with timeout = 30, as a default client's: before the script
--      mended values, the bookings that read it waited for it until their
--      calls timed out)
--   2. "x y" over the last 30 bookings     3. "inf inf" over them
--   4. Redis stopped (SIGSTOP) for 6 s while calls have timeout = 2 and
--      redis_timeout = 30
--   5. the chaos plan: garbage, `next` unreadable, DEBUG SLEEP 3, killed and
--      restarted, garbage again (timeout = 2)
-- Measured at the mock: the longest time a process went without a success
-- beyond what the rate implies (outages left out), the most arrivals in
-- any second (outages left out), 429s, and the longest call against its
-- timeout. The same runner measures any core: point LUA_CPATH at another
-- build to compare.
--   lua5.4 bench/redis_faults.lua        (or through bench/run.lua)
local core = require "coreplus.core"
local testing = require "coreplus.testing"

local function script_dir()
  return (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"
end
local support = script_dir() .. "/../spec/support/"
local chaos = dofile(support .. "chaos.lua")
local Redis = dofile(support .. "redis.lua")
local redis_chaos = dofile(support .. "redis_chaos.lua")
local F = dofile(support .. "files.lua")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Writes value over `count` bookings of o's window, from the one `from`
-- below the latest down.
local function overwrite(o, value, count, from)
  local name = core._private.redis_limiter_key(o.key)
  local p = io.popen(o.redis:cli("HGET " .. q(name) .. " next 2>/dev/null"))
  local top = tonumber(p:read("a"):match("%d+")) or 1
  p:close()
  local args = {}
  for i = from, from + count - 1 do
    if top - i >= 1 then args[#args + 1] = (top - i) .. " " .. q(value) end
  end
  F.sh(o.redis:cli("HSET " .. q(name) .. " " .. table.concat(args, " ")) .. " >/dev/null 2>&1")
end

local function one(value, count, from, name)
  return function(o)
    return { { at = 3, exempt = false, name = name,
      damage = function() overwrite(o, value, count, from) end } }, 12
  end
end

local SCENARIOS = {
  { label = "one unreadable value (timeout 30)", timeout = 30,
    plan = one("garbage", 1, 10, "'garbage' in a booking that has left") },
  { label = "'x y' over 30 bookings", plan = one("x y", 30, 0, "'x y' over the last 30 bookings") },
  { label = "'inf inf' over 30 bookings", plan = one("inf inf", 30, 0, "'inf inf' over the last 30") },
  { label = "Redis stopped 6 s, timeout 2, redis_timeout 30", redis_timeout = 30,
    plan = function(o)
      local pid = o.redis.pid
      return { { at = 3, outage = 6, name = "SIGSTOP for 6 s", damage = function()
        F.sh("kill -STOP " .. pid .. " && (sleep 6; kill -CONT " .. pid .. ") &")
      end } }, 14
    end },
  { label = "chaos (garbage, next, pause 3 s, kill)", plan = redis_chaos.plan },
}

local function rows_of(label, r, timeout)
  return {
    { name = "redis faults, " .. label .. ": longest without a success, beyond the rate",
      value = r.worst_progress, unit = "s", goal = "<= ~1 s", pass = r.worst_progress <= 1.5 },
    { name = "redis faults, " .. label .. ": max arrivals in 1 s (outages left out)",
      value = r.max_in_window, unit = "", goal = "<= 10", pass = r.max_in_window <= 10 },
    { name = "redis faults, " .. label .. ": 429s (in outages too)", value = r.rate_limited, unit = "" },
    { name = "redis faults, " .. label .. ": longest call", value = r.longest_call,
      unit = "s", goal = ("<= %g s"):format(timeout), pass = r.late_calls == 0 },
    { name = "redis faults, " .. label .. ": values mended", value = r.repairs, unit = "" },
  }
end

local function run(only)
  local mock = testing.server{ tls = true }
  local server = Redis.new()
  local ok, rows = pcall(function()
    local out = {}
    for _, s in ipairs(SCENARIOS) do
      if not only or s.label:find(only, 1, true) then
        server:start()
        local r = chaos.run{ mock = mock, redis = server, plan = s.plan, timeout = s.timeout or 2,
          redis_timeout = s.redis_timeout }
        server:stop()
        for _, row in ipairs(rows_of(s.label, r, s.timeout or 2)) do out[#out + 1] = row end
      end
    end
    return out
  end)
  server:stop()
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

if arg and arg[0] and arg[0]:match("redis_faults%.lua$") then   -- lua5.4 bench/redis_faults.lua [scenario]
  for _, r in ipairs(run(arg[1])) do print(("%-90s %s %s"):format(r.name, tostring(r.value), r.unit or "")) end
end
return run
