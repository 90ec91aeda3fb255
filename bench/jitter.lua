-- Benchmark: the limit under jitter. The mock spends 75 ms on each page and
-- waits a random time in [0, jitter) before its rate limit counts a request
-- (its `jitter` switch: the network and the server's front between the
-- client and the count). For jitter 0, 50 and 100 ms, two practices walk
-- every client one row per page (REQUESTS pages) at the same time, each
-- with its own budget: one with pages fetched ahead (the default
-- concurrency, 4), one a page at a time. Figures: the 429s each met (from
-- the mock's log of arrivals) and the fetch-ahead wall time against the
-- one-page-at-a-time wall time (the goal: never slower).
--   lua5.4 bench/run.lua jitter
--   COREPLUS_BENCH_JITTER_REQUESTS=150 for a shorter run (default 1000)
local core = require "coreplus.core"
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"

local dir = harness.dir
local REQUESTS = tonumber(os.getenv("COREPLUS_BENCH_JITTER_REQUESTS")) or 1000
local LATENCY = 0.075
local JITTERS = { 0, 0.05, 0.1 }
local AHEAD, ONE = 1, 2   -- practices: the index into mock.access_tokens

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function start_child(mock, tenant, concurrency, at)
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  return assert(io.popen(env .. "lua5.4 " .. q(dir .. "/jitter_child.lua") .. " " .. table.concat({
    q(mock.base_url), q(mock.cafile), q(mock.consumer_id), q(mock.consumer_secret),
    q(mock.access_tokens[tenant]), q(concurrency), q(("%.3f"):format(at)) }, " ")))
end

local function finish(p)
  local line = p:read("a")
  p:close()
  local wall, rows, status = line:match("^(%S+) (%d+) (%S+)")
  return { wall = tonumber(wall) or math.huge, rows = tonumber(rows) or 0, ok = status == "ok" }
end

local function refused(log, tenant)
  local n, all = 0, 0
  for _, a in ipairs(log) do
    if a.tenant == tenant then
      all = all + 1
      if a.status == 429 then n = n + 1 end
    end
  end
  return n, all
end

local function run()
  return harness.with_mock({ tls = true, latency = LATENCY, clients = REQUESTS, tenants = 2 }, function(mock)
    local out = {}
    for _, jitter in ipairs(JITTERS) do
      mock:reset()
      mock:switches{ jitter = jitter }
      mock:arrivals()   -- (empties the log)
      local at = core.now() + 1.5
      local ahead = start_child(mock, AHEAD, 4, at)
      local one = start_child(mock, ONE, 1, at)
      local a, o = finish(ahead), finish(one)
      local log = mock:arrivals()
      local ra, na = refused(log, AHEAD)
      local ro, no = refused(log, ONE)
      local ms = ("%.0f ms"):format(jitter * 1000)
      out[#out + 1] = { name = ("jitter %s: pages fetched ahead (4), 429s over %d requests"):format(ms, na),
        value = ra, unit = "", goal = "0", pass = ra == 0 and a.ok and a.rows == REQUESTS }
      out[#out + 1] = { name = ("jitter %s: one page at a time, 429s over %d requests"):format(ms, no),
        value = ro, unit = "", goal = "0", pass = ro == 0 and o.ok and o.rows == REQUESTS }
      out[#out + 1] = { name = ("jitter %s: %d pages, fetched ahead / one at a time, wall"):format(ms, REQUESTS),
        value = ("%.1f s / %.1f s"):format(a.wall, o.wall), unit = "" }
      out[#out + 1] = { name = ("jitter %s: fetched ahead wall / one page at a time wall"):format(ms),
        value = a.wall / o.wall, unit = "x", goal = "<= 1x", pass = a.wall <= o.wall }
    end
    return out
  end)
end

return run
