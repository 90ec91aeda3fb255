--- Dates as coreplus writes them, and as it wants them.
--
-- Parses `2021-09-07T09:00:00 +10:00` (note the space), `2021-09-07T09:00:00+10:00`,
-- `1972-07-02T00:00:00` (no offset) and `2021-06-03`; formats request values.
-- No function here reads the machine's time zone.
--
--     local dates = require "coreplus.dates"
--     local d = dates.parse(appt.startDateTime)      -- {year =, ..., offset = 600, epoch =}
--     cp.appointments:list{ startDate = dates.date(os.time()), ... }
-- @module coreplus.dates
local tonumber = tonumber
local type = type
local format = string.format
local floor = math.floor

local _M = {}

-- Days from 1970-01-01 to a civil date (proleptic Gregorian), no os.time so
-- the local time zone never leaks in.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return m <= 2 and y + 1 or y, m, d
end

--- Days from 1970-01-01 to a civil date (proleptic Gregorian calendar).
-- @function days_from_civil
-- @tparam integer y year
-- @tparam integer m month (1-12)
-- @tparam integer d day
-- @treturn integer days (negative before 1970)
_M.days_from_civil = days_from_civil

--- The civil date of a day number, the inverse of `days_from_civil`.
-- @function civil_from_days
-- @tparam integer z days from 1970-01-01
-- @treturn integer year
-- @treturn integer month
-- @treturn integer day
_M.civil_from_days = civil_from_days

--- Parses a coreplus date or date-time.
-- @tparam string s the text
-- @treturn table `{year, month, day, hour, min, sec, offset, epoch}`:
--  `offset` is in minutes east of UTC (nil when the text has none), `epoch`
--  in UTC seconds (a wall time without offset is taken as UTC); or nil and a message
function _M.parse(s)
  if type(s) ~= "string" then return nil, "date string expected" end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil, "not a date: " .. s end
  local t = { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = 0, min = 0, sec = 0 }
  if rest ~= "" then
    local h, mi, sec, frac, tz = rest:match("^[T ](%d%d):(%d%d):?(%d?%d?)([%.%d]*)%s*(.*)$")
    if not h then return nil, "not a date-time: " .. s end
    t.hour, t.min, t.sec = tonumber(h), tonumber(mi), tonumber(sec ~= "" and sec or "0")
    if frac ~= "" and not frac:match("^%.%d+$") then return nil, "bad fraction: " .. s end
    if tz == "Z" then
      t.offset = 0
    elseif tz ~= "" then
      local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)$")
      if not sign then return nil, "bad offset: " .. s end
      t.offset = (tonumber(oh) * 60 + tonumber(om)) * (sign == "-" and -1 or 1)
    end
  end
  if t.month < 1 or t.month > 12 or t.day < 1 or t.day > 31 or t.hour > 23 or t.min > 59 or t.sec > 60 then
    return nil, "out of range: " .. s
  end
  t.epoch = days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.min * 60 + t.sec
    - (t.offset or 0) * 60
  return t
end

local function split_epoch(epoch, offset_minutes)
  local local_s = floor(epoch) + (offset_minutes or 0) * 60
  local days = floor(local_s / 86400)
  local secs = local_s - days * 86400
  local y, m, d = civil_from_days(days)
  return y, m, d, floor(secs / 3600), floor(secs % 3600 / 60), secs % 60
end

--- `yyyy-mm-dd`, the form of `startDate` and `endDate` parameters.
-- @tparam number|table v a UTC epoch, or a table `{year =, month =, day =}`
-- @tparam[opt=0] number offset_minutes the offset (minutes east of UTC) the day is seen at
-- @treturn string
function _M.date(v, offset_minutes)
  if type(v) == "table" then return format("%04d-%02d-%02d", v.year, v.month, v.day) end
  local y, m, d = split_epoch(v, offset_minutes)
  return format("%04d-%02d-%02d", y, m, d)
end

--- `yyyy-mm-ddThh:mm:ss+hh:mm`: the wall time at that offset, with the offset.
-- @tparam number epoch UTC seconds
-- @tparam[opt=0] number offset_minutes minutes east of UTC
-- @treturn string
function _M.datetime(epoch, offset_minutes)
  offset_minutes = offset_minutes or 0
  local y, m, d, h, mi, s = split_epoch(epoch, offset_minutes)
  local sign = offset_minutes < 0 and "-" or "+"
  local a = offset_minutes < 0 and -offset_minutes or offset_minutes
  return format("%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d", y, m, d, h, mi, s, sign, floor(a / 60), a % 60)
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

--- The UTC epoch of an HTTP `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`).
-- @tparam string s the header
-- @treturn number|nil the epoch, or nil when `s` is not such a date
function _M.http_date(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, h, mi, sec = s:match("^%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d or not MONTHS[mon] then return nil end
  d, h, mi, sec = tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  return days_from_civil(tonumber(y), MONTHS[mon], d) * 86400 + h * 3600 + mi * 60 + sec
end

return _M
