--- Looking records up (fixtures first, then what the API created) and
-- rendering them with the fields the docs show.
local json = require "coreplus.testing.mock.json"
local clock = require "coreplus.testing.mock.clock"
local fixtures = require "coreplus.testing.mock.fixtures"
local store = require "coreplus.testing.mock.store"
local changes = require "coreplus.testing.mock.changes"

local obj, arr = json.obj, json.arr
local type, ipairs = type, ipairs
local format, lower = string.format, string.lower

local _M = {}

local function client_record(data, id)
  local i = fixtures.client_index(data.seed, id, data.client_count)
  if i then return changes.fixture_client(data, i) end
  return store.get("client", id)
end

-- A client as the list shows it (the developer docs' Client list page:
-- fields, and relatedClients as the docs' Python example prints it).
local function render_client(c)
  return obj{ "clientId", c.clientId, "title", c.title or "", "firstName", c.firstName,
    "middleName", c.middleName or "", "lastName", c.lastName, "preferredName", c.preferredName or "",
    "culture", c.culture or "", "pronouns", c.pronouns or "", "dateOfBirth", c.dateOfBirth,
    "gender", c.gender or "", "practitionerId", c.practitionerId or json.null, "relatedClients", arr() }
end

-- One client (GET Client/{id}): the list's fields plus what third-party
-- code reads there (phones, addressResidential with suburb) and the email
-- given at creation.
local function render_client_record(c)
  local o = render_client(c)
  json.set(o, "phoneNumberMobile", c.phoneNumberMobile or "")
  json.set(o, "phoneNumberHome", c.phoneNumberHome or "")
  json.set(o, "email", c.email or "")
  json.set(o, "addressResidential", c.addressResidential and obj{
    "streetAddress", c.addressResidential.streetAddress or "",
    "suburb", c.addressResidential.suburb or c.addressResidential.city or "",
    "state", c.addressResidential.state or "", "postcode", c.addressResidential.postcode or "" } or json.null)
  return o
end

-- Practitioners: the id and names third-party code reads, and a title
-- (a guess). Which location a practitioner works at is not shown: the
-- availability slots say it.
local function render_practitioner(p)
  return obj{ "practitionerId", p.practitionerId, "title", p.title, "firstName", p.firstName,
    "lastName", p.lastName }
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

_M.client_record, _M.render_client, _M.render_client_record = client_record, render_client, render_client_record
_M.render_practitioner, _M.render_location, _M.render_apptype = render_practitioner, render_location, render_apptype
_M.appointment_types, _M.apptype_record = appointment_types, apptype_record
_M.location_by_id, _M.practitioner_by_id = location_by_id, practitioner_by_id
_M.all_appointments, _M.appointment_record = all_appointments, appointment_record
_M.appointment_client_id, _M.render_appointment = appointment_client_id, render_appointment
return _M
