--- A small booking service on OpenResty / nginx + Lua, calling coreplus
-- without blocking the worker (transport "ngx"): the JSON endpoints below,
-- for a site's own front end, and the coreplus client the HTML booking page
-- (booking_page.lua) shares.
--
--   GET  /slots?date=2024-05-06&appointmentTypeId=..[&days=1][&practitionerId=..][&timezoneId=..]
--        -> {"slots": [...], "total": n}
--        (without appointmentTypeId coreplus answers free blocks, e.g. 08:00-14:00:
--        a block is not a slot to book whole; the booking page always names the type)
--   POST /book  {"startDateTime":..., "endDateTime":..., "practitionerId":...,
--                "locationId":..., "clientId":..., "appointmentTypeId":...}
--        -> {"appointment": {...}}  (409 when the slot was just taken)
--   GET  /health -> {"ok": true}   (never calls coreplus)
-- Another method gets a JSON 405 with an Allow header (allow()).
--
-- Configuration comes from the COREPLUS_* variables (`env` lines in
-- nginx.conf); see examples/openresty/nginx.conf.in.
local coreplus = require "coreplus"
local cjson = require "cjson.safe"

local ngx = ngx
local tonumber, tostring, type = tonumber, tostring, type

local _M = {}

-- The Melbourne zone id of the coreplus documentation; pass timezoneId to
-- use another one.
local DEFAULT_ZONE = "39D62534-501C-49CD-9DA9-6FA8D6A81F48"

-- One client per worker, made on first use: its limiter lives in the
-- lua_shared_dict, so every worker draws on the same 10 per second.
local client
local function cp()
  if not client then
    client = coreplus.from_env{ transport = "ngx", user_agent = "coreplus-openresty-example/1.0" }
  end
  return client
end
_M.client = cp

local STATUS = { validation = 400, not_found = 404, conflict = 409, rate_limited = 503,
  timeout = 504, network = 502, tls = 502 }

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(value))
  return ngx.exit(status)
end

local function fail(err)
  ngx.log(ngx.ERR, tostring(err))
  return reply(STATUS[err.kind] or 502, { error = err.kind, message = err.message,
    reasons = err.reasons, hint = err.hint })
end

-- yyyy-mm-dd plus n days, without os.time (the worker's zone does not matter).
local function add_days(date, n)
  local y, m, d = date:match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local days = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  for _ = 1, n do
    local last = days[m] + ((m == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0))) and 1 or 0)
    d = d + 1
    if d > last then d, m = 1, m + 1 end
    if m > 12 then m, y = 1, y + 1 end
  end
  return ("%04d-%02d-%02d"):format(y, m, d)
end

function _M.slots()
  if not _M.allow("GET", "HEAD") then return end
  local args = ngx.req.get_uri_args()
  local date = type(args.date) == "string" and args.date or ngx.today()
  if not date:match("^%d%d%d%d%-%d%d%-%d%d$") then
    return reply(400, { error = "validation", message = "date must be yyyy-mm-dd" })
  end
  local days = tonumber(args.days) or 1
  if days < 1 or days > 31 then
    return reply(400, { error = "validation", message = "days must be 1..31" })
  end
  local page, err = cp().availability_slots:list{
    startDate = date, endDate = add_days(date, days - 1),
    timezoneId = args.timezoneId or DEFAULT_ZONE,
    practitionerId = args.practitionerId, locationId = args.locationId,
    appointmentTypeId = args.appointmentTypeId,
    pageSize = tonumber(args.pageSize) or 50,
  }
  if not page then return fail(err) end
  -- cjson writes an empty table as {}: the list is written by hand.
  local items = #page.items > 0 and cjson.encode(page.items) or "[]"
  ngx.header["Content-Type"] = "application/json"
  ngx.say('{"slots":', items, ',"total":', tonumber(page.total) or #page.items, '}')
end

function _M.book()
  if not _M.allow("POST") then return end
  ngx.req.read_body()
  local b = cjson.decode(ngx.req.get_body_data() or "")
  if type(b) ~= "table" then
    return reply(400, { error = "validation", message = "a JSON object body expected" })
  end
  for _, f in ipairs{ "startDateTime", "endDateTime", "practitionerId", "locationId", "clientId" } do
    if type(b[f]) ~= "string" or b[f] == "" then
      return reply(400, { error = "validation", message = f .. " is required" })
    end
  end
  local appt, err = cp().appointments:book{
    startDateTime = b.startDateTime, endDateTime = b.endDateTime,
    practitioner = { practitionerId = b.practitionerId },
    locationId = b.locationId,
    clients = { { clientId = b.clientId } },
    appointmentTypeId = b.appointmentTypeId,
    notes = type(b.notes) == "string" and b.notes or nil,
  }
  if not appt then return fail(err) end
  return reply(201, { appointment = appt })
end

--- allow("GET", "HEAD") at the top of a handler: another method is answered
-- 405 in JSON (nginx's own limit_except answers an HTML 403).
function _M.allow(...)
  local method = ngx.req.get_method()
  for i = 1, select("#", ...) do
    if method == select(i, ...) then return true end
  end
  ngx.header["Allow"] = table.concat({ ... }, ", ")
  reply(405, { error = "method_not_allowed", message = method .. " is not allowed here",
    allow = { ... } })
  return false
end

function _M.health()
  if not _M.allow("GET", "HEAD") then return end
  return reply(200, { ok = true, worker = ngx.worker.pid() })
end

return _M
