-- The process of bench/multi_tenant.lua: one process driving many practices
-- (a multi-practice add-on). Each practice is a lua-coreplus client
-- (coreplus.new with its own access token, so its own 10/s limiter) running
-- as a task of one coreplus.scheduler: their requests share its C-core
-- pipeline (one libcurl multi handle, connections pooled), and a request
-- yields its task until the answer is back.
-- Every practice runs one iteration per PERIOD: 10 GETs of its locations, one after another
-- (as many as its 10/s allows: the limiter adds 25 ms to each window). The
-- practices' iterations are spread over the period, as independent jobs
-- would be; an iteration is on time when it ends before the next is due.
--   lua5.4 multi_tenant_child.lua BASE CONSUMER SECRET CAFILE TOKENS_FILE STEPS ITERATIONS
-- STEPS: "50,100,..." practices driven at once, in increasing order.
-- Prints per attempt at a step: "step N attempt cpu_s wall_s iterations late
-- failed requests",
-- then "memory N lua_kb rss_kb" (before and after the clients) and
-- "memory_run N rss_kb" after the last step.
local coreplus = require "coreplus"
local core = require "coreplus.core"
local scheduler = require "coreplus.scheduler"

local base, consumer, secret, cafile, tokens_file, steps_arg, iterations = ...
iterations = tonumber(iterations)
local PERIOD = 1.05             -- s: 10 requests and the limiter's window (1 s + 25 ms)
local PER_ITERATION = 10
local CONCURRENCY = 32          -- transfers in flight, for all practices together

local function rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match("VmRSS:%s*(%d+) kB")
  f:close()
  return tonumber(kb)
end

local tokens = {}
for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
local steps = {}
for n in steps_arg:gmatch("%d+") do steps[#steps + 1] = tonumber(n) end

-- ===== the shared transport: coreplus.scheduler (one pipeline, tasks waiting on it) =====

local sched = scheduler.new{ concurrency = CONCURRENCY }
local transport = sched.transport

-- ===== the practices =====

local clients = {}
local function add_clients(n)
  for i = #clients + 1, n do
    clients[i] = coreplus.new{ base_url = base, consumer_id = consumer, consumer_secret = secret,
      access_token = assert(tokens[i], "not enough tenants"), cafile = cafile, transport = transport,
      -- one process, many practices: each limit lives in the process (the
      -- per-user file holds 32 keys; machines share with redis:// instead)
      shared_limit = false, user_agent = "coreplus-bench-multi-tenant/1.0" }
  end
end

collectgarbage(); collectgarbage()
local lua_before, rss_before = collectgarbage("count"), rss_kb()
add_clients(steps[#steps])
collectgarbage(); collectgarbage()
print(("memory %d %.1f %d %.1f %d"):format(#clients, lua_before, rss_before, collectgarbage("count"), rss_kb()))
io.stdout:flush()

-- One step: n practices for `iterations` iterations. Returns its figures.
local function step(n)
  core.sleep(1.1)               -- every window at the mock empty again
  local start = core.now() + 0.05
  local late, failed, requests = 0, 0, 0
  -- A practice never hands the shared pipeline a request that its limiter
  -- would hold back: the pipeline books the slot when a request is added
  -- and keeps it (and its place among the CONCURRENCY) until the slot comes,
  -- so one practice running late would hold up the others. Waiting until
  -- the request 10 back has come back, plus the limiter's window, is enough
  -- (it left before it came back).
  local WINDOW = 1.025 + 0.002
  local function practice(cp, i)
    local offset = (i - 1) / n * PERIOD
    local back, m = {}, 0      -- when the latest 10 requests came back
    for k = 0, iterations - 1 do
      local due = start + offset + k * PERIOD
      for _ = 1, PER_ITERATION do
        local free = math.max(due, (back[(m % PER_ITERATION) + 1] or 0) + WINDOW)
        local wait = free - core.now()
        if wait > 0 then sched:sleep(wait) end
        requests = requests + 1
        if not cp.locations:list{} then failed = failed + 1 end
        m = m + 1
        back[((m - 1) % PER_ITERATION) + 1] = core.now()
      end
      -- on time: done before the next iteration is due
      if core.now() > due + PERIOD then late = late + 1 end
    end
  end
  local cpu0, wall0 = os.clock(), core.now()
  for i = 1, n do sched:spawn(practice, clients[i], i) end
  assert(sched:run(), "a practice failed")
  return os.clock() - cpu0, core.now() - wall0, late, failed, requests
end

-- A step with late iterations or failures runs once more (the machine's
-- cores are shared: another process can stall this one for a moment); the
-- parent keeps the better attempt.
for _, n in ipairs(steps) do
  for attempt = 1, 2 do
    local cpu, wall, late, failed, requests = step(n)
    print(("step %d %d %.4f %.4f %d %d %d %d"):format(n, attempt, cpu, wall, n * iterations, late, failed,
      requests))
    io.stdout:flush()
    if late == 0 and failed == 0 then break end
  end
end
collectgarbage(); collectgarbage()
print(("memory_run %d %.1f %d"):format(#clients, collectgarbage("count"), rss_kb()))
sched:close()
