-- Benchmark: the CLI's start-up, `coreplus --version` from a fresh process
-- (wall time, the median of RUNS), against a bare `lua5.4 -e ''` measured
-- the same way in the same run.
--   lua5.4 bench/startup.lua        (or through bench/run.lua)
local core = require "coreplus.core"

local RUNS = 30
local GOAL_MS = 20

local function median_ms(cmd)
  local t = {}
  for i = 1, RUNS do
    local t0 = core.monotonic()
    assert(os.execute(cmd .. " >/dev/null 2>&1"), cmd)
    t[i] = (core.monotonic() - t0) * 1000
  end
  table.sort(t)
  return t[RUNS // 2 + 1]
end

return function()
  local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"
  local cli = median_ms("lua5.4 " .. dir .. "/../bin/coreplus --version")
  local bare = median_ms("lua5.4 -e ''")
  return {
    { name = "start-up: coreplus --version, median wall", value = cli, unit = "ms",
      goal = "< " .. GOAL_MS .. " ms", pass = cli < GOAL_MS },
    { name = "start-up: lua5.4 -e '' (the interpreter alone), median wall", value = bare, unit = "ms" },
  }
end
