--- A practice mirrored into SQLite or PostgreSQL, incrementally: `require "coreplus.sync"`.
--
--     local sync = require "coreplus.sync"
--     local report = sync.run{ to = "sqlite:mirror.db", practice = "north",
--       options = { base_url = ..., consumer_id = ..., consumer_secret = ..., access_token = ... } }
--     print(report.ok, report.practices[1].resources[1].written)
--
-- Many practices run at once in one process, each at its own limit, on one
-- `coreplus.scheduler`: `practices = {{practice = "north", options = {...}}, ...}`.
-- Tables, columns, the state table and the rules that keep the mirror exact
-- are in docs/sync.md.
-- @module coreplus.sync
local coreplus = require "coreplus"
local errors = require "coreplus.errors"
local misuse = require "coreplus.misuse"
local scheduler = require "coreplus.scheduler"
local schema = require "coreplus.sync.schema"
local dbmod = require "coreplus.sync.db"
local job_mod = require "coreplus.sync.job"
local practice_mod = require "coreplus.sync.practice"

local type = type
local next = next
local pcall = pcall
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local setmetatable = setmetatable

local _M = {}

--- The resources a mirror can hold, in the order they are reported.
_M.RESOURCES = schema.RESOURCES

--- Days of appointments read before today, by default.
_M.DAYS_BACK = 30

--- Days of appointments read after today, by default.
_M.DAYS_AHEAD = 90

local Sync = {}
Sync.__index = Sync

local function check_resources(list)
  if list == nil then list = _M.RESOURCES end
  if type(list) ~= "table" then misuse.raise("bad option 'resources' (a list of resource names expected)") end
  local want, known = {}, {}
  for _, r in ipairs(_M.RESOURCES) do known[r] = true end
  for _, r in ipairs(list) do
    if not known[r] then
      misuse.raise("bad option 'resources': unknown resource '%s' (known: %s)", tostring(r),
        table.concat(_M.RESOURCES, ", "))
    end
    want[r] = true
  end
  if next(want) == nil then misuse.raise("bad option 'resources': the list is empty") end
  return want
end

local function check_days(o, name, default)
  local v = o[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 or v > 3650 or v % 1 ~= 0 then
    misuse.raise("bad option '%s' (a whole number of days from 0 to 3650 expected)", name)
  end
  return v
end

-- The practices asked for: {{practice =, options =}, ...}.
local function check_practices(o)
  local list = o.practices
  if list == nil then list = { { practice = o.practice, options = o.options } } end
  if type(list) ~= "table" or #list == 0 then misuse.raise("bad option 'practices' (a non-empty list expected)") end
  local seen = {}
  for i, p in ipairs(list) do
    if type(p) ~= "table" or type(p.options) ~= "table" then
      misuse.raise("bad option 'practices' (entry %d needs options: coreplus.new's)", i)
    end
    if type(p.practice) ~= "string" or p.practice == "" then
      misuse.raise("bad option 'practices' (entry %d needs practice: the label its rows carry)", i)
    end
    if seen[p.practice] then misuse.raise("bad option 'practices': '%s' is given twice", p.practice) end
    seen[p.practice] = true
  end
  return list
end

--- Makes a sync: opens (and migrates) the database and makes one client per
-- practice on one scheduler. Run it with `s:run()`, as often as wanted
-- (`--watch`); `s:close()` at the end.
-- @tparam table o the options:
--
--  - `to`: `sqlite:PATH` or `postgres://user[:password]@host[:port]/db`
--  - `practice` and `options` (one practice: its label, coreplus.new's
--    options), or `practices = {{practice =, options =}, ...}`. The label is
--    what the rows' `practice` column says: never the access token.
--  - `resources` (all of `RESOURCES`): which tables to sync
--  - `days_back` (30), `days_ahead` (90): the appointments' window around today
--  - `timezone_id`: the zone appointments are listed in (default: each
--    practice's first location's)
--  - `concurrency` (`coreplus.scheduler.concurrency_for`, 8 per practice,
--    64 to 256): requests in flight for all practices together
--  - `on_event(ev)`: `{type = "progress" | "resource_done" | "resource_failed",
--    practice =, resource =, read =, written =, unchanged =, deleted =,
--    requests =, rate_limited =, total =}` as the run goes
--  - `stop()`: returns true when the run should stop (checked between
--    pages; nothing half-written is left)
-- @return the sync, or nil and an error (`database`)
function _M.new(o)
  if type(o) ~= "table" then misuse.raise("bad argument #1 to 'sync.new' (table expected)") end
  local self = setmetatable({ want = check_resources(o.resources), practices = check_practices(o),
    days_back = check_days(o, "days_back", _M.DAYS_BACK), days_ahead = check_days(o, "days_ahead", _M.DAYS_AHEAD),
    timezone_id = o.timezone_id, on_event = o.on_event, stop = o.stop, totals = {} }, Sync)
  local db, err = dbmod.open(o.to)
  if not db then return nil, err end
  self.db, self.to = db, o.to
  self.sched = scheduler.new{ concurrency = o.concurrency or scheduler.concurrency_for(#self.practices) }
  self.jobs = {}
  for _, p in ipairs(self.practices) do
    local job = job_mod.new{ practice = p.practice, db = db, sched = self.sched, now = coreplus.now,
      emit = function(ev) if self.on_event then self.on_event(ev) end end,
      stopping = function() return self.stop ~= nil and self.stop() end }
    local opts = {}
    for k, v in pairs(p.options) do opts[k] = v end
    opts.practice = p.practice   -- its requests' metrics carry the rows' label (coreplus.metrics)
    local user_hook = opts.on_request
    opts.on_request = function(info)
      job:on_request(info)
      if user_hook then user_hook(info) end
    end
    opts.transport = self.sched.transport
    local ok, cp = pcall(coreplus.new, opts)
    if not ok then
      db:close()
      misuse.raise("sync.new: practice '%s': %s", p.practice, tostring(cp):gsub("^[^:]*:%d+: ", ""))
    end
    self.jobs[#self.jobs + 1] = { job = job, cp = cp }
  end
  return self
end

-- A practice's part of the report, from its job's counts.
local function practice_report(job, lock_err, seconds)
  local out = { practice = job.practice, ok = lock_err == nil, error = lock_err, seconds = seconds,
    resources = {} }
  for _, k in ipairs(job_mod.COUNTS) do out[k] = 0 end
  for _, r in ipairs(_M.RESOURCES) do
    local c = job.counts[r]
    if c then
      out.resources[#out.resources + 1] = c
      for _, k in ipairs(job_mod.COUNTS) do out[k] = out[k] + c[k] end
      if not c.ok then out.ok = false end
    end
  end
  return out
end

--- Runs one sync of every practice, all at once; returns the report:
-- `{ok =, seconds =, database =, practices = {{practice =, ok =, error =,
-- seconds =, read =, written =, unchanged =, deleted =, requests =,
-- rate_limited =, resources = {{resource =, ok =, error =, cursor =, ...the
-- same counts, total =}, ...}}, ...}}`. Nothing raises: what failed is in
-- the report (`error`: an error object, kinds `database`, `locked`,
-- `interrupted`, or the API's).
-- A connection lost since the last run (the server restarted) is made
-- again; nil, err when it cannot be.
function Sync:connect()
  if self.db:alive() then return true end
  self.db:close()
  local db, err = dbmod.open(self.to)
  if not db then return nil, err end
  self.db = db
  for _, entry in ipairs(self.jobs) do entry.job.db = db end
  return true
end

function Sync:run()
  local started = coreplus.now()
  local report = { ok = true, database = self.db.name, schema = self.db:schema_version(), practices = {} }
  local connected, cerr = self:connect()
  if not connected then
    report.ok = false
    for i, entry in ipairs(self.jobs) do
      report.practices[i] = { practice = entry.job.practice, ok = false, error = cerr, resources = {} }
      for _, k in ipairs(job_mod.COUNTS) do report.practices[i][k] = 0 end
    end
    report.seconds = coreplus.now() - started
    return report
  end
  local lock_errors = {}
  for i, entry in ipairs(self.jobs) do
    local job = entry.job
    job.counts = {}
    for r in pairs(self.want) do job:count(r) end
    self.sched:spawn(function()
      local t0 = coreplus.now()
      local ran, ok, err = pcall(practice_mod.run, job, entry.cp, self.want, self)
      if not ran then
        err = errors.is_error(ok) and ok or errors.new{ kind = "database", message = tostring(ok) }
        job.db:unlock(job.practice)
      end
      if not (ran and ok) then lock_errors[i] = err end
      job.seconds = coreplus.now() - t0
    end)
  end
  self.sched:run()
  for i, entry in ipairs(self.jobs) do
    local p = practice_report(entry.job, lock_errors[i], entry.job.seconds)
    report.practices[i] = p
    if not p.ok then report.ok = false end
  end
  report.seconds = coreplus.now() - started
  self:remember(report)
  return report
end

-- Keeps, per practice and resource, what a monitor wants between runs.
function Sync:remember(report)
  local now = coreplus.now()
  for _, p in ipairs(report.practices) do
    local t = self.totals[p.practice] or {}
    self.totals[p.practice] = t
    for _, c in ipairs(p.resources) do
      local s = t[c.resource] or { rows_written = 0, rows_read = 0, runs = 0, failures = 0 }
      t[c.resource] = s
      s.rows_written, s.rows_read = s.rows_written + c.written, s.rows_read + c.read
      s.runs = s.runs + 1
      if c.ok then s.last_success, s.cursor = now, c.cursor else s.failures = s.failures + 1 end
    end
  end
end

--- What a monitor reads between runs: `stats()[practice][resource] =
-- {rows_written =, rows_read =, runs =, failures =, last_success = epoch,
-- cursor = epoch (the server time the mirror is complete up to)}`; the
-- lag is now - cursor.
function Sync:stats()
  return self.totals
end

--- The practices' clients, in order: `{{practice =, client =}, ...}` (for a
-- caller that hands them what it knows of the server, or reads their metrics).
function Sync:clients()
  local out = {}
  for i, entry in ipairs(self.jobs) do out[i] = { practice = entry.job.practice, client = entry.cp } end
  return out
end

--- Closes the database and the scheduler. Safe to repeat.
function Sync:close()
  if self.db then self.db:close() end
  if self.sched then self.sched:close() end
end

--- new(o), run(), close(): one sync. Returns the report, or nil and the
-- error when the database cannot be opened.
function _M.run(o)
  local s, err = _M.new(o)
  if not s then return nil, err end
  local report = s:run()
  s:close()
  return report
end

--- The database's schema, as CREATE statements ("sqlite" or "postgres").
_M.ddl = schema.ddl

--- Opens a mirror's database on its own (`sqlite:PATH` or a postgres URL),
-- creating or migrating its schema: `coreplus.sync.db`'s handle.
_M.open = dbmod.open

return _M
