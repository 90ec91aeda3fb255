--- The API's resources: routing, envelopes, paging, validation and the
-- booking rules. Handlers return (status, value) where value is encoded by
-- coreplus.testing.mock.json; they never touch ngx.say themselves so that faults
-- can rewrite any response.
local json = require "coreplus.testing.mock.json"
local clock = require "coreplus.testing.mock.clock"
local fixtures = require "coreplus.testing.mock.fixtures"
local store = require "coreplus.testing.mock.store"
local lock = require "coreplus.testing.mock.lock"

local ngx = ngx
local obj, arr, raw = json.obj, json.arr, json.raw
local type, ipairs, pairs, tostring, tonumber = type, ipairs, pairs, tostring, tonumber
local format, lower, match, floor, ceil = string.format, string.lower, string.match, math.floor, math.ceil
local sort, min, max = table.sort, math.min, math.max

local _M = {}

local DAY = 86400
local MAX_PAGE = 100

------------------------------------------------------------------------
-- Responses
------------------------------------------------------------------------

local function result(status, reason, detail)
  return status, obj{ "result", arr{ obj{ "severity", 2, "reason", reason, "detail", detail } } }
end
_M.result = result

local function bad(reason) return result(400, reason) end
local function not_found(what) return result(404, what .. " not found") end

-- A business-rule refusal: the real API answers these with 200 and a
-- result[] body (coreplus-api.md §3.3), which clients must detect.
local NOT_AVAILABLE = "The selected time is not available for booking an appointment"

------------------------------------------------------------------------
-- Parameters
------------------------------------------------------------------------

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

------------------------------------------------------------------------
-- Records
------------------------------------------------------------------------

local function client_record(data, id)
  local i = fixtures.client_index(data.seed, id, data.client_count)
  if i then return fixtures.client(data, i) end
  return store.get("client", id)
end

local function render_client(c)
  return obj{ "clientId", c.clientId, "title", c.title or "", "firstName", c.firstName,
    "middleName", c.middleName or "", "lastName", c.lastName, "preferredName", c.preferredName or "",
    "culture", c.culture or "", "pronouns", c.pronouns or "", "dateOfBirth", c.dateOfBirth,
    "gender", c.gender or "", "practitionerId", c.practitionerId or json.null,
    "phoneNumberMobile", c.phoneNumberMobile or "", "phoneNumberHome", c.phoneNumberHome or "",
    "email", c.email or "",
    "addressResidential", c.addressResidential and obj{
      "streetAddress", c.addressResidential.streetAddress or "",
      "suburb", c.addressResidential.suburb or c.addressResidential.city or "",
      "state", c.addressResidential.state or "", "postcode", c.addressResidential.postcode or "" } }
end

local function render_practitioner(p)
  return obj{ "practitionerId", p.practitionerId, "title", p.title, "firstName", p.firstName,
    "lastName", p.lastName, "locationIds", arr{ p.location.locationId } }
end

local function render_location(l)
  return obj{ "locationId", l.locationId, "name", l.name,
    "address", obj{ "streetAddress", l.address.streetAddress, "suburb", l.address.suburb,
      "state", l.address.state, "postcode", l.address.postcode },
    "timeZone", obj{ "tzName", l.zone.name, "timezoneId", l.zone.id } }
end

local function render_apptype(t)
  return obj{ "appointmentTypeId", t.appointmentTypeId, "description", t.description,
    "durationMinutes", t.durationMinutes, "blockColour", t.blockColour or "",
    "practitionerId", t.practitionerId, "locationId", t.locationId }
end

local function appointment_types(data)
  local out = {}
  for _, t in ipairs(data.appointment_types) do out[#out + 1] = t end
  for _, id in ipairs(store.ids("apptype")) do out[#out + 1] = store.get("apptype", id) end
  return out
end

local function apptype_record(data, id)
  if type(id) ~= "string" then return nil end
  local t = data.by_id[lower(id)]
  if t and t.appointmentTypeId then return t end
  return store.get("apptype", id)
end

local function location_by_id(data, id)
  local l = type(id) == "string" and data.by_id[lower(id)]
  return l and l.locationId and l or nil
end

local function practitioner_by_id(data, id)
  local p = type(id) == "string" and data.by_id[lower(id)]
  return p and p.practitionerId and p or nil
end

--- Every appointment as an internal record: fixtures with their stored
-- overrides, then the ones created through the API.
local function all_appointments(data)
  local out = {}
  for _, a in ipairs(data.appointments) do
    out[#out + 1] = store.get("appt", a.appointmentId) or a
  end
  for _, id in ipairs(store.ids("appt")) do out[#out + 1] = store.get("appt", id) end
  return out
end

local function appointment_record(data, id)
  if type(id) ~= "string" then return nil end
  local s = store.get("appt", id)
  if s then return s end
  return data.appointment_by_id[lower(id)]
end

local function appointment_client_id(data, a)
  return a.clientId or fixtures.client_id(data.seed, a.client_index)
end

local function render_appointment(data, a, z, profiles)
  local loc = location_by_id(data, a.locationId)
  z = z or (loc and loc.zone) or clock.zones[1]
  local p = practitioner_by_id(data, a.practitionerId)
  local cid = appointment_client_id(data, a)
  local subject = a.subject
  if not subject then
    local c = client_record(data, cid)
    subject = c and format("%s %s %s", c.lastName:upper(), c.firstName, c.phoneNumberMobile or "") or ""
  end
  return obj{ "appointmentId", a.appointmentId, "appointmentReferenceNumber", a.appointmentReferenceNumber,
    "status", a.deleted and "Cancelled" or (a.status or "Booked"),
    "practitioner", obj{ "practitionerId", a.practitionerId,
      "firstName", profiles and p and p.firstName or nil, "lastName", profiles and p and p.lastName or nil },
    "subject", subject, "notes", a.notes or "", "locationId", a.locationId,
    "appointmentTypeId", a.appointmentTypeId or json.null,
    "startDateTime", clock.format_local(z, a.start), "endDateTime", clock.format_local(z, a.finish),
    "clients", arr{ obj{ "clientId", cid } },
    "notifyPractitioner", a.notifyPractitioner and true or false }
end

local function money(n)
  if n == floor(n) then return format("%.1f", n) end
  return format("%.2f", n)
end

local function payments_of(invoice_id)
  return store.get("payments", invoice_id) or {}
end

local function amount_owing(inv)
  local paid = 0
  for _, p in ipairs(payments_of(inv.invoiceId)) do paid = paid + (tonumber(p.amountPaid) or 0) end
  return max(0, inv.amount - paid)
end

local function render_line_item(li, extra)
  return obj{ "lineItemId", li.lineItemId, "productId", li.productId, "description", li.description,
    "itemNumber", li.itemNumber, "unitAmount", raw(money(li.unitAmount)),
    "taxAmount", raw(money(li.taxAmount)), "lineAmount", raw(money(li.lineAmount)),
    "quantity", raw(money(li.quantity)), "amountPaid", extra }
end

local function render_invoice(inv, args, full)
  local fields = argset(args, "Field")
  local want_lines = full
  if fields then
    for f in pairs(fields) do if f:match("^lineitems%.") then want_lines = true end end
  end
  local lines = arr()
  if want_lines then
    for _, li in ipairs(inv.lineItems) do lines[#lines + 1] = render_line_item(li) end
  end
  local o = obj{ "invoiceId", inv.invoiceId, "invoiceNumber", inv.invoiceNumber, "clientId", inv.clientId,
    "generatedAt", inv.generatedAt, "lineItems", lines, "amountOwing", money(amount_owing(inv)) }
  if full or truthy(arg1(args, "getLockStatus")) then json.set(o, "locked", true) end
  if truthy(arg1(args, "getPractitionerId")) then json.set(o, "practitionerId", inv.practitionerId) end
  if truthy(arg1(args, "getLocationId")) then json.set(o, "locationId", inv.locationId) end
  if truthy(arg1(args, "getClientGroupId")) then json.set(o, "clientGroupId", json.null) end
  if truthy(arg1(args, "getAppointmentId")) then json.set(o, "appointmentId", inv.appointmentId) end
  return o
end

------------------------------------------------------------------------
-- Availability and clashes
------------------------------------------------------------------------

local function busy_by_practitioner(data, except_id)
  local busy = {}
  for _, a in ipairs(all_appointments(data)) do
    if not a.deleted and a.appointmentId ~= except_id then
      local k = lower(a.practitionerId)
      busy[k] = busy[k] or {}
      busy[k][#busy[k] + 1] = { a.start, a.finish }
    end
  end
  for _, list in pairs(busy) do sort(list, function(x, y) return x[1] < y[1] end) end
  return busy
end

--- The practitioner's working block on local day number `day`, as UTC.
local function work_block(p, day)
  if not p.workdays[clock.weekday(day)] then return nil end
  local y, m, d = clock.civil_from_days(day)
  local z = p.location.zone
  return clock.local_to_utc(z, y, m, d, floor(p.start_min / 60), p.start_min % 60),
    clock.local_to_utc(z, y, m, d, floor(p.end_min / 60), p.end_min % 60)
end

--- Why [s, f) cannot be booked for practitioner p at location, or nil.
local function unavailable(data, p, loc, s, f, except_id)
  if lower(loc.locationId) ~= lower(p.location.locationId) then
    return "the practitioner does not work at that location"
  end
  local z = p.location.zone
  local day = floor((s + clock.offset(z, s)) / DAY)
  local ws, we = work_block(p, day)
  if not ws or s < ws or f > we then return "outside the practitioner's working hours" end
  for _, b in ipairs(busy_by_practitioner(data, except_id)[lower(p.practitionerId)] or {}) do
    if s < b[2] and f > b[1] then return "clashes with an existing appointment" end
  end
  return nil
end

------------------------------------------------------------------------
-- Handlers
------------------------------------------------------------------------

local H = {}

function H.client_list(ctx)
  if not ctx.token.can_list_clients then
    return result(401, "Not authorized for viewing client list")
  end
  local data, args = ctx.data, ctx.args
  local created = store.ids("client")
  local name = arg1(ctx.args, "name")
  if name and name ~= "" then
    -- A filter must scan every row; fine at fixture sizes.
    local rows, needle = {}, lower(name)
    for i = 1, data.client_count do
      local c = fixtures.client(data, i)
      if lower(c.firstName .. " " .. c.lastName):find(needle, 1, true) then rows[#rows + 1] = c end
    end
    for _, id in ipairs(created) do
      local c = store.get("client", id)
      if lower(c.firstName .. " " .. c.lastName):find(needle, 1, true) then rows[#rows + 1] = c end
    end
    return page_of(args, rows, "clients", render_client)
  end
  local total = data.client_count + #created
  local first, last, page, size = paging(args, total)
  if not first then return last, page end
  local items = {}
  for i = first, last do
    local c = i <= data.client_count and fixtures.client(data, i)
      or store.get("client", created[i - data.client_count])
    items[#items + 1] = render_client(c)
  end
  return envelope("clients", items, total, page, size)
end

function H.client_get(ctx)
  local c = client_record(ctx.data, ctx.id)
  if not c then return not_found("Client") end
  return 200, obj{ "client", render_client(c) }
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

function H.client_create(ctx)
  local b = ctx.body
  for _, f in ipairs{ { "firstName", true, 50 }, { "lastName", true, 50 }, { "dateOfBirth", true },
                      { "middleName", false, 50 }, { "preferredName", false, 50 }, { "email", false, 50 },
                      { "phoneNumberMobile", false, 50 }, { "notes1", false, 300 } } do
    local err = check_string(b, f[1], f[2], f[3])
    if err then return bad(err) end
  end
  local y, m, d = clock.parse_date(b.dateOfBirth)
  if not y then return bad("dateOfBirth must be yyyy-mm-dd") end
  local id = store.new_id()
  local addr = type(b.addressResidential) == "table" and b.addressResidential or nil
  store.put("client", id, { clientId = id, title = b.title, firstName = b.firstName, lastName = b.lastName,
    middleName = b.middleName, preferredName = b.preferredName, gender = b.gender,
    pronouns = b.pronouns or b.pronoun, culture = b.culture,
    dateOfBirth = format("%04d-%02d-%02dT00:00:00", y, m, d), email = b.email,
    phoneNumberMobile = b.phoneNumberMobile, phoneNumberHome = b.phoneNumberHome,
    addressResidential = addr, externalId = b.ExternalId }, true)
  return 200, obj{ "client", obj{ "clientId", id } }
end

function H.family_create(ctx)
  local b = ctx.body
  for _, f in ipairs{ { "clientId", true }, { "firstName", true, 50 }, { "surname", true, 50 },
                      { "notes", false, 300 }, { "medicareCardNumber", false, 20 }, { "medicareCardIRN", false, 1 } } do
    local err = check_string(b, f[1], f[2], f[3])
    if err then return bad(err) end
  end
  if not client_record(ctx.data, b.clientId) then return not_found("Client") end
  local id = store.new_id()
  local function s(k) return type(b[k]) == "string" and b[k] or "" end
  local rec = obj{ "familyId", id, "firstName", b.firstName, "surname", b.surname, "title", s("title"),
    "relationship", s("relationship"), "address", s("address"), "suburb", s("suburb"),
    "postcode", s("postcode"), "workPhone", s("workPhone"), "homePhone", s("homePhone"),
    "mobile", s("mobile"), "email", s("email"), "notes", s("notes"),
    "medicareCardNumber", s("medicareCardNumber"), "medicareCardIRN", s("medicareCardIRN"),
    "emergencyContact", truthy(b.emergencyContact), "invoiceRecipient", truthy(b.invoiceRecipient),
    "mainContact", truthy(b.mainContact) }
  store.put("family", id, { clientId = b.clientId, familyId = id }, true)
  return 200, rec
end

function H.practitioner_list(ctx)
  return page_of(ctx.args, ctx.data.practitioners, "practitioners", render_practitioner)
end

function H.location_list(ctx)
  return page_of(ctx.args, ctx.data.locations, "locations", render_location)
end

function H.apptype_list(ctx)
  return page_of(ctx.args, appointment_types(ctx.data), "appointmentTypes", render_apptype)
end

function H.apptype_create(ctx)
  local b = ctx.body
  local err = check_string(b, "description", true, 100)
  if err then return bad(err) end
  local dur = b.durationMinutes
  if dur ~= nil and dur ~= "" then
    dur = tonumber(dur)
    if not dur or dur ~= floor(dur) or dur < 1 then return bad("durationMinutes must be a positive integer") end
    if dur > 120 then return bad("durationMinutes must not exceed 120") end
  else
    dur = 60
  end
  if b.practitionerId and not practitioner_by_id(ctx.data, b.practitionerId) then return not_found("Practitioner") end
  if b.locationId and not location_by_id(ctx.data, b.locationId) then return not_found("Location") end
  local id = store.new_id()
  store.put("apptype", id, { appointmentTypeId = id, description = b.description, durationMinutes = dur,
    blockColour = type(b.blockColour) == "string" and b.blockColour or "",
    practitionerId = b.practitionerId, locationId = b.locationId }, true)
  return 200, obj{ "appointmentTypeId", id, "description", b.description }
end

function H.slot_list(ctx)
  local data, args = ctx.data, ctx.args
  local from, to, z, day1, day2 = window(args)
  if not from then return to, z end
  local pset, lset = argset(args, "practitionerId"), argset(args, "locationId")
  local dur
  local tid = arg1(args, "appointmentTypeId")
  if tid and tid ~= "" then
    local t = apptype_record(data, tid)
    if not t then return bad("Unknown appointmentTypeId " .. tid) end
    dur = t.durationMinutes * 60
  end
  local busy = busy_by_practitioner(data)
  -- A window that reaches the server's clock offers nothing before it (the
  -- time cut to the fixtures' 15-minute grid): today's morning is gone by
  -- the afternoon. Windows wholly in the past are answered as they always
  -- were (the real API's answer there is undocumented; fixed-month specs
  -- read them).
  local now = ctx.now
  if now and from < now and now < to then from = ceil(now / 900) * 900 end
  local slots = {}
  for _, p in ipairs(data.practitioners) do
    if (not pset or pset[lower(p.practitionerId)]) and (not lset or lset[lower(p.location.locationId)]) then
      local mine = busy[lower(p.practitionerId)] or {}
      for day = day1 - 1, day2 + 1 do
        local ws, we = work_block(p, day)
        if ws then
          -- Free time = the working block minus bookings, clipped to the window.
          local cur = max(ws, from)
          local stop = min(we, to)
          local function emit(s, f)
            if f <= s then return end
            if dur then
              while s + dur <= f do
                slots[#slots + 1] = { s, s + dur, p }
                s = s + dur
              end
            else
              slots[#slots + 1] = { s, f, p }
            end
          end
          for _, b in ipairs(mine) do
            if b[2] > cur and b[1] < stop then
              emit(cur, b[1])
              cur = max(cur, b[2])
            end
          end
          emit(cur, stop)
        end
      end
    end
  end
  sort(slots, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[3].practitionerId < b[3].practitionerId
  end)
  return page_of(args, slots, "timeslots", function(s)
    return obj{ "startDateTime", clock.format_local(z, s[1]), "endDateTime", clock.format_local(z, s[2]),
      "practitionerId", s[3].practitionerId, "locationId", s[3].location.locationId,
      "appointmentTypeId", tid ~= "" and tid or nil }
  end)
end

function H.appointment_list(ctx)
  local data, args = ctx.data, ctx.args
  local from, to, z = window(args)
  if not from then return to, z end
  local pset, lset = argset(args, "practitionerId"), argset(args, "locationId")
  local cid = arg1(args, "clientId")
  local rows = {}
  for _, a in ipairs(all_appointments(data)) do
    if not a.deleted and a.start < to and a.finish > from
        and (not pset or pset[lower(a.practitionerId)]) and (not lset or lset[lower(a.locationId)])
        and (not cid or cid == "" or lower(appointment_client_id(data, a)) == lower(cid)) then
      rows[#rows + 1] = a
    end
  end
  sort(rows, function(a, b)
    if a.start ~= b.start then return a.start < b.start end
    return a.appointmentId < b.appointmentId
  end)
  local profiles = truthy(arg1(args, "getPractitionerProfiles"))
  return page_of(args, rows, "appointments", function(a) return render_appointment(data, a, z, profiles) end)
end

function H.appointment_get(ctx)
  local a = appointment_record(ctx.data, ctx.id)
  if not a then return not_found("Appointment") end
  return 200, obj{ "appointment", render_appointment(ctx.data, a, nil,
    truthy(arg1(ctx.args, "getPractitionerProfiles"))) }
end

local function cancel(ctx, id)
  local a = appointment_record(ctx.data, id)
  if not a then return not_found("Appointment") end
  if a.deleted then return bad("The appointment is already cancelled") end
  local copy = {}
  for k, v in pairs(a) do copy[k] = v end
  copy.deleted = true
  store.put("appt", copy.appointmentId, copy)
  return 200, obj{ "appointment", render_appointment(ctx.data, copy) }
end

--- Validates and applies booking fields to record `a` (a copy); returns nil
-- or status, body.
local function apply_booking(ctx, a, b, creating)
  local data = ctx.data
  local pid = type(b.practitioner) == "table" and b.practitioner.practitionerId or nil
  if not creating and pid == nil then pid = b.practitionerId end
  if creating and (pid == nil or pid == "") then return bad("The practitioner.practitionerId field is required") end
  if pid ~= nil then
    if not practitioner_by_id(data, pid) then return not_found("Practitioner") end
    a.practitionerId = practitioner_by_id(data, pid).practitionerId
  end
  if creating and (b.locationId == nil or b.locationId == "") then return bad("The locationId field is required") end
  if b.locationId ~= nil then
    local loc = location_by_id(data, b.locationId)
    if not loc then return not_found("Location") end
    a.locationId = loc.locationId
  end
  if creating then
    if type(b.clients) ~= "table" or #b.clients == 0 then return bad("The clients field is required") end
    if #b.clients > 1 then return bad("Only one client is supported per appointment") end
    local c = type(b.clients[1]) == "table" and client_record(data, b.clients[1].clientId)
    if not c then return not_found("Client") end
    a.clientId = c.clientId
  end
  if b.appointmentTypeId ~= nil and b.appointmentTypeId ~= "" then
    local t = apptype_record(data, b.appointmentTypeId)
    if not t then return not_found("Appointment type") end
    a.appointmentTypeId = t.appointmentTypeId
  end
  for _, f in ipairs{ "subject", "notes" } do
    local err = check_string(b, f, false, 300)
    if err then return bad(err) end
    if b[f] ~= nil then a[f] = b[f] end
  end
  if b.notifyPractitioner ~= nil then a.notifyPractitioner = truthy(b.notifyPractitioner) end
  local loc = location_by_id(data, a.locationId)
  for _, f in ipairs{ { "startDateTime", "start" }, { "endDateTime", "finish" } } do
    local v = b[f[1]]
    if creating and (v == nil or v == "") then return bad("The " .. f[1] .. " field is required") end
    if v ~= nil then
      local t = clock.parse_datetime(v, loc.zone)
      if not t then return bad(f[1] .. " must be a date-time with offset, e.g. 2021-09-07T09:00+10:00") end
      a[f[2]] = t
    end
  end
  if a.finish <= a.start then return bad("endDateTime must be after startDateTime") end
  local why = unavailable(data, practitioner_by_id(data, a.practitionerId), loc, a.start, a.finish, a.appointmentId)
  if why then return result(200, NOT_AVAILABLE, why) end
  return nil
end

function H.appointment_post(ctx)
  local b = ctx.body
  if b.appointmentId ~= nil and truthy(b.deleted) then
    return lock.with(ngx.shared.mock_data, "booking", cancel, ctx, b.appointmentId)
  end
  if b.appointmentId ~= nil then
    return bad("To update an appointment POST to Appointment/{appointmentId}/")
  end
  return lock.with(ngx.shared.mock_data, "booking", function()
    local n = ngx.shared.mock_data:incr("refno", 1, 0)
    local a = { appointmentId = store.new_id(), appointmentReferenceNumber = tostring(5900000 + n),
      status = "Booked", created = true }
    local st, body = apply_booking(ctx, a, b, true)
    if st then return st, body end
    store.put("appt", a.appointmentId, a, true)
    return 200, obj{ "appointment", render_appointment(ctx.data, a) }
  end)
end

function H.appointment_update(ctx)
  local b = ctx.body
  if truthy(b.deleted) then
    return lock.with(ngx.shared.mock_data, "booking", cancel, ctx, ctx.id)
  end
  return lock.with(ngx.shared.mock_data, "booking", function()
    local old = appointment_record(ctx.data, ctx.id)
    if not old then return not_found("Appointment") end
    if old.deleted then return bad("The appointment is cancelled") end
    local a = {}
    for k, v in pairs(old) do a[k] = v end
    local st, body = apply_booking(ctx, a, b, false)
    if st then return st, body end
    store.put("appt", a.appointmentId, a)
    return 200, obj{ "appointment", render_appointment(ctx.data, a) }
  end)
end

function H.invoice_list(ctx)
  local args = ctx.args
  return page_of(args, ctx.data.invoices, "invoices", function(inv) return render_invoice(inv, args, false) end)
end

function H.invoice_get(ctx)
  local inv = type(ctx.id) == "string" and ctx.data.invoice_by_id[lower(ctx.id)]
  if not inv then return not_found("Invoice") end
  return 200, render_invoice(inv, ctx.args, true)
end

function H.payment_list(ctx)
  local st, body = require_params(ctx.args, { "invoiceId" })
  if st then return st, body end
  local inv = ctx.data.invoice_by_id[lower(arg1(ctx.args, "invoiceId"))]
  if not inv then return not_found("Invoice") end
  local pays = payments_of(inv.invoiceId)
  local lines = arr()
  for _, li in ipairs(inv.lineItems) do
    local list = arr()
    for _, p in ipairs(pays) do
      if p.lineItemId == li.lineItemId then
        list[#list + 1] = obj{ "amountPaid", p.amountPaid, "datePaid", p.datePaid,
          "paymentMethod", "EFTPOS", "paymentNotes", "", "type", "Credit" }
      end
    end
    lines[#lines + 1] = obj{ "lineItemId", li.lineItemId, "payments", list }
  end
  return 200, obj{ "invoiceId", inv.invoiceId, "lineItems", lines }
end

function H.payment_create(ctx)
  local b = ctx.body
  local err = check_string(b, "invoiceId", true)
  if err then return bad(err) end
  local inv = ctx.data.invoice_by_id[lower(b.invoiceId)]
  if not inv then return not_found("Invoice") end
  if type(b.payments) ~= "table" or #b.payments == 0 then return bad("The payments field is required") end
  return lock.with(ngx.shared.mock_data, "payment", function()
    local pays = payments_of(inv.invoiceId)
    for _, p in ipairs(b.payments) do
      if type(p) ~= "table" then return bad("payments must be objects") end
      local li
      for _, x in ipairs(inv.lineItems) do if x.lineItemId == p.lineItemId then li = x end end
      if not li then return bad("Unknown lineItemId " .. tostring(p.lineItemId)) end
      if type(p.amountPaid) ~= "string" or not match(p.amountPaid, "^%d+%.?%d?%d?$") then
        return bad("amountPaid must be a non-negative amount string with at most 2 decimals")
      end
      if not clock.parse_date(p.datePaid) then return bad("datePaid must be yyyy-mm-dd") end
      pays[#pays + 1] = { lineItemId = li.lineItemId, amountPaid = p.amountPaid, datePaid = p.datePaid,
        paymentMethodId = p.paymentMethodId }
    end
    store.put("payments", inv.invoiceId, pays)
    local lines = arr()
    for _, li in ipairs(inv.lineItems) do
      local paid = 0
      for _, p in ipairs(pays) do if p.lineItemId == li.lineItemId then paid = paid + tonumber(p.amountPaid) end end
      lines[#lines + 1] = render_line_item(li, money(paid))
    end
    return 200, obj{ "invoiceId", inv.invoiceId, "invoiceNumber", inv.invoiceNumber, "clientId", inv.clientId,
      "generatedAt", inv.generatedAt, "lineItems", lines, "amountOwing", money(amount_owing(inv)) }
  end)
end

------------------------------------------------------------------------
-- Routing
------------------------------------------------------------------------

-- resource (lower case) -> { collection = {METHOD = handler}, item = {...} }
local routes = {
  client = { collection = { GET = H.client_list, POST = H.client_create }, item = { GET = H.client_get } },
  clientfamily = { collection = { POST = H.family_create } },
  practitioner = { collection = { GET = H.practitioner_list } },
  location = { collection = { GET = H.location_list } },
  appointmenttype = { collection = { GET = H.apptype_list, POST = H.apptype_create } },
  availabilityslot = { collection = { GET = H.slot_list } },
  appointment = { collection = { GET = H.appointment_list, POST = H.appointment_post },
                  item = { GET = H.appointment_get, POST = H.appointment_update } },
  invoice = { collection = { GET = H.invoice_list }, item = { GET = H.invoice_get } },
  payment = { collection = { GET = H.payment_list, POST = H.payment_create } },
}

--- route(uri) -> resource_name, id | nil
-- Paths are /API/Core/v2.1/<Resource>/[<id>[/]], any letter case, v2 too.
function _M.route(uri)
  local ver, res, rest = match(uri, "^/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/([vV][%d.]+)/([%a]+)(.*)$")
  if not ver or (lower(ver) ~= "v2" and lower(ver) ~= "v2.1") then return nil end
  res = lower(res)
  if not routes[res] then return nil end
  if rest == "" or rest == "/" then return res, nil end
  local id = match(rest, "^/([^/]+)/?$")
  if not id then return nil end
  return res, id
end

--- dispatch(ctx) -> status, value. ctx: method, uri, args (lower-case
-- keys), body_text, data, token ({can_list_clients=}).
function _M.dispatch(ctx)
  local res, id = _M.route(ctx.uri)
  if not res then
    return result(404, "No HTTP resource was found that matches the request URI")
  end
  local set = id and routes[res].item or routes[res].collection
  local h = set and set[ctx.method]
  if not h then
    return result(405, "The requested resource does not support http method '" .. ctx.method .. "'")
  end
  ctx.id = id
  if ctx.method == "POST" or ctx.method == "PUT" then
    local b = ctx.body_text and ctx.body_text ~= "" and json.decode(ctx.body_text)
    if type(b) ~= "table" then return bad("The request body must be a JSON object") end
    ctx.body = b
  end
  return h(ctx)
end

--- Appointments created through the API and not cancelled.
function _M.active_bookings()
  local n = 0
  for _, id in ipairs(store.ids("appt")) do
    local a = store.get("appt", id)
    if a and not a.deleted then n = n + 1 end
  end
  return n
end

return _M
