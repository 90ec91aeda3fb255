-- Benchmark: one process driving many practices (a multi-practice add-on),
-- each with its own access token and so its own 10/s at the mock (the mock's
-- `tenants`). bench/multi_tenant_child.lua runs N lua-coreplus clients in
-- coroutines over one shared pipeline, each doing 10 GETs per 1.05 s
-- iteration (cp.locations:list{}: a small poll, so that the mock on the
-- other core keeps up as long as it can), for ITERATIONS iterations, for each
-- N of STEPS in turn. Per step: the child's CPU per wall second (cores: one Lua process
-- can use one), the mock's (its nginx worker, on the other core), 429s, late
-- iterations; a step that was late runs once more and the better attempt
-- counts (the machine is shared). The largest N that ran on time with no
-- 429 is the figure; the
-- CPU curve goes to bench/multi_tenant.dat for the picture. Memory per client:
-- the child's Lua heap and RSS before and after making the clients, and RSS
-- after the run (connections and limiter windows used).
--   lua5.4 bench/multi_tenant.lua        (or through bench/run.lua)
local testing = require "coreplus.testing"

local STEPS = { 100, 300, 500, 700, 900, 1100 }
local ITERATIONS = 3
local GOAL_N, GOAL_KB = 500, 8

local F = dofile("spec/support/files.lua")
local q, read_file = F.q, F.read
local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"

-- CPU seconds (user + system) of the mock's nginx workers so far.
local TICK = 100   -- USER_HZ: /proc's clock ticks per second on Linux
local function mock_cpu(mock)
  local total = 0
  local ls = io.popen("ls /proc")
  local pids = ls:read("a")
  ls:close()
  for p in pids:gmatch("%d+") do
    local stat = read_file("/proc/" .. p .. "/stat") or ""
    local ppid, ut, st = stat:match("^%d+ %b() %a (%d+)" .. (" %S+"):rep(9) .. " (%d+) (%d+)")
    if ppid == tostring(mock.pid) then total = total + (tonumber(ut) + tonumber(st)) / TICK end
  end
  return total
end

local function run()
  local mock = testing.server{ tls = true, latency = 0, tenants = STEPS[#STEPS], clients = 200 }
  local tokens = os.tmpname()
  local ok, rows = pcall(function()
    local f = assert(io.open(tokens, "w"))
    f:write(table.concat(mock.access_tokens, "\n"), "\n")
    f:close()
    local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
    local child = assert(io.popen(env .. "lua5.4 " .. table.concat({ q(dir .. "/multi_tenant_child.lua"),
      q(mock.base_url), q(mock.consumer_id), q(mock.consumer_secret), q(mock.cafile), q(tokens),
      q(table.concat(STEPS, ",")), q(ITERATIONS) }, " ") .. " 2>&1"))
    local steps, mem, run_mem, out = {}, nil, nil, {}
    local mock0 = mock_cpu(mock)
    for line in child:lines() do
      out[#out + 1] = line
      local n, attempt, cpu, wall, its, late, failed, requests =
        line:match("^step (%d+) (%d+) (%S+) (%S+) (%d+) (%d+) (%d+) (%d+)")
      if n then
        -- (the child now waits 1.1 s before its next attempt or step)
        local st = mock:stats()
        local m = mock_cpu(mock)
        local s = { n = tonumber(n), attempt = tonumber(attempt), cpu = tonumber(cpu), wall = tonumber(wall),
          iterations = tonumber(its), late = tonumber(late), failed = tonumber(failed),
          requests = tonumber(requests), rate_limited = st.rate_limited, max_in_window = st.max_in_window,
          mock_cpu = m - mock0 }
        s.bad = s.late + s.failed + s.rate_limited
        -- the better attempt of a step is kept
        local last = steps[#steps]
        if last and last.n == s.n then
          if s.bad < last.bad then steps[#steps] = s end
        else
          steps[#steps + 1] = s
        end
        mock:reset()
        mock0 = mock_cpu(mock)
      end
      local mn, lua0, rss0, lua1, rss1 = line:match("^memory (%d+) (%S+) (%d+) (%S+) (%d+)")
      if mn then mem = { n = tonumber(mn), lua0 = tonumber(lua0), rss0 = tonumber(rss0), lua1 = tonumber(lua1),
        rss1 = tonumber(rss1) } end
      local rn, rlua, rrss = line:match("^memory_run (%d+) (%S+) (%d+)")
      if rn then run_mem = { lua = tonumber(rlua), rss = tonumber(rrss) } end
    end
    child:close()
    if not mem or not run_mem or #steps ~= #STEPS then
      error("multi-tenant child: " .. table.concat(out, "\n"), 0)
    end

    -- the curve, for bench/plots.gp
    local dat = assert(io.open(dir .. "/multi_tenant.dat", "w"))
    dat:write("# practices  client_cores  mock_cores  requests_per_s  late  429s\n")
    local best, rows = 0, {}
    for _, s in ipairs(steps) do
      local on_time = s.late == 0 and s.rate_limited == 0 and s.failed == 0
      if on_time and s.n > best then best = s.n end
      dat:write(("%d %.4f %.4f %.1f %d %d\n"):format(s.n, s.cpu / s.wall, s.mock_cpu / s.wall,
        s.requests / s.wall, s.late, s.rate_limited))
      rows[#rows + 1] = { name = ("multi-tenant: %d practices, client CPU / mock CPU per wall second, late"
        .. " iterations, 429s (attempt)"):format(s.n), value = ("%.2f / %.2f cores, %d of %d late, %d (%d)"):format(
        s.cpu / s.wall, s.mock_cpu / s.wall, s.late, s.iterations, s.rate_limited, s.attempt), unit = "" }
    end
    dat:close()
    -- What one core would carry at the client's CPU cost per practice, from the
    -- largest step on time (the mock, on the other core, may give out first).
    local at
    for _, s in ipairs(steps) do if s.n == best then at = s end end
    local per_core = at and math.floor(at.n / (at.cpu / at.wall)) or 0
    local n = mem.n
    local lua_kb = (mem.lua1 - mem.lua0) / n
    local rss_kb = (mem.rss1 - mem.rss0) / n
    local run_kb = (run_mem.rss - mem.rss0) / n
    table.insert(rows, 1, { name = ("multi-tenant: most practices on time (10/s each, %d iterations), 0 x 429")
      :format(ITERATIONS), value = best, unit = "practices", goal = ">= " .. GOAL_N, pass = best >= GOAL_N })
    table.insert(rows, 2, { name = "multi-tenant: practices one client core would carry (at the client's CPU"
      .. " per practice, largest step on time)", value = per_core, unit = "practices" })
    rows[#rows + 1] = { name = ("multi-tenant: memory per client, Lua heap (%d clients)"):format(n), value = lua_kb,
      unit = "KB" }
    rows[#rows + 1] = { name = "multi-tenant: memory per client, RSS (Lua + C: limiter window ...)", value = rss_kb,
      unit = "KB", goal = "<= " .. GOAL_KB .. " KB", pass = rss_kb <= GOAL_KB }
    rows[#rows + 1] = { name = "multi-tenant: memory per client, RSS after the run (shared connections included)",
      value = run_kb, unit = "KB" }
    return rows
  end)
  os.remove(tokens)
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

return run
