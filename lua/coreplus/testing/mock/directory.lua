--- Clients, family members, practitioners, locations and appointment
-- types: the directory a booking is made from.
local json = require "coreplus.testing.mock.json"
local clock = require "coreplus.testing.mock.clock"
local fixtures = require "coreplus.testing.mock.fixtures"
local store = require "coreplus.testing.mock.store"
local reply = require "coreplus.testing.mock.reply"
local records = require "coreplus.testing.mock.records"
local changes = require "coreplus.testing.mock.changes"

local obj = json.obj
local type, ipairs, tonumber = type, ipairs, tonumber
local format, lower, floor = string.format, string.lower, math.floor
local result, bad, not_found = reply.result, reply.bad, reply.not_found
local arg1, truthy, paging, envelope, page_of = reply.arg1, reply.truthy, reply.paging, reply.envelope, reply.page_of
local check_string = reply.check_string
local client_record, render_client = records.client_record, records.render_client
local render_client_record = records.render_client_record
local practitioner_by_id, location_by_id = records.practitioner_by_id, records.location_by_id
local render_practitioner, render_location = records.render_practitioner, records.render_location
local appointment_types, render_apptype = records.appointment_types, records.render_apptype

local H = {}

function H.client_list(ctx)
  if not ctx.token.can_list_clients then
    return result(401, "Not authorized for viewing client list")
  end
  local data, args = ctx.data, ctx.args
  local since, st, body = reply.updated_since(args)
  if st then return st, body end
  local created = store.ids("client")
  local name = arg1(ctx.args, "name")
  if name == "" then name = nil end
  if not name and not since then
    local total = data.client_count + #created
    local first, last, page, size = paging(args, total)
    if not first then return last, page end
    local items = {}
    for i = first, last do
      local c = i <= data.client_count and changes.fixture_client(data, i)
        or store.get("client", created[i - data.client_count])
      items[#items + 1] = render_client(c)
    end
    return envelope("clients", items, total, page, size)
  end
  -- A filter scans every row (fixture rows by number, built only when the
  -- cheap updatedSince test lets them through); fine at fixture sizes.
  local needle = name and lower(name)
  local function wanted(c)
    return not needle or lower(c.firstName .. " " .. c.lastName):find(needle, 1, true) ~= nil
  end
  local rows = {}
  local edited = changes.edited_clients(data)   -- edited behind the client's back: their own time
  local function current(i) return edited[i] or fixtures.client(data, i) end
  for i = 1, data.client_count do
    local updated = edited[i] and edited[i].updated or fixtures.client_updated(data, i)
    if (not since or updated > since) and (not needle or wanted(current(i))) then
      rows[#rows + 1] = i
    end
  end
  for _, id in ipairs(created) do
    local c = store.get("client", id)
    if (not since or (c.updated or 0) > since) and wanted(c) then rows[#rows + 1] = c end
  end
  return page_of(args, rows, "clients", function(r)
    return render_client(type(r) == "number" and current(r) or r)
  end)
end

function H.client_get(ctx)
  local c = client_record(ctx.data, ctx.id)
  if not c then return not_found("Client") end
  return 200, obj{ "client", render_client_record(c) }
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
    addressResidential = addr, externalId = b.ExternalId, updated = floor(ctx.now) }, true)
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

return H
