--- The booking page people use: server-rendered HTML forms, one question per
-- page, working with JavaScript off.
--
--   GET  /              1. which clinic
--   GET  /practitioner  2. who, and what kind of appointment
--   GET  /date          3. which day (days with free times only)
--   GET  /time          4. which time (future times only)
--   GET  /details       5. the person's details
--   POST /details       books (find-or-create the client, never a duplicate),
--                       then 303 to the confirmation; a clash answers "That
--                       time was just taken" with the other times of the day
--   GET  /booked        "Booked", the reference, a cancel link (signed link)
--   GET  /cancel        asks; POST /cancel cancels
--
-- Every POST carries the session's CSRF token; no coreplus credential or
-- token is ever written into a page (booking_guard.lua). Mounted by
-- nginx.conf.in as `location / { content_by_lua_block {
-- require("booking_page").serve() } }`.
local coreplus = require "coreplus"
local client_match = require "coreplus.client_match"
local data = require "booking_data"
local guard = require "booking_guard"
local views = require "booking_views"

local ngx = ngx
local type, tonumber, tostring, ipairs = type, tonumber, tostring, ipairs
local format, match = string.format, string.match
local dates = coreplus.dates

local _M = {}

local TAKEN_CHOICES = 12     -- other times offered after a clash, when that day has none left
local MAX_FORM = 8192        -- bytes of a POSTed form (nginx.conf.in sets client_max_body_size too)

local function send(status, html)
  ngx.status = status
  ngx.header["Content-Type"] = "text/html; charset=utf-8"
  -- Pages carry per-session tokens: never cached. No script may run, forms
  -- post only here, and links carry no Referer elsewhere.
  ngx.header["Cache-Control"] = "no-store"
  ngx.header["Content-Security-Policy"] = "default-src 'none'; style-src 'self'; img-src 'self'; " ..
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
  ngx.header["X-Content-Type-Options"] = "nosniff"
  ngx.header["Referrer-Policy"] = "same-origin"
  ngx.print(html)
  return ngx.exit(status)
end

local function redirect(url)
  ngx.header["Cache-Control"] = "no-store"
  return ngx.redirect(url, 303)
end

local function problem(status, title, text, link, link_text)
  return send(status, views.problem{ title = title, text = text, link = link, link_text = link_text })
end

-- A coreplus failure, for people; the technical line goes to error.log.
local function unavailable(err)
  ngx.log(ngx.ERR, "booking page: ", tostring(err))
  if err and err.kind == "rate_limited" then
    return problem(503, "Busy right now", "Many people are booking at the moment. Please try again in a minute.",
      ngx.var.request_uri, "Try again")
  end
  return problem(503, "Booking is not available right now",
    "We cannot reach the booking system at the moment. Please try again in a few minutes.",
    ngx.var.request_uri, "Try again")
end

local function id_arg(v)
  return type(v) == "string" and #v <= 64 and match(v, "^[%w%-]+$") and v or nil
end

--- ctx{location=, practitioner=, type=} from the request's ids; nil, status
-- page when one is missing or unknown.
local function context(args, need)
  local ctx = {}
  local lid = id_arg(args.location)
  if not lid then return nil, "location" end
  local err
  ctx.location, err = data.location(lid)
  if err then return nil, nil, err end
  if not ctx.location then return nil, "location" end
  if need == "location" then return ctx end
  local pid, tid = id_arg(args.practitioner), id_arg(args.type)
  if not pid or not tid then return nil, "practitioner" end
  ctx.practitioner, err = data.practitioner(pid)
  if err then return nil, nil, err end
  ctx.type, err = data.appointment_type(tid)
  if err then return nil, nil, err end
  if not ctx.practitioner or not ctx.type then return nil, "practitioner" end
  return ctx
end

local function with_context(args, need)
  local ctx, missing, err = context(args, need)
  if err then return nil, unavailable(err) end
  if not ctx then
    local back = missing == "location" and "/" or ("/practitioner?" .. views.query{ "location", args.location })
    return nil, problem(400, "Please choose again", "Something in the address of this page is missing or out of "
      .. "date. Please make the choice again.", back, "Choose again")
  end
  return ctx
end

------------------------------------------------------------------------
-- GET steps
------------------------------------------------------------------------

local function page_locations()
  local list, err = data.locations()
  if not list then return unavailable(err) end
  return send(200, views.locations(list))
end

local function page_practitioner(args)
  local ctx, done = with_context(args, "location")
  if not ctx then return done end
  local people, err = data.practitioners_at(ctx.location)
  if not people then return unavailable(err) end
  local types, terr = data.appointment_types()
  if not types then return unavailable(terr) end
  return send(200, views.practitioner(ctx.location, people, types))
end

local function page_date(args)
  local ctx, done = with_context(args)
  if not ctx then return done end
  local slots, err = data.free_slots(ctx.location, ctx.practitioner.practitionerId, ctx.type.appointmentTypeId)
  if not slots then return unavailable(err) end
  return send(200, views.date(ctx, data.days(slots)))
end

local function day_arg(v)
  return type(v) == "string" and match(v, "^%d%d%d%d%-%d%d%-%d%d$") and dates.parse(v) and v or nil
end

local function slots_of_day(ctx, day)
  local slots, err = data.free_slots(ctx.location, ctx.practitioner.practitionerId, ctx.type.appointmentTypeId,
    day, day)
  if not slots then return nil, err end
  local out = {}
  for _, s in ipairs(slots) do
    if s.startDateTime:sub(1, 10) == day then out[#out + 1] = s end
  end
  return out
end

local function page_time(args)
  local ctx, done = with_context(args)
  if not ctx then return done end
  local day = day_arg(args.date)
  if not day then
    return problem(400, "Please choose a day", "Please go back and choose a day.", "/date?" .. views.query{
      "location", ctx.location.locationId, "practitioner", ctx.practitioner.practitionerId,
      "type", ctx.type.appointmentTypeId }, "Choose a day")
  end
  local slots, err = slots_of_day(ctx, day)
  if not slots then return unavailable(err) end
  return send(200, views.time(ctx, day, slots))
end

local function start_arg(v)
  if type(v) ~= "string" or #v > 40 then return nil end
  local t = dates.parse(v)
  if not t or not t.offset then return nil end
  return t
end

local function details_form(ctx, start, start_text, values, errors, status)
  local sid = guard.session()
  return send(status or 200, views.details{ ctx = ctx, start = start, start_text = start_text,
    values = values or {}, errors = errors, csrf = guard.csrf_token(sid), once = guard.random_hex(16) })
end

local function page_details(args)
  local ctx, done = with_context(args)
  if not ctx then return done end
  local start = start_arg(args.start)
  if not start then
    return problem(400, "Please choose a time", "Please go back and choose a time.", "/", "Start again")
  end
  return details_form(ctx, start, args.start)
end

------------------------------------------------------------------------
-- POST /details: the booking
------------------------------------------------------------------------

local function trim(s)
  return type(s) == "string" and (s:gsub("^%s+", ""):gsub("%s+$", "")) or ""
end

--- The person's fields checked; returns fields, values (as typed), errors (or nil).
local function person_fields(args)
  local v = {}
  for _, k in ipairs{ "firstName", "lastName", "dobDay", "dobMonth", "dobYear", "email", "phone" } do
    v[k] = trim(args[k])
  end
  local errors, n = {}, 0
  local function bad(k, text) errors[k] = text; n = n + 1 end
  if v.firstName == "" then bad("firstName", "Enter your first name")
  elseif #v.firstName > 50 then bad("firstName", "First name must be 50 characters or fewer") end
  if v.lastName == "" then bad("lastName", "Enter your last name")
  elseif #v.lastName > 50 then bad("lastName", "Last name must be 50 characters or fewer") end
  local d, m, y = tonumber(match(v.dobDay, "^%d%d?$")), tonumber(match(v.dobMonth, "^%d%d?$")),
    tonumber(match(v.dobYear, "^%d%d%d%d$"))
  local dob
  if v.dobDay == "" and v.dobMonth == "" and v.dobYear == "" then
    bad("dateOfBirth", "Enter your date of birth")
  elseif not (d and m and y) or m < 1 or m > 12 or d < 1
      or d > dates.days_from_civil(m == 12 and y + 1 or y, m % 12 + 1, 1) - dates.days_from_civil(y, m, 1) then
    bad("dateOfBirth", "Date of birth must be a real date, for example 27 3 1985")
  else
    dob = format("%04d-%02d-%02d", y, m, d)
    if y < 1900 or dob > dates.date(ngx.time()) then bad("dateOfBirth", "Date of birth must be in the past") end
  end
  if v.email ~= "" and (#v.email > 50 or not match(v.email, "^[^%s@]+@[^%s@]+%.[^%s@]+$")) then
    bad("email", "Enter an email address like name@example.com, or leave it empty")
  end
  if v.phone ~= "" and (#v.phone > 20 or not match(v.phone, "^%+?[%d%s%-()]+$")) then
    bad("phone", "Enter a phone number like 0400 123 456, or leave it empty")
  end
  if n > 0 then return nil, v, errors end
  return { firstName = v.firstName, lastName = v.lastName, dateOfBirth = dob,
    email = v.email ~= "" and v.email or nil, phone = v.phone ~= "" and v.phone or nil }, v
end

local function booked_url(id)
  return "/booked?" .. views.query{ "a", id, "s", guard.sign_appointment(id) }
end

-- Settles the form's once-id and answers for an outcome another submission
-- of the same form reached.
local function shared_outcome(outcome)
  local id = outcome and match(outcome, "^booked:(.+)$")
  if id then return redirect(booked_url(id)) end
  return problem(502, "We could not confirm your booking",
    "Your booking may or may not have been made. Please do not book again: call the clinic to check.")
end

local function book(args, sid)
  local ctx, done = with_context(args)
  if not ctx then return done end
  local start = start_arg(args.start)
  if not start then return problem(400, "Please choose a time", "Please choose a time again.", "/") end
  local once = type(args.once) == "string" and match(args.once, "^%x+$") and #args.once == 32 and args.once
  if not once then return problem(400, "Please start again", "This form is incomplete. Please start again.") end
  local fields, values, errors = person_fields(args)
  if not fields then return details_form(ctx, start, args.start, values, errors, 400) end

  local mine, outcome = guard.claim(sid, once)
  if not mine then return shared_outcome(outcome) end

  local minutes = tonumber(ctx.type.durationMinutes) or 30
  local client, err = guard.with_lock("client:" .. (fields.firstName .. "|" .. fields.lastName):lower() ..
    "|" .. fields.dateOfBirth, 30, client_match.find_or_create, require("booking").client(), fields)
  if not client then
    guard.settle(sid, once, nil)   -- nothing booked: trying again is safe (it finds the client)
    return unavailable(err)
  end
  local appt, berr = require("booking").client().appointments:book{
    startDateTime = dates.datetime(start.epoch, start.offset),
    endDateTime = dates.datetime(start.epoch + minutes * 60, start.offset),
    practitioner = { practitionerId = ctx.practitioner.practitionerId },
    locationId = ctx.location.locationId,
    appointmentTypeId = ctx.type.appointmentTypeId,
    clients = { { clientId = client.clientId } },
    notes = "Booked online",
  }
  if appt and type(appt.appointmentId) == "string" then
    guard.settle(sid, once, "booked:" .. appt.appointmentId)
    return redirect(booked_url(appt.appointmentId))
  end
  if berr and berr.outcome == "unknown" then
    guard.settle(sid, once, "unknown")
    ngx.log(ngx.ERR, "booking page: ", tostring(berr))
    return shared_outcome("unknown")
  end
  guard.settle(sid, once, nil)
  if berr and berr.kind == "conflict" then
    -- The rest of that day, or else the next free times of the coming days.
    local day = dates.date(start.epoch, start.offset)
    local slots, serr = slots_of_day(ctx, day)
    if not slots then return unavailable(serr) end
    local same_day = #slots > 0
    if not same_day then
      slots, serr = data.free_slots(ctx.location, ctx.practitioner.practitionerId, ctx.type.appointmentTypeId)
      if not slots then return unavailable(serr) end
      for i = #slots, TAKEN_CHOICES + 1, -1 do slots[i] = nil end
    end
    return send(409, views.taken{ ctx = ctx, start = start, slots = slots, same_day = same_day, values = values,
      csrf = guard.csrf_token(sid), once = guard.random_hex(16) })
  end
  if berr and berr.kind == "validation" then
    ngx.log(ngx.ERR, "booking page: ", tostring(berr))
    return problem(400, "The booking was not accepted", "The booking system did not accept these details. " ..
      "Please start again, or call the clinic.")
  end
  return unavailable(berr)
end

------------------------------------------------------------------------
-- Confirmation and cancelling
------------------------------------------------------------------------

-- The appointment a signed link names, with its context; or an answer.
local function linked_appointment(args)
  local id, sig = args.a, args.s
  if not guard.check_appointment(id, sig) then
    return nil, problem(404, "Appointment not found", "This link is not complete. Please use the whole link " ..
      "from your confirmation page.")
  end
  local appt, err = require("booking").client().appointments:get(id)
  if not appt then
    if err.kind == "not_found" then
      return nil, problem(404, "Appointment not found", "We could not find this appointment.")
    end
    return nil, unavailable(err)
  end
  local pid = type(appt.practitioner) == "table" and appt.practitioner.practitionerId
  local ctx, _, cerr = context({ location = appt.locationId, practitioner = pid, type = appt.appointmentTypeId })
  if cerr then return nil, unavailable(cerr) end
  ctx = ctx or {}
  ctx.location = ctx.location or { name = "" }
  ctx.practitioner = ctx.practitioner or {}
  ctx.type = ctx.type or { description = "Appointment" }
  return { appt = appt, ctx = ctx, start = dates.parse(appt.startDateTime) or {}, id = id, sig = sig }
end

local function page_booked(args)
  local a, done = linked_appointment(args)
  if not a then return done end
  if a.appt.status == "Cancelled" then
    return send(200, views.cancelled{ reference = a.appt.appointmentReferenceNumber })
  end
  return send(200, views.booked{ appointment = a.appt, ctx = a.ctx, start = a.start,
    cancel_url = "/cancel?" .. views.query{ "a", a.id, "s", a.sig } })
end

local function page_cancel(args)
  local a, done = linked_appointment(args)
  if not a then return done end
  if a.appt.status == "Cancelled" then
    return send(200, views.cancelled{ reference = a.appt.appointmentReferenceNumber })
  end
  local sid = guard.session()
  return send(200, views.cancel{ ctx = a.ctx, start = a.start, id = a.id, sig = a.sig,
    csrf = guard.csrf_token(sid), booked_url = booked_url(a.id) })
end

local function cancel(args)
  local a, done = linked_appointment(args)
  if not a then return done end
  if a.appt.status ~= "Cancelled" then
    local ok, err = require("booking").client().appointments:cancel(a.id)
    if not ok then return unavailable(err) end
  end
  return send(200, views.cancelled{ reference = a.appt.appointmentReferenceNumber })
end

------------------------------------------------------------------------
-- Routing
------------------------------------------------------------------------

local GET = { ["/"] = page_locations, ["/practitioner"] = page_practitioner, ["/date"] = page_date,
  ["/time"] = page_time, ["/details"] = page_details, ["/booked"] = page_booked, ["/cancel"] = page_cancel }
local POST = { ["/details"] = book, ["/cancel"] = cancel }

local function post_args()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body or #body > MAX_FORM then return nil end
  local args = ngx.decode_args(body, 64)
  return type(args) == "table" and args or nil
end

--- The content handler of `location /`.
function _M.serve()
  local uri, method = ngx.var.uri, ngx.req.get_method()
  if method == "GET" or method == "HEAD" then
    local page = GET[uri]
    if not page then return problem(404, "Page not found", "There is no page at this address.") end
    return page(ngx.req.get_uri_args(32))
  end
  if method == "POST" and POST[uri] then
    local args = post_args()
    if not args then return problem(400, "Please start again", "This form could not be read. Please start again.") end
    for k, v in pairs(args) do if type(v) == "table" then args[k] = v[1] end end
    local sid, why = guard.check_post(args)
    if not sid then
      ngx.log(ngx.WARN, "booking page: POST ", uri, " refused: ", why)
      return problem(403, "This form has expired", "For your safety this form only works from the page it " ..
        "came from, with cookies on. Please start again.")
    end
    return POST[uri](args, sid)
  end
  ngx.header["Allow"] = POST[uri] and (GET[uri] and "GET, HEAD, POST" or "POST") or "GET, HEAD"
  return problem(405, "Not allowed", "This page cannot be used that way.")
end

return _M
