--- What every resource handler shares: the result[] body, parameter
-- access (case-insensitive names, repeatable values), paging and the list
-- envelope, date windows and body field checks. Handlers return
-- (status, value); value is encoded by coreplus.testing.mock.json.
local json = require "coreplus.testing.mock.json"
local clock = require "coreplus.testing.mock.clock"

local obj, arr = json.obj, json.arr
local type, ipairs, tostring, tonumber = type, ipairs, tostring, tonumber
local lower, floor, min = string.lower, math.floor, math.min

local _M = {}

local MAX_PAGE = 100

local function result(status, reason, detail)
  return status, obj{ "result", arr{ obj{ "severity", 2, "reason", reason, "detail", detail } } }
end
_M.result = result

local function bad(reason) return result(400, reason) end
local function not_found(what) return result(404, what .. " not found") end

-- A business-rule refusal: the real API answers these with 200 and a
-- result[] body (the developer docs' error shapes), which clients must detect.
_M.NOT_AVAILABLE = "The selected time is not available for booking an appointment"

--- First value of a (case-insensitive) query parameter.
local function arg1(args, name)
  local v = args[lower(name)]
  if type(v) == "table" then v = v[1] end
  if v == true then v = "" end
  return v
end

--- All values of a repeatable parameter, as a set of lower-cased strings.
local function argset(args, name)
  local v = args[lower(name)]
  if v == nil then return nil end
  if type(v) ~= "table" then v = { v } end
  local set, any = {}, false
  for _, x in ipairs(v) do
    if type(x) == "string" and x ~= "" then set[lower(x)] = true; any = true end
  end
  return any and set or nil
end

local function truthy(v)
  return v == true or (type(v) == "string" and lower(v) == "true")
end

local function require_params(args, names)
  for _, n in ipairs(names) do
    local v = arg1(args, n)
    if v == nil or v == "" then
      return bad("The " .. n .. " parameter is required")
    end
  end
end

--- paging(args, total) -> first, last, page, size | nil, status, body
local function paging(args, total)
  local pn, ps = arg1(args, "pageNumber"), arg1(args, "pageSize")
  local page, size = 1, 50
  if pn ~= nil then
    page = tonumber(pn)
    if not page or page ~= floor(page) or page < 1 then
      return nil, bad("pageNumber must be a positive integer")
    end
  end
  if ps ~= nil then
    size = tonumber(ps)
    if not size or size ~= floor(size) or size < 1 then
      return nil, bad("pageSize must be a positive integer")
    end
    if size > MAX_PAGE then
      return nil, bad("pageSize must not exceed " .. MAX_PAGE)
    end
  end
  local first = (page - 1) * size + 1
  return first, min(total, first + size - 1), page, size
end

--- A list envelope: {"<key>": [...], "paging": {...}, "statusMessages": []}.
local function envelope(key, items, total, page, size)
  return 200, obj{ key, arr(items),
    "paging", obj{ "totalRows", total, "pageNumber", page, "pageSize", size },
    "statusMessages", arr() }
end

--- page_of(args, rows, key, render): pages an in-memory list.
local function page_of(args, rows, key, render)
  local first, last, page, size = paging(args, #rows)
  if not first then return last, page end
  local items = {}
  for i = first, last do items[#items + 1] = render(rows[i]) end
  return envelope(key, items, #rows, page, size)
end

--- date range + zone of a list query -> from, to (UTC), zone | nil, status, body
local function window(args)
  local st, body = require_params(args, { "startDate", "endDate", "timezoneId" })
  if st then return nil, st, body end
  local z = clock.zone(arg1(args, "timezoneId"))
  if not z then return nil, bad("Unknown timezoneId " .. tostring(arg1(args, "timezoneId"))) end
  local y1, m1, d1 = clock.parse_date(arg1(args, "startDate"))
  if not y1 then return nil, bad("startDate must be yyyy-mm-dd") end
  local y2, m2, d2 = clock.parse_date(arg1(args, "endDate"))
  if not y2 then return nil, bad("endDate must be yyyy-mm-dd") end
  local a, b = clock.days_from_civil(y1, m1, d1), clock.days_from_civil(y2, m2, d2)
  if b < a then return nil, bad("endDate must not be before startDate") end
  if b - a > 366 then return nil, bad("The date range must not exceed 366 days") end
  return clock.local_to_utc(z, y1, m1, d1, 0, 0), clock.local_to_utc(z, y2, m2, d2 + 0, 24, 0), z, a, b
end

local function check_string(body, name, required, maxlen)
  local v = body[name]
  if json.is_null(v) or v == "" then
    if required then return "The " .. name .. " field is required" end
    return nil
  end
  if type(v) ~= "string" then return name .. " must be a string" end
  if maxlen and #v > maxlen then return name .. " must be at most " .. maxlen .. " characters" end
end

--- updatedSince -> UTC seconds | nil (not given) | nil, status, body.
-- The docs' form is "2017-06-30 14:18:00+1000" (URL-encoded
-- 2017-06-30%2014:18:00%2B1000); "+10:00", a "T" and "Z" are read too. An
-- offset is required: the docs give one, and without it the instant is
-- ambiguous. A "+" sent unencoded arrives as a space and is refused.
function _M.updated_since(args)
  local v = arg1(args, "updatedSince")
  if v == nil then return nil end
  local t = type(v) == "string" and clock.parse_datetime(v, nil)
  if not t then
    return nil, bad("updatedSince must be a date-time with its UTC offset, e.g. 2017-06-30 14:18:00+1000 " ..
      "(URL-encoded 2017-06-30%2014:18:00%2B1000), not '" .. tostring(v) .. "'")
  end
  return t
end

-- A booking that starts before the server's clock: refused like a clash
-- (200 and a result[] body), with its own reason.
_M.IN_THE_PAST = "The selected time is in the past and cannot be booked"

_M.bad, _M.not_found = bad, not_found
_M.arg1, _M.argset, _M.truthy, _M.require_params = arg1, argset, truthy, require_params
_M.paging, _M.envelope, _M.page_of, _M.window = paging, envelope, page_of, window
_M.check_string = check_string
return _M
