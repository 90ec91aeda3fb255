-- Faults of the Redis that holds a shared limit (issue 26), as a plan for
-- spec/support/chaos.lua: garbage written into the window's entries (values
-- no writer makes: unreadable, "x y", "inf inf", NaN, out of range, a
-- departure a minute ahead, a lease an hour long), its `next` made
-- unreadable, Redis paused past the calls' timeout (DEBUG SLEEP), killed and
-- started again, and garbage again after that. Used by
-- spec/redis_chaos_spec.lua and bench/chaos.lua.
--   local plan = dofile("spec/support/redis_chaos.lua").plan
--   chaos.run{ mock = mock, redis = server, plan = plan, timeout = 2 }
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")

local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Writes bad values over the latest `count` bookings of the window.
local function garbage(server, key, count)
  local name = core._private.redis_limiter_key(key)
  local cli = server:cli("")
  local p = io.popen(cli .. " HGET " .. q(name) .. " next 2>/dev/null")
  local top = tonumber(p:read("a"):match("%d+")) or 40
  p:close()
  local t = core.now()
  local bad = { "garbage", "x y", "inf inf", "nan", "-1", "1e300",
    ("%.6f %.6f beef"):format(t, t + 3600),         -- a lease an hour long
    "\1\2\3", "" }
  local args = {}
  for i = 0, count - 1 do
    if top - i >= 1 then
      args[#args + 1] = tostring(top - i)
      -- and once a departure a minute ahead
      args[#args + 1] = q(i == 3 and ("%.6f"):format(t + 60) or bad[i % #bad + 1])
    end
  end
  F.sh(cli .. " HSET " .. q(name) .. " " .. table.concat(args, " ") .. " >/dev/null 2>&1")
end

local function retype(server, key)
  local name = core._private.redis_limiter_key(key)
  F.sh(server:cli("HSET " .. q(name) .. " next not-a-number >/dev/null 2>&1"))
end

--- The timeline for chaos.run (o.redis: the server, o.key: the limit's key).
-- Garbage is not exempt from the goal of 10 arrivals a second: mending must
-- hold it; only the outages are (each process then limits itself).
function M.plan(o)
  local server, key = o.redis, o.key
  return {
    { at = 3, damage = function() garbage(server, key, 30) end, name = "garbage over 30 entries",
      exempt = false },
    { at = 6, damage = function() retype(server, key) end, name = "next made unreadable",
      exempt = false },
    { at = 9, outage = 3, damage = function() server:pause(3) end,
      name = "DEBUG SLEEP 3 (past the calls' timeout)" },
    { at = 16, outage = 2, damage = function() server:kill() end, name = "killed" },
    { at = 18, damage = function() server:start{ port = server.port } end, name = "restarted" },
    { at = 22, damage = function() garbage(server, key, 30) end, name = "garbage again",
      exempt = false },
  }, 26
end

return M
