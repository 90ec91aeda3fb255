--- Availability and appointments: free time from the schedules minus live
-- bookings, and the booking rules (clashes, working hours, the location).
local json = require "coreplus.testing.mock.json"
local clock = require "coreplus.testing.mock.clock"
local store = require "coreplus.testing.mock.store"
local lock = require "coreplus.testing.mock.lock"
local reply = require "coreplus.testing.mock.reply"
local records = require "coreplus.testing.mock.records"

local ngx = ngx
local obj = json.obj
local type, ipairs, pairs, tostring = type, ipairs, pairs, tostring
local lower, floor, ceil = string.lower, math.floor, math.ceil
local sort, min, max = table.sort, math.min, math.max
local result, bad, not_found = reply.result, reply.bad, reply.not_found
local arg1, argset, truthy, page_of, window = reply.arg1, reply.argset, reply.truthy, reply.page_of, reply.window
local check_string, NOT_AVAILABLE, IN_THE_PAST = reply.check_string, reply.NOT_AVAILABLE, reply.IN_THE_PAST
local client_record, apptype_record = records.client_record, records.apptype_record
local practitioner_by_id, location_by_id = records.practitioner_by_id, records.location_by_id
local all_appointments, appointment_record = records.all_appointments, records.appointment_record
local appointment_client_id, render_appointment = records.appointment_client_id, records.render_appointment

local DAY = 86400

local H = {}

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
  if (creating or b.startDateTime ~= nil) and ctx.now and a.start < ctx.now then
    return result(200, IN_THE_PAST, "starts " .. clock.format_local(loc.zone, a.start) ..
      ", before the server's clock (" .. clock.format_local(loc.zone, floor(ctx.now)) .. ")")
  end
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

--- Appointments created through the API and not cancelled.
function H.active_bookings()
  local n = 0
  for _, id in ipairs(store.ids("appt")) do
    local a = store.get("appt", id)
    if a and not a.deleted then n = n + 1 end
  end
  return n
end

return H
