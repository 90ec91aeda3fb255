--- The booking page's HTML: one function per page, each returning the whole
-- document as a string. Every value from coreplus or from the visitor goes
-- through h() (HTML escaping); there is no script on any page, so the flow
-- is the same with JavaScript off. Forms use GET for the choices (they
-- change nothing and can be bookmarked) and POST, with the CSRF token, for
-- booking and cancelling.
local coreplus = require "coreplus"

local type, ipairs, tostring = type, ipairs, tostring
local concat = table.concat
local format, gsub = string.format, string.gsub
local dates = coreplus.dates

local _M = {}

local STEPS = 5

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

--- HTML-escaped text (nil becomes "").
local function h(v)
  if v == nil then return "" end
  return (gsub(tostring(v), "[&<>\"']", ESCAPES))
end
_M.h = h

--- A query string from {name, value, ...} pairs (values percent-encoded).
local function query(pairs_list)
  local out = {}
  for i = 1, #pairs_list, 2 do
    local v = pairs_list[i + 1]
    if v ~= nil then out[#out + 1] = pairs_list[i] .. "=" .. ngx.escape_uri(tostring(v)) end
  end
  return concat(out, "&")
end
_M.query = query

local WEEKDAYS = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" }
local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December" }

--- "Tuesday 8 December 2026" for "2026-12-08".
function _M.day_name(day)
  local t = dates.parse(day)
  if not t then return h(day) end
  local wd = (dates.days_from_civil(t.year, t.month, t.day) + 4) % 7
  return format("%s %d %s %d", WEEKDAYS[wd + 1], t.day, MONTHS[t.month], t.year)
end

--- "9:30am" for a coreplus date-time (its own wall time, in the location's zone).
function _M.time_of_day(datetime)
  local t = type(datetime) == "table" and datetime or dates.parse(datetime)
  if not t then return h(datetime) end
  local hour = t.hour % 12
  if hour == 0 then hour = 12 end
  return format("%d:%02d%s", hour, t.min, t.hour < 12 and "am" or "pm")
end

local function person(p)
  if not p then return "" end
  local name = concat({ p.title or "", p.firstName or "", p.lastName or "" }, " ")
  return (gsub(gsub(name, "^%s+", ""), "%s+", " "))
end
_M.person = person

local function layout(o)
  return concat{
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    '<title>', h(o.title), ' - Book an appointment</title>\n',
    '<link rel="stylesheet" href="/booking.css">\n</head>\n<body>\n',
    '<header class="bar"><a href="/">Book an appointment</a></header>\n<main>\n',
    o.step and format('<p class="step">Step %d of %d</p>\n', o.step, STEPS) or "",
    o.back and ('<p><a class="back" href="' .. h(o.back) .. '">Back</a></p>\n') or "",
    o.body,
    '</main>\n</body>\n</html>\n',
  }
end

local function hidden(fields)
  local out = {}
  for i = 1, #fields, 2 do
    if fields[i + 1] ~= nil then
      out[#out + 1] = format('<input type="hidden" name="%s" value="%s">\n', fields[i], h(fields[i + 1]))
    end
  end
  return concat(out)
end

-- A radio group: options = list of {value=, label=, hint=}.
local function radios(name, legend, options)
  local out = { '<fieldset>\n<legend>', h(legend), '</legend>\n' }
  for i, o in ipairs(options) do
    local id = name .. "-" .. i
    out[#out + 1] = format('<div class="choice"><input type="radio" id="%s" name="%s" value="%s" required>' ..
      '<label for="%s">%s%s</label></div>\n', id, name, h(o.value), id, h(o.label),
      o.hint and ('<span class="hint">' .. h(o.hint) .. '</span>') or "")
  end
  out[#out + 1] = '</fieldset>\n'
  return concat(out)
end

local function button(text) return '<button type="submit">' .. h(text) .. '</button>\n' end

local function summary(rows)
  local out = { '<dl class="summary">\n' }
  for i = 1, #rows, 2 do
    if rows[i + 1] and rows[i + 1] ~= "" then
      out[#out + 1] = format('<div><dt>%s</dt><dd>%s</dd></div>\n', h(rows[i]), h(rows[i + 1]))
    end
  end
  out[#out + 1] = '</dl>\n'
  return concat(out)
end
_M.summary = summary

------------------------------------------------------------------------
-- The steps
------------------------------------------------------------------------

--- Step 1: locations = list of coreplus locations.
function _M.locations(locations)
  local options = {}
  for i, l in ipairs(locations) do
    local a = type(l.address) == "table" and l.address or {}
    local where = concat({ a.streetAddress or "", a.suburb or "" }, ", "):gsub("^, ", ""):gsub(", $", "")
    options[i] = { value = l.locationId, label = l.name or "Location " .. i, hint = where ~= "" and where or nil }
  end
  return layout{ title = "Where", step = 1, body = concat{
    '<h1>Where would you like to be seen?</h1>\n',
    '<form method="get" action="/practitioner">\n',
    radios("location", "Clinic", options),
    button("Continue"), '</form>\n' } }
end

--- Step 2: who and what kind of appointment.
function _M.practitioner(location, practitioners, types)
  local people, kinds = {}, {}
  for i, p in ipairs(practitioners) do people[i] = { value = p.practitionerId, label = person(p) } end
  for i, t in ipairs(types) do
    kinds[i] = { value = t.appointmentTypeId, label = t.description or "Appointment",
      hint = tonumber(t.durationMinutes) and format("%d minutes", tonumber(t.durationMinutes)) or nil }
  end
  local body
  if #people == 0 then
    body = '<h1>No free times at ' .. h(location.name) .. '</h1>\n' ..
      '<p>Nobody has free time there in the next two weeks. Please choose another clinic.</p>\n'
  else
    body = concat{
      '<h1>Who would you like to see at ', h(location.name), '?</h1>\n',
      '<form method="get" action="/date">\n', hidden{ "location", location.locationId },
      radios("practitioner", "Practitioner", people),
      radios("type", "Kind of appointment", kinds),
      button("Continue"), '</form>\n' }
  end
  return layout{ title = "Who", step = 2, back = "/", body = body }
end

--- Step 3: the day. days = list of {date=, count=}.
function _M.date(ctx, days)
  local options = {}
  for i, d in ipairs(days) do
    options[i] = { value = d.date, label = _M.day_name(d.date),
      hint = d.count == 1 and "1 time free" or format("%d times free", d.count) }
  end
  local body
  if #options == 0 then
    body = '<h1>No free times</h1>\n<p>' .. h(person(ctx.practitioner)) ..
      ' has no free time for this kind of appointment in the next two weeks. Please go back and choose' ..
      ' someone else or another kind of appointment.</p>\n'
  else
    body = concat{
      '<h1>Which day?</h1>\n',
      '<p class="lead">', h(ctx.type.description), ' with ', h(person(ctx.practitioner)), ' at ',
      h(ctx.location.name), '</p>\n',
      '<form method="get" action="/time">\n',
      hidden{ "location", ctx.location.locationId, "practitioner", ctx.practitioner.practitionerId,
        "type", ctx.type.appointmentTypeId },
      radios("date", "Day", options), button("Continue"), '</form>\n' }
  end
  return layout{ title = "Day", step = 3, body = body,
    back = "/practitioner?" .. query{ "location", ctx.location.locationId } }
end

local function time_options(slots, with_day)
  local options = {}
  for i, s in ipairs(slots) do
    local label = _M.time_of_day(s.start)
    if with_day then label = _M.day_name(dates.date(s.start)):gsub(" %d%d%d%d$", "") .. ", " .. label end
    options[i] = { value = s.startDateTime, label = label }
  end
  return options
end

--- Step 4: the time on that day.
function _M.time(ctx, day, slots)
  local body
  if #slots == 0 then
    body = '<h1>No free times that day</h1>\n<p>Every time on ' .. h(_M.day_name(day)) ..
      ' has just been taken. Please go back and choose another day.</p>\n'
  else
    body = concat{
      '<h1>What time on ', h(_M.day_name(day)), '?</h1>\n',
      '<p class="lead">', h(ctx.type.description), ' with ', h(person(ctx.practitioner)), ' at ',
      h(ctx.location.name), '</p>\n',
      '<form method="get" action="/details">\n',
      hidden{ "location", ctx.location.locationId, "practitioner", ctx.practitioner.practitionerId,
        "type", ctx.type.appointmentTypeId },
      '<div class="times">', radios("start", "Time", time_options(slots)), '</div>',
      button("Continue"), '</form>\n' }
  end
  return layout{ title = "Time", step = 4, body = body,
    back = "/date?" .. query{ "location", ctx.location.locationId, "practitioner",
      ctx.practitioner.practitionerId, "type", ctx.type.appointmentTypeId } }
end

local function appointment_rows(ctx, start)
  return { "What", ctx.type.description, "With", person(ctx.practitioner), "Where", ctx.location.name,
    "When", _M.day_name(dates.date(start)) .. " at " .. _M.time_of_day(start) }
end

local function field(o)
  local err = o.errors and o.errors[o.name]
  return concat{
    '<div class="field', err and ' invalid' or '', '">',
    '<label for="', o.name, '">', h(o.label), o.optional and ' <span class="hint">(optional)</span>' or '',
    '</label>\n',
    err and ('<p class="error" id="' .. o.name .. '-error">' .. h(err) .. '</p>\n') or '',
    '<input id="', o.name, '" name="', o.name, '" type="', o.type or "text", '" value="', h(o.values[o.name]),
    '"', o.autocomplete and (' autocomplete="' .. o.autocomplete .. '"') or '',
    o.inputmode and (' inputmode="' .. o.inputmode .. '"') or '',
    o.size and (' class="w' .. o.size .. '" maxlength="' .. o.size .. '"') or ' maxlength="50"',
    err and (' aria-describedby="' .. o.name .. '-error"') or '',
    o.optional and '' or ' required', '>\n</div>\n' }
end

local function details_fields(values, errors)
  local dob_err = errors.dateOfBirth
  return concat{
    field{ name = "firstName", label = "First name", values = values, errors = errors, autocomplete = "given-name" },
    field{ name = "lastName", label = "Last name", values = values, errors = errors, autocomplete = "family-name" },
    '<fieldset class="dob', dob_err and ' invalid' or '', '"><legend>Date of birth</legend>\n',
    '<p class="hint" id="dob-hint">For example, 27 3 1985</p>\n',
    dob_err and ('<p class="error">' .. h(dob_err) .. '</p>\n') or '',
    '<div class="parts">',
    field{ name = "dobDay", label = "Day", values = values, size = 2, inputmode = "numeric",
      autocomplete = "bday-day" },
    field{ name = "dobMonth", label = "Month", values = values, size = 2, inputmode = "numeric",
      autocomplete = "bday-month" },
    field{ name = "dobYear", label = "Year", values = values, size = 4, inputmode = "numeric",
      autocomplete = "bday-year" },
    '</div></fieldset>\n',
    field{ name = "email", label = "Email", type = "email", values = values, errors = errors, optional = true,
      autocomplete = "email" },
    field{ name = "phone", label = "Mobile phone", type = "tel", values = values, errors = errors, optional = true,
      autocomplete = "tel" },
  }
end

--- Step 5: the person's details. o = {ctx=, start=, values=, errors=, csrf=, once=}
function _M.details(o)
  local ctx, errors = o.ctx, o.errors or {}
  local list = {}
  for _, k in ipairs{ "firstName", "lastName", "dateOfBirth", "email", "phone" } do
    if errors[k] then list[#list + 1] = '<li><a href="#' .. (k == "dateOfBirth" and "dobDay" or k) .. '">' ..
      h(errors[k]) .. '</a></li>' end
  end
  return layout{ title = (#list > 0 and "Error: " or "") .. "Your details", step = 5,
    back = "/time?" .. query{ "location", ctx.location.locationId, "practitioner", ctx.practitioner.practitionerId,
      "type", ctx.type.appointmentTypeId, "date", dates.date(o.start.epoch, o.start.offset) },
    body = concat{
      #list > 0 and ('<div class="problems" role="alert"><h2>There is a problem</h2><ul>' .. concat(list) ..
        '</ul></div>\n') or '',
      '<h1>Your details</h1>\n',
      summary(appointment_rows(ctx, o.start)),
      '<form method="post" action="/details" novalidate>\n',
      hidden{ "location", ctx.location.locationId, "practitioner", ctx.practitioner.practitionerId,
        "type", ctx.type.appointmentTypeId, "start", o.start_text, "csrf", o.csrf, "once", o.once },
      details_fields(o.values or {}, errors),
      button("Book appointment"), '</form>\n' } }
end

--- The slot was taken between the time page and the booking: the same
-- person's details ride along (POST), so picking another time books at once.
function _M.taken(o)
  local ctx, v = o.ctx, o.values
  local body = { '<div class="notice" role="alert"><h1>That time was just taken</h1>\n<p>Sorry, someone ',
    'booked ', h(_M.time_of_day(o.start)), ' on ', h(_M.day_name(dates.date(o.start.epoch, o.start.offset))),
    ' a moment ago: please pick another time.</p></div>\n' }
  if #o.slots == 0 then
    body[#body + 1] = '<p>There are no other free times in the next two weeks. <a href="/practitioner?' ..
      h(query{ "location", ctx.location.locationId }) .. '">Choose someone else</a>.</p>\n'
  else
    body[#body + 1] = concat{
      '<form method="post" action="/details">\n',
      hidden{ "location", ctx.location.locationId, "practitioner", ctx.practitioner.practitionerId,
        "type", ctx.type.appointmentTypeId, "csrf", o.csrf, "once", o.once,
        "firstName", v.firstName, "lastName", v.lastName, "dobDay", v.dobDay, "dobMonth", v.dobMonth,
        "dobYear", v.dobYear, "email", v.email, "phone", v.phone },
      o.same_day and '<div class="times">' or '<p>There are no other free times that day.</p><div>',
      radios("start", o.same_day and "Other times that day" or "The next free times",
        time_options(o.slots, not o.same_day)), '</div>',
      button("Book this time"), '</form>\n' }
  end
  return layout{ title = "Just taken, pick another", body = concat(body) }
end

--- The confirmation: "Booked", the reference, and the cancel link.
function _M.booked(o)
  local a = o.appointment
  return layout{ title = "Booked", body = concat{
    '<div class="panel"><h1>Booked</h1>\n<p>Your appointment is confirmed.</p>\n',
    '<p class="ref">Reference <strong>', h(a.appointmentReferenceNumber or a.appointmentId), '</strong></p></div>\n',
    summary(appointment_rows(o.ctx, o.start)),
    '<p>Please keep this page or its address: it is the only way to cancel online.</p>\n',
    '<p><a class="secondary" href="', h(o.cancel_url), '">Cancel this appointment</a></p>\n' } }
end

function _M.cancel(o)
  return layout{ title = "Cancel your appointment", body = concat{
    '<h1>Cancel your appointment?</h1>\n',
    summary(appointment_rows(o.ctx, o.start)),
    '<form method="post" action="/cancel">\n', hidden{ "a", o.id, "s", o.sig, "csrf", o.csrf },
    '<button type="submit" class="warning">Yes, cancel it</button>\n</form>\n',
    '<p><a href="', h(o.booked_url), '">No, keep it</a></p>\n' } }
end

function _M.cancelled(o)
  return layout{ title = "Cancelled", body = concat{
    '<div class="panel muted"><h1>Cancelled</h1>\n<p>Your appointment',
    o.reference and (' (reference ' .. h(o.reference) .. ')') or '', ' is cancelled.</p></div>\n',
    '<p><a href="/">Book another appointment</a></p>\n' } }
end

--- A page for anything that went wrong: o = {title=, text=, link=, link_text=}.
function _M.problem(o)
  return layout{ title = o.title, body = concat{
    '<h1>', h(o.title), '</h1>\n<p>', h(o.text), '</p>\n',
    '<p><a href="', h(o.link or "/"), '">', h(o.link_text or "Start again"), '</a></p>\n' } }
end

return _M
