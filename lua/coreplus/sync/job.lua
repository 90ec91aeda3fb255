--- One practice's run: its client, its counts per resource, its events, and
-- the batches of rows its resource tasks write. The strategies
-- (coreplus.sync.lists, .billing, .appointments) use only this.
local errors = require "coreplus.errors"
local schema = require "coreplus.sync.schema"
local json = require "coreplus.json"
local dbmod = require "coreplus.sync.db"
local dates = require "coreplus.dates"

local type = type
local pairs = pairs
local ipairs = ipairs
local error = error
local pcall = pcall
local setmetatable = setmetatable
local floor = math.floor
local lower = string.lower

local _M = {}
local Job = {}
Job.__index = Job

--- Rows written per transaction (and the most a batch holds in memory).
_M.BATCH = 500

-- Which resource a request belongs to, from its path (for the counts).
local PATHS = { client = "clients", practitioner = "practitioners", location = "locations",
  appointmenttype = "appointment_types", appointment = "appointments", invoice = "invoices",
  payment = "payments" }

local COUNTS = { "read", "written", "unchanged", "deleted", "requests", "rate_limited" }
_M.COUNTS = COUNTS

--- new{practice =, db =, sched =, emit =, stopping =, now =, options =}
function _M.new(o)
  local self = setmetatable({ practice = o.practice, db = o.db, sched = o.sched, emit_fn = o.emit,
    stopping_fn = o.stopping, clock = o.now, options = o.options, counts = {}, alias = {} }, Job)
  return self
end

--- The counts of one resource (made on first use).
function Job:count(resource)
  local c = self.counts[resource]
  if not c then
    c = { resource = resource }
    for _, k in ipairs(COUNTS) do c[k] = 0 end
    self.counts[resource] = c
  end
  return c
end

--- The client's on_request hook: every attempt counts for the resource its
-- path names (a 429 also as rate_limited).
function Job:on_request(info)
  local seg = type(info.url) == "string" and info.url:match("/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/[^/]+/([%a]+)")
  local resource = seg and PATHS[lower(seg)]
  if not resource then return end
  -- requests made for another resource's sake count there: the Location
  -- list read for the appointments' time zone, the invoice feed read for
  -- payments alone
  resource = self.alias[resource] or resource
  local c = self:count(resource)
  c.requests = c.requests + 1
  if info.status == 429 then c.rate_limited = c.rate_limited + 1 end
end

--- Sends an event to the run's listener: {type =, practice =, resource =, ...counts}.
function Job:emit(kind, resource, extra)
  if not self.emit_fn then return end
  local ev = { type = kind, practice = self.practice, resource = resource }
  if resource then
    for k, v in pairs(self:count(resource)) do ev[k] = v end
  end
  for k, v in pairs(extra or {}) do ev[k] = v end
  ev.type, ev.practice = kind, self.practice
  self.emit_fn(ev)
end

--- Raises `interrupted` when the run is being stopped (a signal): tasks
-- call it between pages, so no batch is ever left half-written.
function Job:check_stop()
  if self.stopping_fn and self.stopping_fn() then
    error(errors.new{ kind = "interrupted", message = "stopped before the end; the next run resumes" }, 0)
  end
end

--- The server's clock (seconds), as the client has learnt it.
function Job:server_now(cp)
  return self.clock() + (cp.clock_offset or 0)
end

--- The cursor the last run committed for a resource, or nil (none yet, or
-- text that is not an instant: damaged state costs a full read, never a
-- sync that fails on every run).
function Job:cursor(resource)
  local st = self.db:state(self.practice, resource)
  local c = st and st.cursor
  local t = type(c) == "string" and dates.parse(c)
  return t and t.offset and c or nil
end

--- A record as a row of the resource's table, or nil when it has no id.
function _M.row(resource, record)
  local tbl = schema.TABLES[resource]
  local id = schema.id(tbl, record)
  if not id then return nil end
  return { id = id, data = json.encode(record), values = schema.values(tbl, record) }
end

-- ===== batches =====

local Batch = {}
Batch.__index = Batch

--- A batch of rows for one resource's table: add() rows, and they are
-- written BATCH at a time, each batch in one transaction.
function Job:batch(resource)
  return setmetatable({ job = self, resource = resource, rows = {} }, Batch)
end

function Batch:add(row)
  if not row then return end
  local c = self.job:count(self.resource)
  c.read = c.read + 1
  self.rows[#self.rows + 1] = row
  if #self.rows >= _M.BATCH then self:flush() end
end

-- Writes the rows (inside the caller's transaction); returns nothing.
function Batch:write(now)
  if #self.rows == 0 then return end
  local c = self.job:count(self.resource)
  local written, unchanged = self.job.db:upsert(self.resource, self.job.practice, self.rows, now)
  c.written, c.unchanged = c.written + written, c.unchanged + unchanged
  self.rows = {}
end

--- Writes what the batch holds, and `also(db, now)` in the same
-- transaction (the cursor, deletions); raises the database's error.
function Batch:flush(also)
  local db = self.job.db
  local now = dbmod.timestamp()
  local ok, err = db:transaction(function()
    self:write(now)
    if also then also(db, now) end
    return true
  end)
  if not ok then error(err, 0) end
  self.job:emit("progress", self.resource)
end

--- Runs fn(db, now) in one transaction; raises the database's error.
function Job:write(fn)
  local ok, err = self.db:transaction(fn, self.db, dbmod.timestamp())
  if not ok then error(err, 0) end
end

-- ===== a pool of tasks working through a queue =====

local Pool = {}
Pool.__index = Pool

--- A pool: work(item) runs in up to `size` tasks at once (each waits for
-- its requests, so `size` requests are in flight); items come with add().
-- The first failure stops the pool; finish() waits and raises it.
function Job:pool(work, size)
  return setmetatable({ job = self, work = work, size = size or 4, queue = {}, first = 1, last = 0, alive = 0,
    tasks = {} }, Pool)
end

function Pool:backlog() return self.last - self.first + 1 end

function Pool:run()
  while self.first <= self.last and not self.failed do
    local item = self.queue[self.first]
    self.queue[self.first] = nil
    self.first = self.first + 1
    local ok, err = pcall(self.work, item)
    if ok then ok, err = pcall(self.job.check_stop, self.job) end
    if not ok then self.failed = self.failed or err end
  end
  self.alive = self.alive - 1
end

function Pool:add(item)
  self.last = self.last + 1
  self.queue[self.last] = item
  while self.alive < self.size and self:backlog() > 0 do
    self.alive = self.alive + 1
    self.tasks[#self.tasks + 1] = self.job.sched:spawn(self.run, self)
  end
end

--- Waits (from a task) while more than `n` items wait.
function Pool:drain_to(n)
  while self:backlog() > n and not self.failed do self.job.sched:sleep(0.05) end
  if self.failed then error(self.failed, 0) end
end

--- Waits for every task; raises the first failure.
function Pool:finish()
  for _, t in ipairs(self.tasks) do self.job.sched:join(t) end
  self.tasks = {}
  if self.failed then error(self.failed, 0) end
end

--- Epoch seconds -> the cursor's text ("2025-09-01T10:00:00Z").
function _M.instant(epoch)
  return dbmod.timestamp(floor(epoch))
end

return _M
