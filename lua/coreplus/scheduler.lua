--- Many practices in one process: tasks in coroutines over one pipeline.
--
-- A scheduler runs tasks (Lua functions, each in a coroutine) and gives
-- them a transport whose requests all go through one `coreplus.core.pipeline`
-- (one libcurl multi handle, connections pooled). A task that sends a
-- request, waits for a page fetched ahead or sleeps yields; the scheduler
-- sends, waits for whichever answer comes first and resumes its task. Each
-- client keeps its own limiter (one practice, one 10/s budget), so N
-- practices run at N times the rate of one, in one thread.
--
--     local scheduler = require "coreplus.scheduler"
--     local sched = scheduler.new{ concurrency = 64 }
--     for _, token in ipairs(tokens) do
--       local cp = coreplus.new{ ..., access_token = token, transport = sched.transport }
--       sched:spawn(function() for c in cp.clients:each{} do ... end end)
--     end
--     local ok, failed = sched:run()   -- until every task has ended
--
-- Outside a task (the main program, or a coroutine of the task's own), the
-- transport does what the default one does: blocking requests and sleeps.
-- A sleeping task wakes when it is due or, while requests are in flight,
-- when the next answer arrives after that (the pipeline's wait has no
-- timeout), so sleeps can run long by up to one request's time.
-- @module coreplus.scheduler
local core = require "coreplus.core"
local misuse = require "coreplus.misuse"

local type = type
local tostring = tostring
local pairs, ipairs = pairs, ipairs
local select = select
local unpack = table.unpack or rawget(_G, "unpack")   -- LuaJIT: the global
local setmetatable = setmetatable
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_running, co_status = coroutine.running, coroutine.status
local traceback = debug.traceback
local max, min = math.max, math.min
local floor = math.floor

local _M = {}

--- Places in the shared pipeline when `concurrency` is not given: enough
-- for a dozen practices with pages fetched ahead (4 each, several lists at
-- once), well under the core's maximum.
_M.DEFAULT_CONCURRENCY = 64

--- Places in flight a practice at its limit uses: 10 requests a second
-- answered in 300 ms keep 3 in flight, 10 when its window opens, and a
-- request waiting for its limiter slot holds its place too (a place costs
-- no connection until the request starts).
_M.PER_PRACTICE = 8

--- Places for `n` practices at their limit: `PER_PRACTICE` each, at least
-- `DEFAULT_CONCURRENCY`, at most the core's maximum. With fewer, practices
-- wait for places rather than for their limit (40 practices in 64 places at
-- 300 ms took 3 times as long as one practice; in 256, 1.14 times).
-- @tparam integer n
-- @treturn integer
function _M.concurrency_for(n)
  return min(core.defaults.max_concurrency, max(_M.DEFAULT_CONCURRENCY, _M.PER_PRACTICE * n))
end

-- What a task yields to the scheduler: anything else comes from a
-- coroutine.yield the scheduler does not own, and fails the task.
local WAIT = setmetatable({}, { __tostring = function() return "coreplus.scheduler wait" end })

local Scheduler = {}
Scheduler.__index = Scheduler

-- ===== sleepers: a binary heap on the time they wake at =====

local function heap_push(h, at, co)
  h.n = h.n + 1
  local i = h.n
  while i > 1 do
    local up = floor(i / 2)
    if h[up].at <= at then break end
    h[i] = h[up]
    i = up
  end
  h[i] = { at = at, co = co }
end

local function heap_pop(h)
  local top, last = h[1], h[h.n]
  h[h.n] = nil
  h.n = h.n - 1
  local i = 1
  while true do
    local c = i * 2
    if c > h.n then break end
    if c < h.n and h[c + 1].at < h[c].at then c = c + 1 end
    if last.at <= h[c].at then break end
    h[i] = h[c]
    i = c
  end
  if h.n > 0 then h[i] = last end
  return top
end

-- ===== tasks =====

--- A task, from `sched:spawn`. Fields to read: `done` (true once ended),
-- `ok` (true: returned; false: raised), `error` (what it raised, with a
-- traceback), `name`; `values()` gives what the function returned.
-- @type task

local function task_values(t) return unpack(t.results, 1, t.results.n) end

--- Makes a task of fn(...); it starts when `run` runs (or at once, in
-- order, when spawned from another task).
-- @tparam function fn
-- @param ... its arguments
-- @treturn task
function Scheduler:spawn(fn, ...)
  if type(fn) ~= "function" then misuse.raise("bad argument #1 to 'spawn' (function expected, got %s)", type(fn)) end
  local task = { done = false, co = co_create(fn), joiners = {}, values = task_values }
  self.tasks[task.co] = task
  self.live = self.live + 1
  self:ready(task.co, select("#", ...), ...)
  return task
end

-- Resumes co with the given values at the next turn of the loop.
function Scheduler:ready(co, n, ...)
  local r = self.runnable
  r.last = r.last + 1
  r[r.last] = { co = co, n = n, ... }
end

-- The task the caller runs in, or nil (the main program, or a coroutine
-- the task made itself: that one must not yield to the scheduler).
function Scheduler:current()
  local co = co_running()
  return co and self.tasks[co] or nil
end

local function finish(self, task, ok, ...)
  task.done, task.ok = true, ok
  if ok then task.results = { n = select("#", ...), ... } else task.error = ... end
  self.tasks[task.co] = nil
  self.live = self.live - 1
  if not ok then self.failed[#self.failed + 1] = task end
  for _, co in ipairs(task.joiners) do self:ready(co, 0) end
  task.joiners = nil
end

-- What a resume gave: the task ended (returned or raised), waits as it
-- should, or yielded on its own account.
local function after_resume(self, task, co, ok, ...)
  if co_status(co) == "dead" then
    if ok then return finish(self, task, true, ...) end
    return finish(self, task, false, traceback(co, tostring((...))))
  end
  if ... ~= WAIT then
    -- a yield the scheduler did not ask for: nothing would ever resume it
    return finish(self, task, false, "coroutine.yield inside a coreplus.scheduler task (use a coroutine of"
      .. " your own for that)")
  end
end

function Scheduler:resume(co, ...)
  local task = self.tasks[co]
  if not task then return end   -- ended meanwhile (its answers are dropped)
  return after_resume(self, task, co, co_resume(co, ...))
end

--- From inside a task: waits until `task` has ended; returns its `ok`
-- and what it returned (or the error).
function Scheduler:join(task)
  if not task.done then
    local me = self:current()
    if not me then misuse.raise("join: call it from inside a task of this scheduler") end
    task.joiners[#task.joiners + 1] = me.co
    co_yield(WAIT)
  end
  if task.ok then return true, task:values() end
  return false, task.error
end

--- Sleeps: a task yields until due; elsewhere the process sleeps.
function Scheduler:sleep(seconds)
  if not self:current() then return self.sleep_blocking(seconds) end
  heap_push(self.heap, self.now() + max(0, seconds), co_running())
  co_yield(WAIT)
end

-- ===== requests =====

-- Hands a request to the pipeline now, or queues it for the next place.
function Scheduler:submit(opts, waiter)
  if self.pipe:pending() < self.pipe:capacity() then
    self.owner[self.pipe:add(opts)] = waiter
    self.sent = self.sent + 1
  else
    local q = self.queue
    q.last = q.last + 1
    q[q.last] = { opts = opts, waiter = waiter }
  end
end

local function request(self, opts)
  if not self:current() then return self.request_blocking(opts) end
  self:submit(opts, { co = co_running() })
  return co_yield(WAIT)
end

-- A stream of requests in flight for one task (the interface of
-- core.pipeline, which an engine's pages fetched ahead use).
local Stream = {}
Stream.__index = Stream

function Stream:add(opts)
  if self.closed then misuse.raise("pipeline is closed") end
  if self.used >= self.cap then
    misuse.raise("pipeline full (%d in flight): take a result with next() first", self.cap)
  end
  self.last_id = self.last_id + 1
  self.used = self.used + 1
  self.sched:submit(opts, { stream = self, id = self.last_id })
  return self.last_id
end

function Stream:next()
  if self.closed then misuse.raise("pipeline is closed") end
  if self.used == 0 then return nil end
  local inbox = self.inbox
  if inbox.first > inbox.last then
    self.waiting = co_running()
    co_yield(WAIT)
  end
  local r = inbox[inbox.first]
  inbox[inbox.first] = nil
  inbox.first = inbox.first + 1
  self.used = self.used - 1
  return r.id, r.res, r.err
end

function Stream:pending() return self.used end
function Stream:capacity() return self.cap end
function Stream:close() self.closed = true; self.inbox = { first = 1, last = 0 } end
Stream.__close = Stream.close

local function stream(self, o)
  if not self:current() then return self.pipeline_blocking(o) end
  local cap = o and o.concurrency or core.defaults.concurrency
  return setmetatable({ sched = self, cap = cap, used = 0, last_id = 0, inbox = { first = 1, last = 0 } },
    Stream)
end

-- An answer is back: to the task waiting for it, or to its stream's inbox.
function Scheduler:deliver(waiter, res, err)
  if waiter.co then return self:ready(waiter.co, 2, res, err) end
  local s = waiter.stream
  if s.closed then return end
  local inbox = s.inbox
  inbox.last = inbox.last + 1
  inbox[inbox.last] = { id = waiter.id, res = res, err = err }
  if s.waiting then
    local co = s.waiting
    s.waiting = nil
    self:ready(co, 0)
  end
end

-- ===== the loop =====

local function take_queue(self)
  local q, pipe = self.queue, self.pipe
  while q.first <= q.last and pipe:pending() < pipe:capacity() do
    local item = q[q.first]
    q[q.first] = nil
    q.first = q.first + 1
    local w = item.waiter
    -- a closed stream's request is dropped before it is ever sent
    if not (w.stream and w.stream.closed) then
      self.owner[pipe:add(item.opts)] = w
      self.sent = self.sent + 1
    elseif w.stream then
      w.stream.used = w.stream.used - 1
    end
  end
end

--- Runs the tasks until every one has ended (tasks may spawn more).
-- @treturn boolean true when every task returned
-- @treturn table the tasks that raised (each with `error`)
function Scheduler:run()
  if self.running then misuse.raise("run: the scheduler is already running") end
  self.running = true
  local r, heap, pipe = self.runnable, self.heap, self.pipe
  while true do
    while r.first <= r.last do
      local item = r[r.first]
      r[r.first] = nil
      r.first = r.first + 1
      self:resume(item.co, unpack(item, 1, item.n))
    end
    local now = self.now()
    while heap.n > 0 and heap[1].at <= now do self:ready(heap_pop(heap).co, 0) end
    take_queue(self)
    if r.first > r.last then   -- (tasks woken above run first)
      if pipe:pending() > 0 then
        local id, res, err = pipe:next()
        local w = self.owner[id]
        self.owner[id] = nil
        if w then self:deliver(w, res, err) end
      elseif heap.n > 0 then
        self.sleep_blocking(max(0, heap[1].at - self.now()))
      elseif self.live > 0 then
        -- every task waits for something that can no longer come (a join on
        -- itself, a stream with nothing in flight): fail them, do not hang
        for co, task in pairs(self.tasks) do
          finish(self, task, false, traceback(co, "coreplus.scheduler: task waits for nothing (deadlock)"))
        end
      else
        break
      end
    end
  end
  self.running = false
  local failed = self.failed
  self.failed = {}
  return #failed == 0, failed
end

--- Counts for monitoring: `tasks` (not ended), `in_flight`, `queued`
-- (waiting for a place), `sleeping`, `sent` (requests handed to the pipeline).
function Scheduler:stats()
  return { tasks = self.live, in_flight = self.pipe:pending(), queued = self.queue.last - self.queue.first + 1,
    sleeping = self.heap.n, sent = self.sent }
end

--- Ends the pipeline (transfers in flight are abandoned). Safe to repeat.
function Scheduler:close()
  if self.pipe then self.pipe:close() end
end

--- Makes a scheduler.
-- @tparam[opt] table opts `concurrency` (places in the shared pipeline,
--  for all tasks together: default `DEFAULT_CONCURRENCY`; requests beyond it
--  wait in order), `transport` (the blocking transport it stands for: default
--  the C core's, `coreplus.transport.curl`)
-- @treturn table the scheduler, with `transport`: give it to `coreplus.new`
--  (`transport = sched.transport`) for every client its tasks use
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then misuse.raise("bad argument #1 to 'scheduler.new' (table expected)") end
  local base = opts.transport or require "coreplus.transport.curl"
  local n = opts.concurrency or _M.DEFAULT_CONCURRENCY
  if type(n) ~= "number" or n < 1 or n > core.defaults.max_concurrency or n % 1 ~= 0 then
    misuse.raise("bad option 'concurrency' to 'scheduler.new' (an integer from 1 to %d expected)",
      core.defaults.max_concurrency)
  end
  local self = setmetatable({
    pipe = base.pipeline{ concurrency = n },
    owner = {}, queue = { first = 1, last = 0 }, heap = { n = 0 },
    runnable = { first = 1, last = 0 },
    tasks = {}, live = 0, failed = {}, sent = 0,
    now = base.now, sleep_blocking = base.sleep, request_blocking = base.request,
    pipeline_blocking = base.pipeline,
  }, Scheduler)
  -- The transport clients are made with: the base transport's limiter,
  -- clock and name (so a client behaves as on the default transport), with
  -- requests, sleeps and pages fetched ahead going through this scheduler.
  self.transport = setmetatable({
    request = function(o) return request(self, o) end,
    pipeline = function(o) return stream(self, o) end,
    sleep = function(s) return self:sleep(s) end,
    now = base.now,
  }, { __index = base })
  return self
end

return _M
