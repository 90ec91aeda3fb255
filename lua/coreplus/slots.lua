--- cp.availability_slots:next_free{ practitionerId =, locationId =,
-- appointmentTypeId =, from =, timezoneId =, days = } -> the first free slot
-- that starts after `from` (default: now, by the server's clock) and is
-- still in the future, or nil when there is none within `days` (default 28);
-- nil, err on failure.
--
-- Slots are asked for a week at a time (AvailabilitySlot/ needs timezoneId:
-- taken from the location when not given) and compared by the instant they
-- start, so the answer does not depend on the order coreplus lists them in.
local dates = require "coreplus.dates"
local fields = require "coreplus.fields"
local misuse = require "coreplus.misuse"

local type = type
local pairs = pairs
local floor = math.floor

local _M = {}

local WEEK = 7 * 86400
local DEFAULT_DAYS = 28

-- The location's timezoneId, read from Location/: id | nil, err.
local function timezone_of(eng, location_id)
  local pages = 0
  local number = 1
  repeat
    local decoded, err = eng:call("GET", "Location/", { query = { pageNumber = number, pageSize = 100 } })
    if not decoded then return nil, err end
    for _, loc in ipairs(type(decoded.locations) == "table" and decoded.locations or {}) do
      if loc.locationId == location_id then
        local tz = type(loc.timeZone) == "table" and loc.timeZone.timezoneId
        if tz then return tz end
      end
    end
    pages = pages + 1
    local total = type(decoded.paging) == "table" and tonumber(decoded.paging.totalRows) or 0
    number = number + 1
  until pages * 100 >= total or pages >= 100
  return nil, require("coreplus.errors").new{ kind = "not_found",
    message = "no location " .. tostring(location_id) .. " with a timezoneId" }
end

function _M.next_free(slots, o)
  if type(o) ~= "table" then
    misuse.raise("bad argument to 'availability_slots:next_free' (table expected, got %s)", type(o))
  end
  if o.timezoneId == nil and o.locationId == nil then
    misuse.raise("availability_slots:next_free: give 'locationId' (or 'timezoneId')")
  end
  local eng = slots.engine
  local now = eng.now() + (eng.clock_offset or 0)
  local from = now
  if o.from ~= nil then
    from = type(o.from) == "number" and o.from or dates.parse(fields.datetime(o.from, "from")).epoch
  end
  if from < now then from = now end
  local tz = o.timezoneId
  if tz == nil then
    local err
    tz, err = timezone_of(eng, o.locationId)
    if not tz then return nil, err end
  end
  local days = o.days or DEFAULT_DAYS
  local query = {}
  for k, v in pairs(o) do
    if k ~= "from" and k ~= "days" then query[k] = v end
  end
  query.timezoneId = tz
  -- A day early: `from` is an instant, startDate a date at the location.
  local start = floor(from / 86400) * 86400 - 86400
  local stop = from + days * 86400
  while start <= stop do
    query.startDate = dates.date(start)
    query.endDate = dates.date(start + WEEK - 86400)
    local best, best_at
    for page, err in slots:pages(query) do
      if not page then return nil, err end
      for _, slot in ipairs(page.items) do
        local t = type(slot.startDateTime) == "string" and dates.parse(slot.startDateTime)
        if t and t.epoch >= from and t.epoch > now and t.epoch <= stop
          and (best_at == nil or t.epoch < best_at) then
          best, best_at = slot, t.epoch
        end
      end
    end
    if best then return best end
    start = start + WEEK
  end
  return nil
end

return _M
