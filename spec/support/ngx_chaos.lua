-- Faults in OpenResty (issue 26): an nginx whose workers call the mock
-- through coreplus clients on the ngx transport (light threads started in
-- init_worker, so a respawned worker calls too), while this controller kills,
-- stops and blocks workers. Measured at the mock (arrivals) and in the
-- workers (each call's start, end and outcome). Used by
-- spec/ngx_chaos_spec.lua and bench/ngx_faults.lua.
--
--   local ngx_chaos = dofile("spec/support/ngx_chaos.lua")
--   local r = ngx_chaos.run{ mock = mock, duration = 20, plan = { {at = 3, kill = 1}, ... } }
--   plan events: {at =, kill = i}            SIGKILL the i-th worker (by pid order)
--                {at =, stop = i, for_ = s}  SIGSTOP it for s seconds
--                {at =, block = s}           a worker runs a blocking `sleep s`
--   options: workers (2), callers (per worker, 10), timeout (10), tenants (1,
--   the mock's first tokens), dict (nil: nginx/coreplus.conf's; or a size
--   such as "24k"), code (the checkout whose Lua and LuaJIT build run: this
--   one), clients (per caller; "shared": one client per tenant and worker),
--   fresh_connections (true: no connection is reused, so requests connect),
--   connect_delay (seconds a new connection takes to open: a proxy in front)
--   r.requests, r.rate_limited      arrivals at the mock, and how many got 429
--   r.max_per_second                the most arrivals of one tenant in any 1 s
--   r.worst_stall                   the longest gap between two arrivals of a
--                                   tenant beyond what the rate implies: one
--                                   window (per + the ngx margin), the gap
--                                   after a burst of `rate` (seconds)
--   r.calls, r.late, r.longest      calls made; calls longer than their
--                                   timeout (+ 0.25 s), leaving out those of a
--                                   worker while it was stopped or blocked;
--                                   the longest such call
--   r.outcomes                      { ok = n, timeout = n, ... }
--   r.deaths                        workers ended by a signal nobody sent
--   r.events, r.error_log
local nginx = dofile("spec/support/nginx.lua")

local q, capture, read_file, write_file = nginx.q, nginx.capture, nginx.read_file, nginx.write_file

local M = {}

local PER = 1
local WINDOW = PER + 2 * require("coreplus.core").defaults.margin   -- the ngx transport's
local TOLERANCE = 0.25

-- nginx.lua's pieces, with the checkout whose code runs (@CODE@), the
-- number of workers and the limiter's dict (@DICT@) left to fill.
local CONF = nginx.MAIN:gsub("worker_processes %d+;", "worker_processes @WORKERS@;") .. [[
worker_shutdown_timeout 1s;
events { worker_connections 1024; }
http {
]] .. nginx.HTTP:gsub("@TOP@", "@CODE@"):gsub("include @CODE@/nginx/coreplus.conf;", "@DICT@") .. [[
    lua_ssl_trusted_certificate @CAFILE@;
    lua_ssl_verify_depth 5;
    lua_max_running_timers 1024;
    init_worker_by_lua_block { dofile("@PREFIX@/load.lua") }
    server {
        listen 127.0.0.1:@P1@;
        location = /block { content_by_lua_block {
            ngx.say(ngx.worker.pid()); ngx.flush(true)
            os.execute("sleep " .. tonumber(ngx.var.arg_s))
        } }
    }
}
]]

-- Runs in each worker (init_worker): callers that call until `stop`.
local LOAD = [[
local cfg = dofile(@CONFIG@)
local ngx = ngx
local format = string.format
local pid = ngx.worker.pid()
local log = assert(io.open(cfg.log .. "." .. pid, "a"))
local coreplus = require "coreplus"
-- every request on a new connection (a balancer that closes idle ones):
-- bookings then spend a while connecting
if cfg.fresh_connections then require("coreplus.transport.ngx").keepalive_timeout = 0.001 end
local clients = {}
local function client(i)
  local tenant = (i - 1) % #cfg.tokens + 1
  local key = cfg.clients == "shared" and tenant or i
  if not clients[key] then
    clients[key] = coreplus.new{ base_url = cfg.base_url, consumer_id = cfg.consumer_id,
      consumer_secret = cfg.consumer_secret, access_token = cfg.tokens[tenant], transport = "ngx",
      timeout = cfg.timeout, user_agent = "ngx-chaos/1.0", issuer = "https://chaos.example" }
  end
  return clients[key]
end
local function caller(premature, i)
  if premature then return end
  local cp = client(i)
  while true do
    ngx.update_time()
    local t0 = ngx.now()
    if t0 >= cfg.stop then return end
    local ok, res, err = pcall(cp.request, cp, "GET", "Location/", { query = { pageSize = 1 } })
    ngx.update_time()
    local what = not ok and "raised" or res and "ok" or tostring(err.kind)
    log:write(format("%d %.3f %.3f %s\n", pid, t0, ngx.now(), what))
    log:flush()
    if not ok then ngx.log(ngx.ERR, "chaos caller: ", tostring(res)) end
    if not (ok and res) then ngx.sleep(0.05) end
  end
end
for i = 1, cfg.callers do ngx.timer.at(0, caller, i) end
]]

local function sleep(s) if s > 0 then nginx.sleep(s) end end

local function now()
  return tonumber(capture("date +%s.%N"))
end

local function worker_pids(master)
  local pids = {}
  for pid in capture("pgrep -P " .. master):gmatch("%d+") do pids[#pids + 1] = tonumber(pid) end
  table.sort(pids)
  return pids
end

local function serialize(v)
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = "[" .. serialize(k) .. "] = " .. serialize(x) end
    return "{ " .. table.concat(parts, ", ") .. " }"
  elseif type(v) == "string" then
    return ("%q"):format(v)
  end
  return tostring(v)
end

-- The most arrivals in any 1-second window, and the longest gap, per tenant
-- (the time from its last arrival to the end of the run included).
local function arrival_figures(arrivals, from, to)
  local by = {}
  for _, a in ipairs(arrivals) do
    if a.t >= from and a.t <= to then
      by[a.tenant] = by[a.tenant] or {}
      table.insert(by[a.tenant], a.t)
    end
  end
  local most, gap = 0, 0
  for _, times in pairs(by) do
    table.sort(times)
    local j = 1
    for i = 1, #times do
      while times[j] <= times[i] - 1 do j = j + 1 end
      most = math.max(most, i - j + 1)
      if i > 1 then gap = math.max(gap, times[i] - times[i - 1]) end
    end
    gap = math.max(gap, to - times[#times])
  end
  return most, math.max(0, gap - WINDOW)
end

local function in_fault(pid, a, b, faults)
  for _, f in ipairs(faults) do
    if f.pid == pid and a < f.to and b > f.from then return true end
  end
  return false
end

-- A proxy in front of the mock whose connections take `delay` to open
-- (spec/support/slow_proxy.py): pid, base URL.
local function slow_proxy(mock, delay, life, dir)
  local upstream = tonumber(mock.base_url:match(":(%d+)/?$"))
  local out = dir .. "/proxy.port"
  local pid = tonumber(capture(("/usr/bin/python3 %s %d %d %s >%s 2>&1 & echo $!")
    :format(q(nginx.TOP .. "/spec/support/slow_proxy.py"), upstream, life, delay, q(out))))
  for _ = 1, 150 do
    local port = tonumber(read_file(out) or "")
    if port then return pid, "https://127.0.0.1:" .. port end
    sleep(0.02)
  end
  os.execute("kill " .. pid)
  error("the slow proxy did not start: " .. tostring(read_file(out)))
end

function M.run(o)
  local mock = o.mock
  local code = o.code or nginx.TOP
  local duration = o.duration or 20
  local proxy_pid, base_url
  if o.connect_delay then
    local dir = capture("mktemp -d"):gsub("%s+$", "")
    proxy_pid, base_url = slow_proxy(mock, o.connect_delay, duration + 30, dir)
    os.execute("rm -rf " .. q(dir))
  end
  local ok, r = pcall(M._run, o, code, duration, base_url)
  if proxy_pid then os.execute("kill " .. proxy_pid .. " 2>/dev/null") end
  if not ok then error(r, 0) end
  return r
end

function M._run(o, code, duration, base_url)
  local mock = o.mock
  local tokens = {}
  for i = 1, o.tenants or 1 do tokens[i] = mock.access_tokens and mock.access_tokens[i] or mock.access_token end
  local cfg = { base_url = base_url or mock.base_url, consumer_id = mock.consumer_id,
    consumer_secret = mock.consumer_secret,
    tokens = tokens, callers = o.callers or 10, timeout = o.timeout or 10, clients = o.clients,
    fresh_connections = o.fresh_connections }
  local dict = o.dict and ("lua_shared_dict coreplus_limit " .. o.dict .. ";")
    or ("include " .. code .. "/nginx/coreplus.conf;")
  local service
  service = nginx.start{ name = "ngx-chaos",
    setup = function(prefix)
      cfg.log = prefix .. "/calls"
      -- the run ends by stopping nginx; this only ends callers left behind
      cfg.stop = os.time() + duration + 60
      write_file(prefix .. "/load.lua", (LOAD:gsub("@CONFIG@", ("%q"):format(prefix .. "/config.lua"))))
      write_file(prefix .. "/config.lua", "return " .. serialize(cfg))
    end,
    render = function(vars)
      vars.WORKERS, vars.CODE, vars.CAFILE, vars.DICT = tostring(o.workers or 2), code, mock.cafile, dict
      return (CONF:gsub("@(%w+)@", vars))
    end }
  local block_url = "http://127.0.0.1:" .. service.ports[1] .. "/block"
  local ok, r = pcall(function()
    mock:reset()
    local t0 = now()
    local events, faults, killed = {}, {}, {}
    for _, ev in ipairs(o.plan or {}) do
      sleep(t0 + ev.at - now())
      local pids = worker_pids(service.pid)
      local at = now() - t0
      if ev.kill then
        local pid = pids[ev.kill]
        os.execute("kill -9 " .. pid)
        killed[pid] = true
        events[#events + 1] = ("%.1f s: SIGKILL worker %d"):format(at, pid)
      elseif ev.stop then
        local pid = pids[ev.stop]
        os.execute("kill -STOP " .. pid)
        local from = now()
        events[#events + 1] = ("%.1f s: SIGSTOP worker %d for %g s"):format(at, pid, ev.for_)
        sleep(ev.for_)
        os.execute("kill -CONT " .. pid)
        faults[#faults + 1] = { pid = pid, from = from, to = now() + 0.5 }
      elseif ev.block then
        local from = now()
        local pid = tonumber(capture(("curl -s -N --max-time 1 %s 2>/dev/null | head -1")
          :format(q(block_url .. "?s=" .. ev.block)))) or 0
        faults[#faults + 1] = { pid = pid, from = from, to = from + ev.block + 0.5 }
        events[#events + 1] = ("%.1f s: worker %d blocked for %g s"):format(at, pid, ev.block)
      end
    end
    sleep(t0 + duration - now())
    local t1 = now()
    -- ends the workers, but keeps the prefix (its logs) until read
    os.execute("kill -QUIT " .. service.pid)
    for _ = 1, 150 do
      if capture("pgrep -P " .. service.pid) == "" then break end
      sleep(0.02)
    end
    local arrivals = mock:arrivals()
    local res = { events = events, requests = 0, rate_limited = 0, calls = 0, late = 0, longest = 0,
      outcomes = {}, deaths = 0, duration = duration }
    for _, a in ipairs(arrivals) do
      if a.t >= t0 and a.t <= t1 then
        res.requests = res.requests + 1
        if a.status == 429 then res.rate_limited = res.rate_limited + 1 end
      end
    end
    res.max_per_second, res.worst_stall = arrival_figures(arrivals, t0, t1)
    res.timeline = {}   -- arrivals in each second of the run
    for _, a in ipairs(arrivals) do
      local i = math.floor(a.t - t0) + 1
      if i >= 1 and a.t <= t1 then res.timeline[i] = (res.timeline[i] or 0) + 1 end
    end
    for i = 1, math.floor(t1 - t0) do res.timeline[i] = res.timeline[i] or 0 end
    for line in (capture("cat " .. q(cfg.log) .. ".* 2>/dev/null")):gmatch("[^\n]+") do
      local pid, a, b, what = line:match("^(%d+) (%S+) (%S+) (%S+)$")
      pid, a, b = tonumber(pid), tonumber(a), tonumber(b)
      if pid and a >= t0 and b <= t1 then
        res.calls = res.calls + 1
        res.outcomes[what] = (res.outcomes[what] or 0) + 1
        if not in_fault(pid, a, b, faults) then
          res.longest = math.max(res.longest, b - a)
          if b - a > cfg.timeout + TOLERANCE then res.late = res.late + 1 end
        end
      end
    end
    res.error_log = service.error_log()
    for pid, sig in res.error_log:gmatch("worker process (%d+) exited on signal (%d+)") do
      if not killed[tonumber(pid)] or sig ~= "9" then res.deaths = res.deaths + 1 end
    end
    return res
  end)
  service.stop()
  if not ok then error(r, 0) end
  return r
end

--- One line of figures.
function M.summary(r)
  local outcomes = {}
  for k, v in pairs(r.outcomes) do outcomes[#outcomes + 1] = k .. " " .. v end
  table.sort(outcomes)
  return ("%d requests (%d x 429), max %d per second, worst stall %.2f s, %d calls (%s), "
    .. "%d past their timeout, longest %.2f s, %d deaths"):format(r.requests, r.rate_limited,
    r.max_per_second, r.worst_stall, r.calls, table.concat(outcomes, ", "), r.late, r.longest, r.deaths)
end

return M
