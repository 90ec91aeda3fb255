--- What the booking page reads from coreplus. Locations, practitioners and
-- appointment types change rarely and every visitor needs them, so they are
-- kept for a few minutes in the page's shared dict, fetched by one request
-- at a time (the others wait for it): the 10 requests per second coreplus
-- allows are shared by every visitor. Free slots are always read live.
local cjson = require "cjson.safe"
local coreplus = require "coreplus"
local guard = require "booking_guard"

local ngx = ngx
local type, ipairs = type, ipairs
local dates = coreplus.dates

local _M = {}

_M.REFERENCE_TTL = 300      -- seconds locations, practitioners and types are kept
_M.STAFF_TTL = 60           -- seconds "who works at this location" is kept
_M.DAYS_AHEAD = 14          -- how far ahead free times are offered
_M.LEAD = 600               -- a slot must start at least this many seconds from now

-- The Melbourne zone of the coreplus documentation, for a location that
-- names none.
local DEFAULT_ZONE = "39D62534-501C-49CD-9DA9-6FA8D6A81F48"

--- cached(key, ttl, fetch) -> value | nil, err. One fetch at a time per key
-- across workers; failures are not kept.
local function cached(key, ttl, fetch)
  local d = guard.dict()
  local v = d:get("cache:" .. key)
  if v then return cjson.decode(v) end
  local value, err
  guard.with_lock("cache:" .. key, 30, function()
    v = d:get("cache:" .. key)          -- filled while this one waited
    if v then value = cjson.decode(v); return end
    value, err = fetch()
    if value ~= nil then d:set("cache:" .. key, cjson.encode(value), ttl) end
  end)
  if value == nil then return nil, err end
  return value
end

--- The coreplus client of this worker (examples/openresty/booking.lua).
local function cp() return require("booking").client() end

function _M.locations()
  return cached("locations", _M.REFERENCE_TTL, function() return cp().locations:all{} end)
end

function _M.practitioners()
  return cached("practitioners", _M.REFERENCE_TTL, function() return cp().practitioners:all{} end)
end

function _M.appointment_types()
  return cached("appointment_types", _M.REFERENCE_TTL, function() return cp().appointment_types:all{} end)
end

local function find(list, field, id)
  if type(id) ~= "string" then return nil end
  for _, row in ipairs(list or {}) do
    if type(row[field]) == "string" and row[field]:lower() == id:lower() then return row end
  end
  return nil
end

--- location(id), practitioner(id), appointment_type(id) -> row | nil, err
-- (nil with no err: not among coreplus's).
function _M.location(id)
  local list, err = _M.locations()
  if not list then return nil, err end
  return find(list, "locationId", id)
end

function _M.practitioner(id)
  local list, err = _M.practitioners()
  if not list then return nil, err end
  return find(list, "practitionerId", id)
end

function _M.appointment_type(id)
  local list, err = _M.appointment_types()
  if not list then return nil, err end
  return find(list, "appointmentTypeId", id)
end

function _M.zone_of(location)
  local tz = type(location.timeZone) == "table" and location.timeZone.timezoneId
  return type(tz) == "string" and tz or DEFAULT_ZONE
end

-- The query window: from yesterday (UTC) so that a zone ahead of UTC still
-- has its today, to DAYS_AHEAD on; what has begun is dropped by the caller.
local function window(first, last)
  local now = ngx.time()
  return first or dates.date(now - 86400), last or dates.date(now + _M.DAYS_AHEAD * 86400)
end

--- Practitioners with free time at the location in the coming days, in
-- coreplus's order (the Practitioner list says nothing about locations).
function _M.practitioners_at(location)
  local ids, err = cached("staff:" .. location.locationId, _M.STAFF_TTL, function()
    local from, to = window()
    local blocks, e = cp().availability_slots:all{ startDate = from, endDate = to,
      timezoneId = _M.zone_of(location), locationId = location.locationId }
    if not blocks then return nil, e end
    local set = {}
    for _, b in ipairs(blocks) do
      local p = type(b.practitionerId) == "string" and b.practitionerId:lower()
      local s = dates.parse(b.endDateTime)
      if p and s and s.epoch > ngx.time() + _M.LEAD then set[p] = true end
    end
    return set
  end)
  if not ids then return nil, err end
  local all, perr = _M.practitioners()
  if not all then return nil, perr end
  local out = {}
  for _, p in ipairs(all) do
    if type(p.practitionerId) == "string" and ids[p.practitionerId:lower()] then out[#out + 1] = p end
  end
  return out
end

--- Free slots for one practitioner, location and type that start at least
-- LEAD from now, from `first` to `last` (yyyy-mm-dd, default the coming
-- DAYS_AHEAD days), in time order.
function _M.free_slots(location, practitioner_id, type_id, first, last)
  local from, to = window(first, last)
  local slots, err = cp().availability_slots:all{ startDate = from, endDate = to,
    timezoneId = _M.zone_of(location), locationId = location.locationId,
    practitionerId = practitioner_id, appointmentTypeId = type_id }
  if not slots then return nil, err end
  local out, earliest = {}, ngx.time() + _M.LEAD
  for _, s in ipairs(slots) do
    local t = dates.parse(s.startDateTime)
    if t and t.offset and t.epoch >= earliest then
      s.start = t
      out[#out + 1] = s
    end
  end
  table.sort(out, function(a, b) return a.start.epoch < b.start.epoch end)
  return out
end

--- Days with free slots: a list of {date = "yyyy-mm-dd", count = n}.
function _M.days(slots)
  local by_day, order = {}, {}
  for _, s in ipairs(slots) do
    local day = s.startDateTime:sub(1, 10)
    if not by_day[day] then by_day[day] = 0; order[#order + 1] = day end
    by_day[day] = by_day[day] + 1
  end
  local out = {}
  for i, day in ipairs(order) do out[i] = { date = day, count = by_day[day] } end
  return out
end

return _M
