--- One practice's sync: its lock, then one task per resource (the small
-- lists, clients, invoices with payments, appointments), all at once on
-- the scheduler and so all within the practice's one limit; then what each
-- did. A resource that fails does not stop the others; its cursor stays
-- where the last run left it.
local lists = require "coreplus.sync.lists"
local billing = require "coreplus.sync.billing"
local appointments = require "coreplus.sync.appointments"

local ipairs = ipairs
local pcall = pcall

local _M = {}

local FULL = { "locations", "practitioners", "appointment_types" }

-- Runs fn(...) for the resources `names` (one task may serve two: invoices
-- and payments) and records how it ended.
local function resource_task(job, names, fn, ...)
  local started = job.clock()
  for _, n in ipairs(names) do job:count(n) end
  local ok, res = pcall(fn, ...)
  for _, n in ipairs(names) do
    local c = job:count(n)
    c.ok = ok
    c.seconds = job.clock() - started
    if ok then c.cursor = res else c.error = res end
    job:emit(ok and "resource_done" or "resource_failed", n)
  end
end

--- run(job, cp, want, o) -> true | nil, err (the practice's lock refused).
-- want: set of resource names; o: days_back, days_ahead, timezone_id.
function _M.run(job, cp, want, o)
  local ok, err = job.db:lock(job.practice)
  if not ok then return nil, err end
  local sched, tasks = job.sched, {}
  local function spawn(names, fn, ...)
    local t = sched:spawn(resource_task, job, names, fn, ...)
    tasks[#tasks + 1] = t
    return t
  end
  local located
  for _, r in ipairs(FULL) do
    if want[r] then
      local t = spawn({ r }, lists.full, job, cp, r)
      if r == "locations" then located = t end
    end
  end
  if want.clients then spawn({ "clients" }, lists.feed, job, cp, "clients") end
  if want.invoices or want.payments then
    if not want.invoices then job.alias.invoices = "payments" end
    local names = {}
    if want.invoices then names[#names + 1] = "invoices" end
    if want.payments then names[#names + 1] = "payments" end
    spawn(names, billing.run, job, cp, { invoices = want.invoices, payments = want.payments })
  end
  if want.appointments then
    spawn({ "appointments" }, appointments.run, job, cp, { days_back = o.days_back, days_ahead = o.days_ahead,
      timezone_id = o.timezone_id, locations_task = located })
  end
  for _, t in ipairs(tasks) do sched:join(t) end
  job.db:unlock(job.practice)
  return true
end

return _M
