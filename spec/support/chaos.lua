-- Chaos against one shared limit (issue 14): worker processes send requests
-- to the mock through core.request with a limiter on one limit file or one
-- Redis, while this controller SIGKILLs some of them without reaping them,
-- SIGSTOPs one, damages the file (or kills, pauses and restarts Redis) and
-- starts new ones. Used by spec/chaos_spec.lua and bench/chaos.lua.
--
--   local chaos = dofile("spec/support/chaos.lua")
--   local r = chaos.run{ mock = mock, file = path }             -- or
--   local r = chaos.run{ mock = mock, redis = server }           -- spec/support/redis.lua
--   (optional: plan = function(o) -> events, duration; timeout = each call's
--   seconds (20); redis_timeout; key)
--   r.deaths        workers ended by a signal we did not send
--   r.worst_stall   the longest wait of a worker between two answers, beyond
--                   what the rate implies (workers alive / rate), leaving out
--                   the time it was stopped
--   r.max_in_window the most arrivals at the mock in any 1-second window
--                   outside the exempt ones (the second after a damage; for
--                   Redis down or paused, the outage: each process then limits
--                   itself, by design), r.max_in_any_window counting all
--   r.worst_progress the same between two answers that were 200s (a worker
--                   whose calls all fail makes no progress, though it answers),
--                   leaving out the exempt seconds (see max_in_window)
--   r.longest_call  the longest call (seconds), r.late_calls those that ran past
--                   their timeout by more than 0.25 s
--   r.requests, r.rate_limited, r.relets, r.repairs, r.events, r.duration
--
-- One fault at a time on a limit file (issue 26), measured the same way
-- before and after a fix:
--   local r = chaos.file_fault{ mock = mock, fault = "ahead" }
--   fault: "ahead"      the latest 20 bookings' times written 100 s ahead
--          "cancelled"  the latest 20 bookings marked cancelled
--          "deleted"    the file deleted, and 3 more workers started
--          "readable"   the file made 0644 and a read lock held on it (as
--                       any local user could)
--   r.stall         the longest time without an arrival at the mock after
--                   the fault, beyond what the rate implies (0.1 s)
--   r.max_in_window the most arrivals in a 1-second window
--   r.requests, r.rate_limited, r.failed (calls that failed), r.refused
--   (workers whose limiter refused the file), r.arrivals (core.now() times,
--   sorted), r.fault_at
local core = require "coreplus.core"
local LF = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "limit_file.lua")

local M = {}

local RATE, WORKERS = 10, 7

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

-- Sends requests until stop (core.now() seconds); prints "t <time> <outcome>
-- <seconds the call took>" after each and "done <relets> <repairs>" at the end.
local WORKER = [[
local core = require "coreplus.core"
local base, url, cafile, cid, secret, token, shared, key, stop, timeout, redis_timeout = ...
local made, lim = pcall(core.limiter, { rate = 10, per = 1, shared = shared, key = key,
  redis_timeout = tonumber(redis_timeout) })
if not made then
  print(0)
  print("refused " .. tostring(lim))
  return
end
local cred = { consumer_id = cid, consumer_secret = secret, access_token = token }
local st = io.open("/proc/self/stat"); print(st:read("n")); st:close()
io.stdout:flush()
while core.now() < tonumber(stop) do
  local t = core.now()
  local res, err = core.request{ url = url, cafile = cafile, credentials = cred, limiter = lim,
    deadline = t + tonumber(timeout) }
  print(("t %.3f %s %.3f"):format(core.now(), res and res.status or err.kind, core.now() - t))
  io.stdout:flush()
  -- a call refused at once (its wait would pass its timeout) is not tried
  -- again in a tight loop, as no real client would
  if not res and not err.sent and core.now() - t < 0.05 then core.sleep(0.05) end
end
local s = lim:stats()
print(("done %d %d"):format(s.relets or 0, (s.file_repairs or 0) + (s.redis_repairs or 0)))
]]

local function start_worker(o, script, stop)
  local mock = o.mock
  local env = ("exec scripts/lua-env LUA_CPATH=%s LUA_PATH=%s "):format(q(os.getenv("COREPLUS_CHILD_LUA_CPATH")
    or package.cpath), q(package.path))
  local args = { mock.base_url, mock:url("Location/"), mock.cafile, mock.consumer_id,
    mock.consumer_secret, mock.access_token, o.file or o.redis.url, o.key, ("%.3f"):format(stop),
    o.timeout or 20, o.redis_timeout or "nil" }
  for i = 1, #args do args[i] = q(args[i]) end
  -- exec: this process is the worker's parent, so a killed one stays a zombie
  local proc = assert(io.popen(env .. "lua5.4 " .. q(script) .. " " .. table.concat(args, " ")
    .. " 2>&1"))
  return { proc = proc, pid = math.tointeger(tonumber(proc:read("l"))), stopped = {} }
end

-- ===== what the controller does =====

local function damage_file(path, how)
  if how == "truncate" then
    sh(": > " .. q(path))
  else
    local f = io.open(path, "r+b")
    if not f then return end
    local size = f:seek("end")
    f:seek("set", 0)
    if how == "zero" then
      f:write(("\0"):rep(size))
    else   -- garbage over the header and the first windows
      local t = {}
      for i = 1, 16384 do t[i] = string.char(math.random(0, 255)) end
      f:write(table.concat(t))
    end
    f:close()
  end
end

-- The timeline: { at = seconds from the start, what, ... }.
local function file_plan(path)
  return {
    { at = 3, kill = { 1, 2 } },
    { at = 5, stop = 3, for_ = 3 },
    { at = 10, damage = function() damage_file(path, "truncate") end, name = "truncated" },
    { at = 13, damage = function() damage_file(path, "garbage") end, name = "garbage written" },
    { at = 15, spawn = 2 },
    { at = 17, damage = function() damage_file(path, "zero") end, name = "zeroed" },
  }, 21
end

local function redis_plan(server)
  return {
    { at = 3, kill = { 1, 2 } },
    { at = 5, stop = 3, for_ = 3 },
    { at = 9, outage = 1.5, damage = function() server:pause(1.5) end, name = "DEBUG SLEEP 1.5" },
    { at = 13, outage = 2, damage = function() server:kill() end, name = "killed" },
    { at = 15, damage = function() server:start{ port = server.port } end, name = "restarted" },
    { at = 16, spawn = 2 },
  }, 21
end

local function act(ev, workers, spawn, t0)
  local now = core.now() - t0
  if ev.kill then
    for _, i in ipairs(ev.kill) do
      sh("kill -9 " .. workers[i].pid)
      workers[i].killed = true
    end
    return ("%.1f s: SIGKILL workers %s (not reaped)"):format(now, table.concat(ev.kill, ", "))
  elseif ev.stop then
    local w = workers[ev.stop]
    sh("kill -STOP " .. w.pid)
    w.stopped = { t0 + ev.at, t0 + ev.at + ev.for_ }
    return ("%.1f s: SIGSTOP worker %d for %g s"):format(now, ev.stop, ev.for_)
  elseif ev.spawn then
    for _ = 1, ev.spawn do workers[#workers + 1] = spawn() end
    return ("%.1f s: %d new workers"):format(now, ev.spawn)
  end
  ev.damage()
  return ("%.1f s: %s"):format(now, ev.name)
end

-- ===== what is measured =====

local function read_worker(w, timeout)
  w.times, w.ok_times, w.longest, w.late = {}, {}, 0, 0
  for line in w.proc:lines() do
    local t, status, took = line:match("^t (%S+) (%S+) (%S+)")
    t, took = tonumber(t), tonumber(took)
    if t then
      w.times[#w.times + 1] = t
      if status == "200" then w.ok_times[#w.ok_times + 1] = t end
      w.longest = math.max(w.longest, took)
      if took > timeout + 0.25 then w.late = w.late + 1 end
    else
      local relets, repairs = line:match("^done (%d+) (%d+)")
      if relets then w.relets, w.repairs = tonumber(relets), tonumber(repairs) end
    end
  end
  w.ok, w.how, w.code = w.proc:close()
end

-- The longest gap between answers of w (times: all of them, or its 200s)
-- beyond `implied`, leaving out any gap that overlaps its stopped period.
local function worst_gap(w, implied, times, exempt)
  local worst = 0
  times = times or w.times
  for i = 2, #times do
    local a, b = times[i - 1], times[i]
    local s, skip = w.stopped, false
    for _, e in ipairs(exempt or {}) do
      if a < e[2] and b > e[1] then skip = true end
    end
    if not (s[1] and a < s[2] and b > s[1]) and not skip then
      worst = math.max(worst, b - a - implied)
    end
  end
  return worst
end

local function max_in_window(arrivals, exempt)
  local worst, all = 0, 0
  local j = 1
  for i = 1, #arrivals do
    while arrivals[j] <= arrivals[i] - 1 do j = j + 1 end
    local n = i - j + 1   -- arrivals in (t - 1, t]
    all = math.max(all, n)
    local t, skip = arrivals[i], false
    for _, e in ipairs(exempt) do
      if t > e[1] and t - 1 < e[2] then skip = true end
    end
    if not skip then worst = math.max(worst, n) end
  end
  return worst, all
end

-- The mock's counts into r (requests, rate_limited); returns the arrival
-- times, sorted.
-- The mock's counts into r; the arrival times, sorted, and the arrivals as
-- the mock gave them (read once: the mock hands them out once).
local function at_the_mock(mock, r)
  local st = mock:stats()
  r.requests, r.rate_limited = st.requests, st.rate_limited
  local times, arrivals = {}, mock:arrivals()
  for i, a in ipairs(arrivals) do times[i] = a.t end
  table.sort(times)
  return times, arrivals
end

function M.run(o)
  local mock = o.mock
  o.key = o.key or ("chaos " .. os.time() .. " " .. math.random(1, 1e9))
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(WORKER)
  f:close()
  local plan, duration
  if o.plan then plan, duration = o.plan(o)
  elseif o.file then plan, duration = file_plan(o.file) else plan, duration = redis_plan(o.redis) end
  mock:reset()
  local t0 = core.now()
  local stop = t0 + duration
  local workers = {}
  local function spawn() return start_worker(o, script, stop) end
  for i = 1, WORKERS do workers[i] = spawn() end
  local events, exempt = {}, {}
  for _, ev in ipairs(plan) do
    core.sleep(t0 + ev.at - core.now())
    events[#events + 1] = act(ev, workers, spawn, t0)
    if ev.damage and ev.exempt ~= false then
      local at = core.now()
      -- the second after it; for Redis the outage too, and its 1 s retry
      exempt[#exempt + 1] = { at, at + (ev.outage or 0) + (o.redis and 2 or 1) }
    end
    if ev.stop then
      local w = workers[ev.stop]
      core.sleep(ev.for_)
      sh("kill -CONT " .. w.pid)
    end
  end
  local r = { deaths = 0, worst_stall = 0, worst_progress = 0, relets = 0, repairs = 0, events = events,
    duration = duration, workers = #workers, longest_call = 0, late_calls = 0 }
  for _, w in ipairs(workers) do
    read_worker(w, o.timeout or 20)
    r.longest_call, r.late_calls = math.max(r.longest_call, w.longest), r.late_calls + w.late
    if not w.killed then
      if not w.ok then r.deaths = r.deaths + 1 end
      r.worst_stall = math.max(r.worst_stall, worst_gap(w, WORKERS / RATE))
      -- (up to its last answer: a worker that never gets through again counts)
      local oks = { table.unpack(w.ok_times) }
      oks[#oks + 1] = w.times[#w.times]
      r.worst_progress = math.max(r.worst_progress, worst_gap(w, WORKERS / RATE, oks, exempt))
      r.relets, r.repairs = r.relets + (w.relets or 0), r.repairs + (w.repairs or 0)
    end
  end
  os.remove(script)
  local times
  times, r.arrivals = at_the_mock(mock, r)
  r.max_in_window, r.max_in_any_window = max_in_window(times, exempt)
  return r
end

-- ===== one fault on a limit file =====

local function fault_file(path, how)
  if how == "ahead" or how == "cancelled" then
    local nxt = assert(LF.next_of(path, 0), "no window in slot 0")
    for n = nxt - 20, nxt - 1 do
      if how == "ahead" then
        LF.poke(path, LF.entry_at(0, n) + LF.T, string.pack("<d", core.monotonic() + 100))
      else
        LF.poke(path, LF.entry_at(0, n) + LF.STATE, string.pack("<I4", LF.CANCELLED))
      end
    end
  elseif how == "deleted" then
    os.remove(path)
  end
end

-- A process (python's fcntl.lockf: the core's POSIX record lock) holding a
-- read lock on path, as any user who may read the file could; returns its
-- pid and pipe.
local function read_locker(path)
  local proc = assert(io.popen(("exec timeout 60 /usr/bin/python3 -c 'import fcntl,os,sys,time\n"
    .. "f = open(sys.argv[1], \"rb\"); fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB, 0, 0)\n"
    .. "print(os.getpid(), flush=True); time.sleep(60)' %s 2>&1"):format(q(path))))
  local line = proc:read("l")
  return math.tointeger(tonumber(line)), proc, line
end

function M.file_fault(o)
  local mock, at, duration = o.mock, o.at or 3, o.seconds or 12
  local path = o.file or os.tmpname()
  os.remove(path)
  o.file, o.key = path, o.key or ("fault " .. os.time() .. " " .. math.random(1, 1e9))
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(WORKER)
  f:close()
  local locker
  if o.fault == "readable" then
    -- made by a first limiter (0600), then opened up as a user might
    core.limiter{ shared = path, key = o.key }:close()
    sh("chmod 644 " .. q(path))
  end
  mock:reset()
  local t0 = core.now()
  local stop = t0 + duration
  local workers = {}
  for i = 1, 6 do workers[i] = start_worker(o, script, stop) end
  core.sleep(t0 + at - core.now())
  local fault_at = core.now()
  if o.fault == "readable" then
    local pid, proc, line = read_locker(path)
    locker = { pid = pid, proc = proc }
    assert(pid, "read lock: " .. tostring(line))
  else
    fault_file(path, o.fault)
  end
  if o.fault == "deleted" then
    for _ = 1, 3 do workers[#workers + 1] = start_worker(o, script, stop) end
  end
  local r = { failed = 0, refused = 0, fault = o.fault }
  for _, w in ipairs(workers) do
    w.times = {}
    for line in w.proc:lines() do
      local status = line:match("^t %S+ (%S+)")
      if status and status ~= "200" and status ~= "429" then r.failed = r.failed + 1 end
      if line:match("^refused") then r.refused, r.refusal = r.refused + 1, line end
    end
    w.proc:close()
  end
  if locker then
    sh("kill " .. locker.pid)
    locker.proc:close()
  end
  os.remove(script)
  os.remove(path)
  local times = at_the_mock(mock, r)
  r.arrivals, r.fault_at = times, fault_at
  r.max_in_window = max_in_window(times, {})
  -- the longest time without an arrival after the fault, to the end
  local last, stall = fault_at, 0
  for _, t in ipairs(times) do
    if t > fault_at then
      stall = math.max(stall, t - last)
      last = t
    end
  end
  r.stall = math.max(stall, stop - last) - 1 / RATE
  return r
end

return M
