--- Booking from a web form's fields: find the client (or create them, never a
-- second copy), book, and turn every failure into a sentence the person
-- filling in the form can act on.
--
-- As a script (fields as key=value; settings from COREPLUS_* variables):
--   lua5.4 examples/book_from_form.lua firstName=Ada lastName=Lovelace dateOfBirth=1985-12-10 \
--     email=ada@example.com practitionerId=... locationId=... start=2025-05-20T09:00:00+10:00 minutes=30
-- As a module: local book = dofile("examples/book_from_form.lua").book_from_form
--   local result, message = book(cp, form)
local coreplus = require "coreplus"
local client_match = require "coreplus.client_match"
local dates = coreplus.dates

local _M = {}

local REQUIRED = { "firstName", "lastName", "dateOfBirth", "practitionerId", "locationId", "start", "minutes" }

--- Checks and normalises the form. Returns fields or nil, message.
function _M.validate(form)
  for _, k in ipairs(REQUIRED) do
    if type(form[k]) ~= "string" or form[k]:match("^%s*$") then
      return nil, "please fill in " .. k
    end
  end
  if not form.dateOfBirth:match("^%d%d%d%d%-%d%d%-%d%d$") then
    return nil, "date of birth must look like 1985-12-10"
  end
  local start = dates.parse(form.start)
  if not start or not start.offset then
    return nil, "the start time must include its UTC offset, e.g. 2025-05-20T09:00:00+10:00"
  end
  local minutes = tonumber(form.minutes)
  if not minutes or minutes < 5 or minutes > 240 or minutes % 5 ~= 0 then
    return nil, "the length must be 5 to 240 minutes, in steps of 5"
  end
  local f = {}
  for k, v in pairs(form) do f[k] = (v:gsub("^%s+", ""):gsub("%s+$", "")) end
  f.startDateTime = dates.datetime(start.epoch, start.offset)
  f.endDateTime = dates.datetime(start.epoch + minutes * 60, start.offset)
  return f
end

--- Sentences for people, by error kind; the technical line goes to the log.
local MESSAGES = {
  conflict = "sorry, that time has just been taken: please pick another",
  validation = "coreplus did not accept the booking details: please check them",
  rate_limited = "the booking system is busy: please try again in a minute",
  network = "the booking system cannot be reached right now: please try again shortly",
  timeout = "the booking system is slow to answer right now: please try again shortly",
}

--- book_from_form(cp, form) -> appointment | nil, message_for_people, err
function _M.book_from_form(cp, form)
  local f, why = _M.validate(form)
  if not f then return nil, why end
  -- Never a duplicate: the name filter is only a hint (coreplus.client_match).
  local client, err = client_match.find_or_create(cp, { firstName = f.firstName, lastName = f.lastName,
    dateOfBirth = f.dateOfBirth, email = f.email, phone = f.mobile })
  if not client then return nil, MESSAGES[err.kind] or "sorry, something went wrong", err end
  local appointment, berr = cp.appointments:book{
    startDateTime = f.startDateTime, endDateTime = f.endDateTime,
    practitioner = { practitionerId = f.practitionerId }, locationId = f.locationId,
    clients = { { clientId = client.clientId } }, appointmentTypeId = f.appointmentTypeId,
    subject = "Online booking", notes = f.notes,
  }
  if not appointment then
    if berr.outcome == "unknown" then
      -- The request may have arrived: never book again blindly.
      return nil, "we could not confirm your booking: please do not book again, we will contact you", berr
    end
    return nil, MESSAGES[berr.kind] or "sorry, the booking failed", berr
  end
  return appointment
end

-- Run as a script (not loaded with dofile/require): fields from the command line.
if not pcall(debug.getlocal, 4, 1) then
  local form = {}
  for _, kv in ipairs(arg) do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then
      io.stderr:write("book_from_form: expected key=value, got ", kv, "\n")
      os.exit(2)
    end
    form[k] = v
  end
  local appointment, message, err = _M.book_from_form(coreplus.from_env(), form)
  if not appointment then
    if err then io.stderr:write("book_from_form: ", tostring(err), "\n") end
    print(message)
    os.exit(1)
  end
  print(("Booked: %s, reference %s, %s to %s"):format(appointment.appointmentId,
    tostring(appointment.appointmentReferenceNumber), appointment.startDateTime, appointment.endDateTime))
end

return _M
