--- cp.availability_slots:next_free{ practitionerId =, locationId =,
-- appointmentTypeId =, from =, timezoneId =, days = } -> the first free slot
-- at or after `from` (default: now, by the server's clock; never in the
-- past), or nil when there is none within `days` (default 28) after it;
-- nil, err on failure.
--
-- Exact, whatever order and grouping the server answers in: the answer is
-- the one a scan of every slot of the horizon would give.
--
--  - Days are asked one at a time (startDate = endDate, as the docs'
--    examples do), from the location's day of `from`, every page of each:
--    a server that answers only the first day of a longer window, or that
--    lists slots practitioner by practitioner, cannot hide an earlier slot.
--  - With `appointmentTypeId` the server cuts slots of that type's length:
--    the first one that starts at or after `from` is the answer. Without
--    it the server answers contiguous free blocks: a block already running
--    at `from` is free from then, and comes back starting at `from` (the
--    next whole minute), ending where it ends.
--
-- AvailabilitySlot/ needs timezoneId: when not given it is the location's,
-- read from Location/ (the locations resource, page by page).
local dates = require "coreplus.dates"
local fields = require "coreplus.fields"
local misuse = require "coreplus.misuse"
local errors = require "coreplus.errors"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local floor = math.floor
local ceil = math.ceil

local _M = {}

local DAY = 86400
local DEFAULT_DAYS = 28

local function same_id(a, b)
  return type(a) == "string" and type(b) == "string" and a:lower() == b:lower()
end

-- The location's timezoneId, from the locations resource: id | nil, err.
local function timezone_of(eng, location_id)
  for page, err in eng:resource("locations"):pages{} do
    if not page then return nil, err end
    for _, loc in ipairs(page.items) do
      if type(loc) == "table" and same_id(loc.locationId, location_id) then
        local tz = type(loc.timeZone) == "table" and loc.timeZone.timezoneId
        if tz then return tz end
      end
    end
  end
  return nil, errors.new{ kind = "not_found",
    message = "no location " .. tostring(location_id) .. " with a timezoneId" }
end

-- A copy of a block that starts at `at` instead, in the block's own form
-- (the API's "2021-09-07T10:30:00 +10:00": a space before the offset).
local function clipped(slot, at, offset)
  local c = {}
  for k, v in pairs(slot) do c[k] = v end
  local text = dates.datetime(at, offset)
  if slot.startDateTime:find("%d %S+$") then text = text:gsub("([+-]%d%d:%d%d)$", " %1") end
  c.startDateTime = text
  return c
end

-- The earliest free start at or after `from` that a slot offers (nil:
-- none): its own start; for a block (untyped) running at `from`, `from`
-- itself (the next whole minute) while the block lasts past it. Then the
-- slot's offset (nil when its start cannot be read) and whether it was cut.
local function free_start(slot, from, blocks)
  local s = type(slot.startDateTime) == "string" and dates.parse(slot.startDateTime)
  if not s then return nil end
  if s.epoch >= from then return s.epoch, s.offset, false end
  local e = blocks and type(slot.endDateTime) == "string" and dates.parse(slot.endDateTime)
  local at = ceil(from / 60) * 60
  if e and e.epoch > at then return at, s.offset, true end
  return nil, s.offset
end

function _M.next_free(slots, o)
  if type(o) ~= "table" then
    misuse.raise("bad argument to 'availability_slots:next_free' (table expected, got %s)", type(o))
  end
  if o.timezoneId == nil and o.locationId == nil then
    misuse.raise("availability_slots:next_free: give 'locationId' (or 'timezoneId')")
  end
  local days = o.days or DEFAULT_DAYS
  if type(days) ~= "number" or days < 0 or days ~= days then
    misuse.raise("availability_slots:next_free: 'days' must be a non-negative number")
  end
  local eng = slots.engine
  local now = eng.now() + (eng.clock_offset or 0)
  -- `from` as a datetime names an offset: the first guess of the zone's,
  -- until the slots tell theirs.
  local from, guess, zone = now, 0, nil
  if type(o.from) == "number" then
    from = o.from
  elseif o.from ~= nil then
    local t = dates.parse(fields.datetime(o.from, "from"))
    from, guess = t.epoch, t.offset
  end
  if from < now then from = now end
  local stop = from + days * DAY
  local tz = o.timezoneId
  if tz == nil then
    local err
    tz, err = timezone_of(eng, o.locationId)
    if not tz then return nil, err end
  end
  local query = {}
  for k, v in pairs(o) do
    if k ~= "from" and k ~= "days" then query[k] = v end
  end
  query.timezoneId = tz
  local blocks = o.appointmentTypeId == nil or o.appointmentTypeId == ""

  -- One local day: its best slot, false when it has none, or nil, err.
  -- Learns the zone's offset from the slots' own.
  local function best_of(day)
    query.startDate = dates.date(day * DAY)
    query.endDate = query.startDate
    local best, best_at, best_offset, best_clip
    for page, err in slots:pages(query) do
      if not page then return nil, err end
      for _, slot in ipairs(page.items) do
        local at, off, clip
        if type(slot) == "table" then at, off, clip = free_start(slot, from, blocks) end
        zone = zone or off
        if at and at <= stop and (best_at == nil or at < best_at) then
          best, best_at, best_offset, best_clip = slot, at, off, clip
        end
      end
    end
    if best and best_clip then best = clipped(best, best_at, best_offset) end
    return best or false
  end

  local first = floor((from + guess * 60) / DAY)
  local asked = {}
  local day = first
  while (day * DAY - 14 * 3600) <= stop do   -- a day starts at most 14 h before its UTC date
    local best, err = best_of(day)
    if best == nil then return nil, err end
    asked[day] = true
    -- The zone now known may put `from` on an earlier local day than the
    -- one guessed: that day comes first.
    local own = zone and floor((from + zone * 60) / DAY)
    if own and own < first and not asked[own] then
      local earlier, eerr = best_of(own)
      if earlier == nil then return nil, eerr end
      asked[own] = true
      if earlier then return earlier end
    end
    if best then return best end
    day = day + 1
  end
  return nil
end

return _M
