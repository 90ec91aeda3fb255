--- Appointments: the API has no change feed for them, only a list by date
-- window (startDate, endDate, timezoneId). Each run reads a rolling window
-- (`days_back` days before today to `days_ahead` after) whole, and then asks
-- for each appointment the mirror holds in that window that the list no
-- longer shows: the list leaves out cancelled appointments, and one moved
-- out of the window is not in it either; `GET Appointment/{id}` says which
-- (status "Cancelled", or its new time), and a 404 deletes the row. An
-- appointment moved into the window is in the list. Outside the window,
-- rows stay as last seen.
--
-- The window's edges are days in the time zone the list is asked in
-- (`timezone_id`, else the practice's first location's); the mirror keeps
-- instants in UTC, so the edges are placed with the offset the answers
-- carry (the list gives times in that zone), remembered for runs whose list
-- comes back empty.
local cjson = require "cjson.safe"
local dates = require "coreplus.dates"
local errors = require "coreplus.errors"
local job_mod = require "coreplus.sync.job"
local lists = require "coreplus.sync.lists"
local dbmod = require "coreplus.sync.db"

local type = type
local ipairs = ipairs
local error = error
local floor = math.floor

local _M = {}

local DAY = 86400

-- The offset (minutes) of an API date-time, or nil.
local function offset_of(text)
  local t = type(text) == "string" and dates.parse(text)
  return t and t.offset or nil
end

-- The time zone to ask in: the option, else the first location's (from the
-- mirror when locations were synced, else from the API: one request).
local function timezone(job, cp, o)
  if o.timezone_id then return o.timezone_id end
  if o.locations_task then job.sched:join(o.locations_task) end
  local tz = job.db:first_timezone(job.practice)
  if tz then return tz end
  job.alias.locations = "appointments"
  local list, err = cp.locations:all{}
  job.alias.locations = nil
  if not list then error(err, 0) end
  local ids = {}
  for _, l in ipairs(list) do
    local z = type(l) == "table" and type(l.timeZone) == "table" and l.timeZone.timezoneId
    if type(z) == "string" and type(l.locationId) == "string" then ids[#ids + 1] = { l.locationId, z } end
  end
  table.sort(ids, function(a, b) return a[1] < b[1] end)
  if not ids[1] then
    error(errors.new{ kind = "validation", message = "no location of the practice has a timezoneId",
      hint = "give the time zone to list appointments in: timezone_id (--timezone)" }, 0)
  end
  return ids[1][2]
end

--- run(job, cp, o): o.days_back, o.days_ahead, o.timezone_id, o.locations_task.
function _M.run(job, cp, o)
  local practice, db = job.practice, job.db
  local tz = timezone(job, cp, o)
  local today = floor(job:server_now(cp) / DAY)
  local first_day, last_day = today - o.days_back, today + o.days_ahead
  local params = { startDate = dates.date(first_day * DAY), endDate = dates.date(last_day * DAY), timezoneId = tz }
  local old = db:state(practice, "appointments")
  local remembered = old and old.detail and cjson.decode(old.detail) or {}
  if type(remembered) ~= "table" or remembered.timezone_id ~= tz then remembered = {} end

  local batch, seen = job:batch("appointments"), {}
  local lo_offset, hi_offset
  local checkpoint = lists.pages(job, cp, "appointments", params, function(page)
    for _, item in ipairs(page.items) do
      local row = job_mod.row("appointments", item)
      if row then seen[row.id] = true end
      batch:add(row)
      if type(item) == "table" then
        lo_offset = lo_offset or offset_of(item.startDateTime)
        hi_offset = offset_of(item.startDateTime) or hi_offset
      end
    end
  end)
  lo_offset = lo_offset or remembered.offset_first or hi_offset or 0
  hi_offset = hi_offset or remembered.offset_last or lo_offset

  -- The mirror's rows in the window that the list did not show.
  local from = dbmod.timestamp(first_day * DAY - lo_offset * 60)
  local to = dbmod.timestamp((last_day + 1) * DAY - hi_offset * 60)
  local gone = {}
  local pool = job:pool(function(id)
    local rec, err = cp.appointments:get(id)
    if rec then
      batch:add(job_mod.row("appointments", rec))
    elseif err.kind == "not_found" then
      gone[#gone + 1] = id
    else
      error(err, 0)
    end
  end, cp.concurrency)
  for _, id in ipairs(db:live_appointments(practice, from, to)) do
    if not seen[id] then pool:add(id) end
  end
  pool:finish()

  local detail = cjson.encode{ first = params.startDate, last = params.endDate, timezone_id = tz,
    offset_first = lo_offset, offset_last = hi_offset }
  batch:flush(function(d, now)
    local c = job:count("appointments")
    c.deleted = c.deleted + d:delete("appointments", practice, gone)
    d:set_state(practice, "appointments", job_mod.instant(checkpoint), detail, now)
  end)
  return checkpoint
end

return _M
