--- Calendar arithmetic and the three fixture time zones, without os.time.
-- os.time/os.date depend on the machine's zone; the mock must give the same
-- answers everywhere, so dates are computed from day numbers (Hinnant's
-- civil-day algorithms) and zone offsets from fixed rules.
local floor, format, tonumber = math.floor, string.format, tonumber
local match = string.match
local type, ipairs = type, ipairs

local dates = require "coreplus.dates"

local _M = {}

local DAY = 86400

-- The civil-day arithmetic is the client's own (coreplus.dates): one copy.
_M.days_from_civil = dates.days_from_civil
_M.civil_from_days = dates.civil_from_days

--- 0 = Sunday ... 6 = Saturday.
function _M.weekday(days)
  return (days + 4) % 7
end

function _M.days_in_month(y, m)
  local ny, nm = y, m + 1
  if nm == 13 then ny, nm = y + 1, 1 end
  return _M.days_from_civil(ny, nm, 1) - _M.days_from_civil(y, m, 1)
end

local function first_sunday(y, m)
  local d = _M.days_from_civil(y, m, 1)
  return d + (7 - _M.weekday(d)) % 7
end

-- Zones: the documented Melbourne GUID, two made-up ones. tzName keeps the
-- backslash the real API returns (the developer docs' time zones).
local zones = {
  { id = "39D62534-501C-49CD-9DA9-6FA8D6A81F48", name = "Australia\\Melbourne", std = 36000, dst = true },
  { id = "8F1C2A6E-3B4D-4E5F-9A7B-1C2D3E4F5A6B", name = "Australia\\Brisbane", std = 36000 },
  { id = "D4E5F6A7-B8C9-4DAE-8F01-23456789ABCD", name = "Australia\\Perth", std = 28800 },
}
_M.zones = zones
local by_id = {}
for _, z in ipairs(zones) do by_id[z.id:upper()] = z end

function _M.zone(id)
  return type(id) == "string" and by_id[id:upper()] or nil
end

--- UTC offset in seconds of zone z at UTC instant t. South-eastern
-- Australian daylight time runs from the first Sunday of October 02:00
-- standard time to the first Sunday of April 03:00 daylight time.
function _M.offset(z, t)
  if not z.dst then return z.std end
  local y = _M.civil_from_days(floor(t / DAY))
  local starts = first_sunday(y, 10) * DAY + 2 * 3600 - z.std
  local ends = first_sunday(y, 4) * DAY + 3 * 3600 - (z.std + 3600)
  if t >= starts or t < ends then return z.std + 3600 end
  return z.std
end

--- UTC instant of local wall time (y-m-d h:mi) in zone z.
function _M.local_to_utc(z, y, m, d, h, mi)
  local wall = _M.days_from_civil(y, m, d) * DAY + (h or 0) * 3600 + (mi or 0) * 60
  local t = wall - z.std
  return wall - _M.offset(z, t)
end

local function offset_text(off)
  local sign = off < 0 and "-" or "+"
  off = off < 0 and -off or off
  return format("%s%02d:%02d", sign, floor(off / 3600), floor(off % 3600 / 60))
end

--- "2021-09-07T09:00:00 +10:00": the API's response format (space before the offset).
function _M.format_local(z, t)
  local off = _M.offset(z, t)
  local lt = t + off
  local days = floor(lt / DAY)
  local y, m, d = _M.civil_from_days(days)
  local s = lt - days * DAY
  return format("%04d-%02d-%02dT%02d:%02d:%02d %s", y, m, d, floor(s / 3600), floor(s % 3600 / 60),
    s % 60, offset_text(off))
end

function _M.format_date(t)
  local y, m, d = _M.civil_from_days(floor(t / DAY))
  return format("%04d-%02d-%02d", y, m, d)
end

--- "yyyy-mm-dd" -> y, m, d (validated) or nil.
function _M.parse_date(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 or d > _M.days_in_month(y, m) then return nil end
  return y, m, d
end

--- A request DateTimeOffset -> UTC seconds, or nil. Accepts
-- "2021-09-07T09:00+10:00", "...T09:00:00+10:00", "...T09:00:00 +10:00",
-- "...Z"; without an offset the time is taken in zone z (the location's).
function _M.parse_datetime(s, z)
  if type(s) ~= "string" then return nil end
  local date, h, mi, rest = match(s, "^(%d%d%d%d%-%d%d%-%d%d)[T ](%d%d):(%d%d)(.*)$")
  if not date then return nil end
  local y, m, d = _M.parse_date(date)
  if not y then return nil end
  h, mi = tonumber(h), tonumber(mi)
  if h > 23 or mi > 59 then return nil end
  local sec = 0
  local ss, tail = match(rest, "^:(%d%d)(.*)$")
  if ss then sec, rest = tonumber(ss), tail end
  if sec > 59 then return nil end
  local frac_tail = match(rest, "^%.%d+(.*)$")
  if frac_tail then rest = frac_tail end
  rest = rest:gsub("^ ", "")
  local base = _M.days_from_civil(y, m, d) * DAY + h * 3600 + mi * 60 + sec
  if rest == "Z" then return base end
  if rest == "" then
    if not z then return nil end
    return _M.local_to_utc(z, y, m, d, h, mi) + sec
  end
  local sign, oh, om = match(rest, "^([+-])(%d%d):?(%d%d)$")
  if not sign or tonumber(oh) > 14 or tonumber(om) > 59 then return nil end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  if sign == "-" then off = -off end
  return base - off
end

return _M
