-- Benchmark: several processes on one machine sharing one coreplus limit.
-- 4 processes send 100 requests in total (25 each) through coreplus clients
-- as fast as their limiters allow, starting together: once with the limit
-- shared in a file (coreplus.new{shared_limit = path}) and once with a
-- private limiter each (the comparison: every process believes it has the
-- whole 10 per second). Reports the wall time against the 10 s that 100
-- requests at 10 per second take, the 429s the mock sent (the client retries
-- them with backoff, so they cost time, and a request that runs out of
-- retries fails), the failures and the most requests the mock saw in any
-- 1-second window.
--   lua5.4 bench/cross_process.lua        (or through bench/run.lua)
local core = require "coreplus.core"
local testing = require "coreplus.testing"
local children = require "children"

local PROCS, TOTAL, RATE = 4, 100, 10

local CHILD = [[
local coreplus = require "coreplus"
local core = require "coreplus.core"
local base, shared, cid, secret, token, start, count, cafile = ...
local cp = coreplus.new{ base_url = base, consumer_id = cid, consumer_secret = secret,
  access_token = token, cafile = cafile, shared_limit = shared ~= "-" and shared or nil }
core.sleep(tonumber(start) - core.now())
local failed = 0
for _ = 1, tonumber(count) do
  if not cp.locations:list{} then failed = failed + 1 end
end
print(failed)
]]



local function round(mock, script, shared)
  core.sleep(1.1)   -- an empty window at the mock before each round
  return children.run(mock, script, shared, PROCS, TOTAL)
end

local function run()
  local mock = testing.server{ tls = true }
  local script = os.tmpname()
  local path = os.tmpname()
  os.remove(path)
  local ok, rows = pcall(function()
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
    local shared, wall, failed = round(mock, script, path)
    local private, pwall, pfailed = round(mock, script, nil)
    local limit = TOTAL / RATE
    local label = ("cross-process: %d processes, %d requests"):format(PROCS, TOTAL)
    return {
      { name = label .. ", shared file, wall", value = wall, unit = "s" },
      { name = "cross-process: limit (100 / 10 per s)", value = limit, unit = "s" },
      { name = "cross-process: shared file, wall / limit", value = wall / limit, unit = "x",
        goal = "<= 1.1x", pass = wall / limit <= 1.1 },
      { name = "cross-process: shared file, 429s from the mock", value = shared.rate_limited, unit = "",
        goal = "0", pass = shared.rate_limited == 0 },
      { name = "cross-process: shared file, failed requests", value = failed, unit = "",
        goal = "0", pass = failed == 0 },
      { name = "cross-process: shared file, mock max requests in 1 s", value = shared.max_in_window,
        unit = "", goal = "<= 10", pass = shared.max_in_window <= 10 },
      { name = "cross-process: private limiters, wall", value = pwall, unit = "s" },
      { name = "cross-process: private limiters, wall / limit", value = pwall / limit, unit = "x" },
      { name = "cross-process: private limiters, 429s from the mock", value = private.rate_limited,
        unit = "" },
      { name = "cross-process: private limiters, failed requests", value = pfailed, unit = "" },
      { name = "cross-process: private limiters, mock max requests in 1 s",
        value = private.max_in_window, unit = "" },
    }
  end)
  os.remove(script)
  os.remove(path)
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

return run
