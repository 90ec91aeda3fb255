--- The change feed's other side: records changed behind the client's back
-- (by the practice's staff, in the real product), for specs of code that
-- keeps a mirror. `POST /__mock/change` (coreplus.testing.mock.admin) takes
--
--   {"kind":"client","id":ID,"fields":{"lastName":"Nguyen",...}}
--   {"kind":"appointment","id":ID,"cancel":true}
--   {"kind":"appointment","id":ID,"shift":3600,"fields":{"notes":"..."}}
--   {"kind":"invoice","id":ID}
--
-- and stamps the record as changed now, so `updatedSince` lists it (clients,
-- invoices). Fixture clients keep their edits beside the fixtures (an edit
-- replaces the generated record for lists and gets alike); clients created
-- through the API are edited in place. Appointments and invoices keep their
-- changes where the API's own changes go.
local store = require "coreplus.testing.mock.store"
local fixtures = require "coreplus.testing.mock.fixtures"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local floor = math.floor

local _M = {}

-- The client fields an edit may set: what the list and a get show.
local CLIENT_FIELDS = { title = true, firstName = true, middleName = true, lastName = true, preferredName = true,
  culture = true, pronouns = true, dateOfBirth = true, gender = true, practitionerId = true,
  phoneNumberMobile = true, phoneNumberHome = true, email = true }
local APPOINTMENT_FIELDS = { notes = true, subject = true, status = true }

--- A fixture client as it is now: its edit, else the generated record.
function _M.fixture_client(data, i)
  local id = fixtures.client_id(data.seed, i)
  return store.get("client_edit", id) or fixtures.client(data, i)
end

--- index -> edited client, for the fixture clients edited so far.
function _M.edited_clients(data)
  local out = {}
  for _, id in ipairs(store.ids("client_edit")) do
    local i = fixtures.client_index(data.seed, id, data.client_count)
    if i then out[i] = store.get("client_edit", id) end
  end
  return out
end

local function apply(record, fields, allowed)
  for k, v in pairs(type(fields) == "table" and fields or {}) do
    if not allowed[k] then return "field " .. tostring(k) .. " cannot be changed" end
    if type(v) ~= "string" then return "field " .. k .. " must be a string" end
    record[k] = v
  end
end

local function change_client(data, c, now)
  local i = fixtures.client_index(data.seed, c.id, data.client_count)
  local rec = i and _M.fixture_client(data, i) or store.get("client", c.id)
  if not rec then return 404, "no client " .. tostring(c.id) end
  local err = apply(rec, c.fields, CLIENT_FIELDS)
  if err then return 400, err end
  rec.updated = floor(now)
  if i then
    store.put("client_edit", rec.clientId, rec, store.get("client_edit", rec.clientId) == nil)
  else
    store.put("client", rec.clientId, rec)
  end
  return 200, rec.clientId
end

local function change_appointment(data, c, now)
  local id = type(c.id) == "string" and c.id:lower()
  local old = id and (store.get("appt", id) or data.appointment_by_id[id])
  if not old then return 404, "no appointment " .. tostring(c.id) end
  local rec = {}
  for k, v in pairs(old) do rec[k] = v end
  local err = apply(rec, c.fields, APPOINTMENT_FIELDS)
  if err then return 400, err end
  if c.cancel == true then rec.deleted = true end
  if type(c.shift) == "number" then
    rec.start, rec.finish = rec.start + floor(c.shift), rec.finish + floor(c.shift)
  end
  rec.updated = floor(now)
  store.put("appt", rec.appointmentId, rec)
  return 200, rec.appointmentId
end

local function change_invoice(data, c, now)
  local inv = type(c.id) == "string" and data.invoice_by_id[c.id:lower()]
  if not inv then return 404, "no invoice " .. tostring(c.id) end
  store.put("invoice_paid_at", inv.invoiceId, { at = now })   -- when it last changed
  return 200, inv.invoiceId
end

local KINDS = { client = change_client, appointment = change_appointment, invoice = change_invoice }

--- change(data, body, now) -> status, {id =} | {error =}
function _M.change(data, body, now)
  local f = type(body) == "table" and KINDS[body.kind]
  if not f then return 400, { error = "kind must be client, appointment or invoice" } end
  local status, what = f(data, body, now)
  if status ~= 200 then return status, { error = what } end
  return 200, { id = what, kind = body.kind }
end

return _M
