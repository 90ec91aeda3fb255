-- Benchmark: several processes on one machine sharing one coreplus limit.
-- 4 processes send 100 requests in total (25 each) through coreplus clients
-- as fast as their limiters allow, starting together: once with the limit
-- shared in a file (coreplus.new{shared_limit = path}) and once with a
-- private limiter each (the comparison: every process believes it has the
-- whole 10 per second). The two groups run at the same time as two practices
-- (the mock's `tenants`: a budget each). Reports the wall time against the
-- 10 s that 100 requests at 10 per second take, the 429s the mock sent (the
-- client retries them with backoff, so they cost time, and a request whose
-- call runs out of time fails), the failures and the most requests the mock
-- saw in any 1-second window, all from the mock's log of arrivals; the
-- arrivals per 100 ms go to bench/cross_process.dat for the picture.
--   lua5.4 bench/cross_process.lua        (or through bench/run.lua)
local core = require "coreplus.core"
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"
local children = require "children"

local PROCS, TOTAL, RATE, PER = 4, 100, 10, 1.0
local SHARED, PRIVATE = 1, 2        -- practices: indexes into mock.access_tokens
local BIN = 0.1

local function summary(log, tenant)
  local list, most, j, refused = {}, 0, 1, 0
  for _, a in ipairs(log) do if a.tenant == tenant then list[#list + 1] = a end end
  for i, a in ipairs(list) do
    while list[j].t <= a.t - PER do j = j + 1 end
    if i - j + 1 > most then most = i - j + 1 end
    if a.status == 429 then refused = refused + 1 end
  end
  return { list = list, most = most, rate_limited = refused }
end

-- Per 100 ms from the common start: shared 200s, private 200s, private 429s.
local function write_timeline(start, shared, private)
  local rows, last = {}, 0
  local function add(list, col, want)
    for _, a in ipairs(list) do
      local b = math.floor((a.t - start) / BIN + 1e-9) + 1
      if b >= 1 and (want == nil or (want == 429) == (a.status == 429)) then
        rows[b] = rows[b] or { 0, 0, 0 }
        rows[b][col] = rows[b][col] + 1
        last = math.max(last, b)
      end
    end
  end
  add(shared, 1)
  add(private, 2, 200)
  add(private, 3, 429)
  local f = assert(io.open(harness.dir .. "/cross_process.dat", "w"))
  f:write("# seconds from the start, arrivals per 100 ms: shared file, private limiters (answered),"
    .. " private limiters (429)\n")
  for b = 1, last + 1 do
    local r = rows[b] or { 0, 0, 0 }
    f:write(("%.1f %d %d %d\n"):format((b - 1) * BIN, r[1], r[2], r[3]))
  end
  f:close()
end

local function run()
  local script = children.script()
  local path = os.tmpname()
  os.remove(path)
  return harness.with_mock({ tls = true, tenants = 2 }, function(mock)
    core.sleep(PER + 0.1)   -- an empty window at the mock
    mock:reset()
    local start = core.now() + 0.5
    local shared_group = children.start(mock, script, path, PROCS, TOTAL,
      { access_token = mock.access_tokens[SHARED], start = start })
    local private_group = children.start(mock, script, nil, PROCS, TOTAL,
      { access_token = mock.access_tokens[PRIVATE], start = start })
    local wall, failed = children.finish(shared_group)
    local pwall, pfailed = children.finish(private_group)
    local log = mock:arrivals()
    local shared, private = summary(log, SHARED), summary(log, PRIVATE)
    write_timeline(start, shared.list, private.list)
    local limit = TOTAL / RATE
    local label = ("cross-process: %d processes, %d requests"):format(PROCS, TOTAL)
    local rows = {
      { name = label .. ", shared file, wall", value = wall, unit = "s" },
      { name = "cross-process: limit (100 / 10 per s)", value = limit, unit = "s" },
    }
    for _, r in ipairs(harness.limit_rows("cross-process: shared file", { wall = wall, limit = limit,
      rate_limited = shared.rate_limited, failed = failed, most = shared.most })) do
      rows[#rows + 1] = r
    end
    for _, r in ipairs{
      { name = "cross-process: private limiters, wall", value = pwall, unit = "s" },
      { name = "cross-process: private limiters, wall / limit", value = pwall / limit, unit = "x" },
      { name = "cross-process: private limiters, 429s from the mock", value = private.rate_limited,
        unit = "" },
      { name = "cross-process: private limiters, failed requests", value = pfailed, unit = "" },
      { name = "cross-process: private limiters, mock max requests in 1 s", value = private.most, unit = "" },
    } do rows[#rows + 1] = r end
    return rows
  end, function() os.remove(script); os.remove(path) end)
end

return run
