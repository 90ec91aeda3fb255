--- Request values in the forms coreplus documents, checked before anything
-- is sent. Catalogue rows name which fields are what (catalogue.lua:
-- `datetimes`, `dates`, `amounts`, `updated_since`); resource.lua applies
-- `fields.prepare(op, values)` to a copy of the caller's table.
--
--   datetime  "2021-09-07T09:00:00+10:00": from the API's own space form
--             ("2021-09-07T09:00:00 +10:00"), ISO strings with an offset, or
--             unix seconds (sent at the offset of the call's other datetime
--             when it has one, else UTC: the same instant either way)
--   date      "1996-04-29": from that form, a datetime string, or unix seconds
--   amount    "40.55": from a number or a string; never negative, at most 2
--             decimals (money is never rounded here)
--   updatedSince  "2017-06-30 14:18:00+1000" (the docs' form): from unix
--             seconds or any datetime string
local dates = require "coreplus.dates"
local misuse = require "coreplus.misuse"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local floor = math.floor
local format = string.format
local raise = misuse.raise

local _M = {}

local function offset_text(minutes, colon)
  local sign = minutes < 0 and "-" or "+"
  local a = minutes < 0 and -minutes or minutes
  return format(colon and "%s%02d:%02d" or "%s%02d%02d", sign, floor(a / 60), a % 60)
end

local function wall(epoch, minutes)
  local y, m, d = dates.civil_from_days(floor((epoch + minutes * 60) / 86400))
  local s = (floor(epoch) + minutes * 60) % 86400
  return format("%04d-%02d-%02d", y, m, d), format("%02d:%02d:%02d", floor(s / 3600), floor(s % 3600 / 60), s % 60)
end

local function finite(v)
  return v == v and v ~= math.huge and v ~= -math.huge
end

--- datetime(value, name, default_offset_minutes) -> text in the request form.
function _M.datetime(v, name, default_offset)
  if type(v) == "number" and finite(v) then
    local day, time = wall(v, default_offset or 0)
    return day .. "T" .. time .. offset_text(default_offset or 0, true)
  end
  local t = type(v) == "string" and dates.parse(v)
  if not t or t.offset == nil or not v:find("[T ]%d") then
    raise("field '%s' must be a datetime with an offset (\"2021-09-07T09:00:00+10:00\") or unix"
      .. " seconds, got %s", name, type(v) == "string" and format("%q", v) or type(v))
  end
  local day, time = wall(t.epoch, t.offset)
  return day .. "T" .. time .. offset_text(t.offset, true)
end

--- date(value, name) -> "yyyy-mm-dd".
function _M.date(v, name)
  if type(v) == "number" and finite(v) then return dates.date(v) end
  local t = type(v) == "string" and dates.parse(v)
  if not t then
    raise("field '%s' must be a date (\"1996-04-29\") or unix seconds, got %s", name,
      type(v) == "string" and format("%q", v) or type(v))
  end
  return format("%04d-%02d-%02d", t.year, t.month, t.day)
end

--- amount(value, name) -> "40.55": a non-negative amount with at most 2 decimals.
function _M.amount(v, name)
  local text
  if type(v) == "number" and finite(v) and v >= 0 then
    local cents = v * 100
    if math.abs(cents - floor(cents + 0.5)) > 1e-6 * math.max(1, cents) then
      raise("field '%s' must have at most 2 decimals, got %s", name, tostring(v))
    end
    text = format("%.2f", floor(cents + 0.5) / 100)
  elseif type(v) == "string" and v:match("^%d+$") or type(v) == "string" and v:match("^%d+%.%d%d?$") then
    text = v
  else
    raise("field '%s' must be a non-negative amount with at most 2 decimals (\"40.55\"), got %s",
      name, type(v) == "string" and format("%q", v) or tostring(v))
  end
  return text
end

--- updated_since(value) -> "2017-06-30 14:18:00+1000" (unix seconds are sent as UTC).
function _M.updated_since(v)
  local epoch, minutes
  if type(v) == "number" and finite(v) then
    epoch, minutes = floor(v), 0
  else
    local t = type(v) == "string" and dates.parse(v)
    if not t or not v:find("[T ]%d") then
      raise("parameter 'updatedSince' must be unix seconds or a datetime (\"2017-06-30 14:18:00+10:00\"),"
        .. " got %s", type(v) == "string" and format("%q", v) or type(v))
    end
    epoch, minutes = t.epoch, t.offset or 0
  end
  local day, time = wall(epoch, minutes)
  return day .. " " .. time .. offset_text(minutes, false)
end

-- The offset (minutes) of the first of `names` that is a datetime string
-- with one: unix seconds in the same call are sent at that offset.
local function sibling_offset(values, names)
  for _, n in ipairs(names) do
    local t = type(values[n]) == "string" and dates.parse(values[n])
    if t and t.offset then return t.offset end
  end
  return nil
end

--- prepare(spec, values) -> a copy of values with each field the operation's
-- spec names converted (raises, naming the field, for a bad one).
function _M.prepare(spec, values)
  if not spec then return values end
  local out = {}
  for k, v in pairs(values) do out[k] = v end
  local names = spec.datetimes or {}
  local offset = sibling_offset(values, names)
  for _, n in ipairs(names) do
    if out[n] ~= nil then out[n] = _M.datetime(out[n], n, offset) end
  end
  for _, n in ipairs(spec.dates or {}) do
    if out[n] ~= nil then out[n] = _M.date(out[n], n) end
  end
  for list, field in pairs(spec.amounts or {}) do
    local items = out[list]
    if type(items) == "table" then
      local copy = {}
      for i, item in ipairs(items) do
        if type(item) ~= "table" then raise("field '%s[%d]' must be a table", list, i) end
        local c = {}
        for k, v in pairs(item) do c[k] = v end
        if c[field] ~= nil then c[field] = _M.amount(c[field], format("%s[%d].%s", list, i, field)) end
        copy[i] = c
      end
      out[list] = copy
    end
  end
  if spec.updated_since and out.updatedSince ~= nil then
    out.updatedSince = _M.updated_since(out.updatedSince)
  end
  return out
end

return _M
