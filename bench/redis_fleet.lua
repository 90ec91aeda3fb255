-- Benchmark: a fleet through one Redis (issue 29 item 7): N processes
-- ("machines", bench/redis_fleet_child.lua) x M practices, every practice's
-- limit of 10 per second kept in one Redis and wanted by every process at
-- once, against the mock (one budget per practice: its `tenants`). Runs for
-- plain Redis, TLS (rediss://, a private CA), a three-master Cluster, the
-- Cluster with the master of some practices killed at 3 s, and Sentinel
-- with its master killed at 3 s. Reports, measured at the mock: per
-- practice the most arrivals in any second (goal <= 10) and 429s; requests
-- lost (failed other than 429); Redis commands and Redis CPU per request
-- (INFO, summed over the nodes); acquire() latency p50/p99 under the load
-- (two round trips, probed every 100 ms by each process); and, for the
-- failovers, the longest time a practice got nothing through. The timeline
-- of the failovers goes to bench/redis_fleet.dat (bench/plots.gp).
-- The default is 8 x 10 (110 requests a second): on this project's 2-core
-- machine, with the mock, Redis and 8 client processes on the same cores,
-- more makes the time between a booking's departure in Redis and its
-- arrival at the mock jitter by more than the 25 ms margin (8 x 15 gave
-- 13 in a second and 7 x 429; 8 x 50 gave none with a margin of 100 ms).
--   lua5.4 bench/redis_fleet.lua        COREPLUS_FLEET=8x250 COREPLUS_FLEET_MARGIN=0.1 for more
local core = require "coreplus.core"
local testing = require "coreplus.testing"

local function script_dir()
  return (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"
end
local dir = script_dir()
local Redis = dofile(dir .. "/../spec/support/redis.lua")
local T = dofile(dir .. "/../spec/support/redis_topology.lua")
local F = dofile(dir .. "/../spec/support/files.lua")
local q = F.q

local PROCS, PRACTICES = (os.getenv("COREPLUS_FLEET") or "8x10"):match("^(%d+)x(%d+)$")
PROCS, PRACTICES = tonumber(PROCS) or 8, tonumber(PRACTICES) or 10
local DURATION = 8

-- INFO of every node: total commands processed and CPU seconds.
local function redis_load(nodes)
  local cmds, cpu = 0, 0
  for _, s in ipairs(nodes) do
    if s.pid then
      local info = F.capture(s:cli("INFO 2>/dev/null"))
      cmds = cmds + (tonumber(info:match("total_commands_processed:(%d+)")) or 0)
      cpu = cpu + (tonumber(info:match("used_cpu_sys:([%d.]+)")) or 0)
        + (tonumber(info:match("used_cpu_user:([%d.]+)")) or 0)
    end
  end
  return cmds, cpu
end

local function percentile(list, p)
  if #list == 0 then return 0 end
  table.sort(list)
  return list[math.max(1, math.ceil(#list * p))]
end

-- Per practice: the most arrivals in any second, and the longest gap
-- between two of its arrivals (from the start to the end of the run).
local function per_practice(arrivals, t0, t1)
  local by = {}
  for _, a in ipairs(arrivals) do
    if a.tenant and a.tenant > 0 then
      by[a.tenant] = by[a.tenant] or {}
      table.insert(by[a.tenant], a.t)
    end
  end
  local max_in, gap = 0, 0
  for _, ts in pairs(by) do
    table.sort(ts)
    local j = 1
    for i = 1, #ts do
      while ts[j] <= ts[i] - 1 do j = j + 1 end
      max_in = math.max(max_in, i - j + 1)
      gap = math.max(gap, ts[i] - (ts[i - 1] or t0))
    end
    gap = math.max(gap, t1 - ts[#ts])
  end
  return max_in, gap
end

-- Runs the fleet against url; event(t) at 3 s. Returns the figures.
local function fleet(mock, tokens, url, nodes, o)
  mock:reset()
  local start = core.now() + 3
  local stop = start + DURATION
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  local cmd = env .. "lua5.4 " .. table.concat({ q(dir .. "/redis_fleet_child.lua"), q(url), q(tokens),
    q(mock:url("Location/")), q(mock.consumer_id), q(mock.consumer_secret), q(mock.cafile),
    ("%.3f"):format(stop), q(o.redis_cafile or "-") }, " ") .. " 2>/dev/null"
  local procs = {}
  for i = 1, PROCS do procs[i] = assert(io.popen(cmd)) end
  core.sleep(start - core.now())
  local cmds0, cpu0 = redis_load(nodes())
  if o.event then
    core.sleep(start + 3 - core.now())
    o.event()
  end
  core.sleep(stop - core.now())
  local cmds1, cpu1 = redis_load(nodes())
  local ok, lost, lat = 0, 0, {}
  for _, p in ipairs(procs) do
    for line in p:lines() do
      local a, b = line:match("^done%s+(%d+)%s+(%d+)")
      if a then ok, lost = ok + tonumber(a), lost + tonumber(b) end
      local e, l, r, c = line:match("^limiter%s+(%d+)%s+(%d+)%s+(%d+)%s+(%d+)")
      if e then
        o.errors, o.locals = (o.errors or 0) + tonumber(e), (o.locals or 0) + tonumber(l)
        o.relets, o.calls = (o.relets or 0) + tonumber(r), (o.calls or 0) + tonumber(c)
      end
      local list = line:match("^probe (.*)$")
      for v in (list or ""):gmatch("%d+") do lat[#lat + 1] = tonumber(v) end
    end
    p:close()
  end
  local st = mock:stats()
  local arrivals = mock:arrivals()
  local max_in, gap = per_practice(arrivals, start, stop)
  local requests = math.max(1, st.requests)
  return { requests = st.requests, rate_limited = st.rate_limited, lost = lost, max_in = max_in,
    gap = gap, cmds = (cmds1 - cmds0) / requests, cpu_us = (cpu1 - cpu0) / requests * 1e6,
    p50 = percentile(lat, 0.5), p99 = percentile(lat, 0.99), arrivals = arrivals, start = start,
    rate = st.requests / DURATION, errors = o.errors or 0, locals = o.locals or 0,
    relets = o.relets or 0, calls = (o.calls or 0) / requests }
end

local function rows_of(label, r)
  local name = ("redis fleet %dx%d, %s: "):format(PROCS, PRACTICES, label)
  local rows = {
    { name = name .. "requests per second at the mock", value = r.rate, unit = "/s" },
    { name = name .. "most arrivals of one practice in 1 s", value = r.max_in, unit = "",
      goal = "<= 10", pass = r.max_in <= 10 },
    { name = name .. "429s", value = r.rate_limited, unit = "", goal = r.failover and nil or "0",
      pass = r.failover or r.rate_limited == 0 },
    { name = name .. "requests lost (failed, not 429)", value = r.lost, unit = "", goal = "0",
      pass = r.lost == 0 },
    { name = name .. "Redis round trips (script calls) per request", value = r.calls, unit = "" },
    { name = name .. "Redis commands per request (inside the scripts too)", value = r.cmds, unit = "" },
    { name = name .. "Redis errors / bookings made locally / made again", value =
      ("%d / %d / %d"):format(r.errors, r.locals, r.relets), unit = "" },
    { name = name .. "Redis CPU per request", value = r.cpu_us, unit = "us" },
    { name = name .. "acquire() latency p50 / p99", value = ("%d / %d"):format(r.p50, r.p99), unit = "us" },
  }
  if r.failover then
    rows[#rows + 1] = { name = name .. "longest a practice got nothing through", value = r.gap, unit = "s" }
  end
  return rows
end

-- Requests per 250 ms at the mock, and the most of one practice in it.
local function timeline(r)
  local bins = {}
  for _, a in ipairs(r.arrivals) do
    local b = math.floor((a.t - r.start) * 4)
    if b >= 0 and b < DURATION * 4 then
      bins[b] = bins[b] or { n = 0, r = 0 }
      bins[b].n = bins[b].n + 1
      if a.status == 429 then bins[b].r = bins[b].r + 1 end
    end
  end
  return bins
end

local function run()
  math.randomseed(os.time())
  local mock = testing.server{ tls = true, latency = 0, tenants = PRACTICES, clients = 64 }
  local tokens = F.tmpname()
  F.write(tokens, table.concat(mock.access_tokens, "\n") .. "\n")
  local certs, server, cluster, sentinel
  local out, timelines = {}, {}
  local ok, err = pcall(function()
    server = Redis.new()
    server:start()
    out[#out + 1] = rows_of("plain", fleet(mock, tokens, server.url, function() return { server } end, {}))
    server:stop()
    certs = Redis.certs()
    server:start{ tls = certs }
    out[#out + 1] = rows_of("TLS", fleet(mock, tokens, server.url, function() return { server } end,
      { redis_cafile = certs.ca }))
    server:stop()
    cluster = T.cluster()
    out[#out + 1] = rows_of("Cluster", fleet(mock, tokens, cluster.url, function() return cluster.nodes end, {}))
    local r = fleet(mock, tokens, cluster.url, function() return cluster.nodes end, { event = function()
      cluster:kill(cluster.nodes[2]) end })
    r.failover = true
    out[#out + 1] = rows_of("Cluster, a master killed at 3 s", r)
    timelines.cluster = timeline(r)
    cluster:stop()
    cluster = nil
    sentinel = T.sentinel()
    r = fleet(mock, tokens, sentinel.url, function() return { sentinel.master, sentinel.replica } end,
      { event = function() sentinel:failover() end })
    r.failover = true
    out[#out + 1] = rows_of("Sentinel, the master killed at 3 s", r)
    timelines.sentinel = timeline(r)
  end)
  if sentinel then sentinel:stop() end
  if cluster then cluster:stop() end
  if server then server:stop() end
  Redis.remove_certs(certs)
  mock:stop()
  os.remove(tokens)
  if not ok then error(err, 0) end
  -- the failovers' timeline for the picture
  local lines = { ("# %d processes x %d practices; seconds, requests and 429s per 250 ms: Cluster, Sentinel")
    :format(PROCS, PRACTICES) }
  for b = 0, DURATION * 4 - 1 do
    local c, s = timelines.cluster[b] or { n = 0, r = 0 }, timelines.sentinel[b] or { n = 0, r = 0 }
    lines[#lines + 1] = ("%.2f %d %d %d %d"):format(b / 4, c.n * 4, c.r * 4, s.n * 4, s.r * 4)
  end
  F.write(dir .. "/redis_fleet.dat", table.concat(lines, "\n") .. "\n")
  local rows = {}
  for _, group in ipairs(out) do
    for _, row in ipairs(group) do rows[#rows + 1] = row end
  end
  return rows
end

if arg and arg[0] and arg[0]:match("redis_fleet%.lua$") then
  for _, r in ipairs(run()) do print(("%-80s %s %s"):format(r.name, tostring(r.value), r.unit or "")) end
end
return run
