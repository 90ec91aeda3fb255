-- Benchmark: chaos under one shared limit (issue 14), the runner of
-- spec/chaos_spec.lua: 7 processes against the mock on one limit file, then
-- on one Redis, while some are SIGKILLed and left as zombies, one is
-- SIGSTOPped for 3 s, the file is truncated, overwritten and zeroed (Redis
-- paused with DEBUG SLEEP, killed and restarted) and new processes start.
-- Reports, measured at the mock: processes killed by a signal, the longest
-- stall of a process beyond what the rate implies, the most arrivals in a
-- 1-second window outside the second after a damage (and counting it),
-- requests and 429s. With Redis down or paused each process limits itself
-- (on_redis_error = "local"), so those seconds are outside the goal too.
-- Then one fault at a time on a limit file (chaos.file_fault: times 100 s
-- ahead, cancelled marks, the file deleted, the file readable by others).
--   lua5.4 bench/chaos.lua        (or through bench/run.lua)
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"
local chaos = harness.support("chaos")
local Redis = harness.support("redis")

local function rows_of(label, r)
  return {
    { name = label .. ": processes killed by a signal", value = r.deaths, unit = "",
      goal = "0", pass = r.deaths == 0 },
    { name = label .. ": worst stall beyond the rate", value = r.worst_stall, unit = "s",
      goal = "<= 2 s", pass = r.worst_stall <= 2 },
    { name = label .. ": max arrivals in 1 s, outside the damage", value = r.max_in_window, unit = "",
      goal = "<= 10", pass = r.max_in_window <= 10 },
    { name = label .. ": max arrivals in 1 s, all", value = r.max_in_any_window, unit = "" },
    { name = label .. ": requests in " .. r.duration .. " s", value = r.requests, unit = "" },
    { name = label .. ": 429s from the mock", value = r.rate_limited, unit = "" },
    { name = label .. ": bookings made again (lease ran out)", value = r.relets, unit = "" },
  }
end

-- One fault at a time on a limit file (issue 26), 6 workers for 12 s.
local function fault_rows(mock)
  local out = {}
  for _, fault in ipairs{ "ahead", "cancelled", "deleted", "readable" } do
    local r = chaos.file_fault{ mock = mock, fault = fault }
    local label = "limit file, " .. fault
    if r.refused > 0 then
      out[#out + 1] = { name = label .. ": workers that refused the file", value = r.refused,
        unit = "", goal = "6", pass = r.refused == 6 }
    else
      out[#out + 1] = { name = label .. ": 429s from the mock", value = r.rate_limited, unit = "",
        goal = fault == "deleted" and "<= 20 (one window)" or "0",
        pass = r.rate_limited <= (fault == "deleted" and 20 or 0) }
      out[#out + 1] = { name = label .. ": max arrivals in 1 s", value = r.max_in_window, unit = "" }
      out[#out + 1] = { name = label .. ": longest time without an arrival", value = r.stall,
        unit = "s", goal = "<= 2 s", pass = r.stall <= 2 }
      out[#out + 1] = { name = label .. ": failed calls", value = r.failed, unit = "", goal = "0",
        pass = r.failed == 0 }
    end
  end
  return out
end

local function run()
  local server = Redis.new()
  local path = os.tmpname()
  os.remove(path)
  return harness.with_mock({ tls = true }, function(mock)
    local out = rows_of("chaos, limit file", chaos.run{ mock = mock, file = path })
    for _, r in ipairs(fault_rows(mock)) do out[#out + 1] = r end
    server:start()
    for _, r in ipairs(rows_of("chaos, Redis", chaos.run{ mock = mock, redis = server })) do
      out[#out + 1] = r
    end
    return out
  end, function() server:stop(); os.remove(path) end)
end

if ... == nil then   -- run on its own
  for _, r in ipairs(run()) do print(r.name, r.value, r.unit or "") end
end
return run
