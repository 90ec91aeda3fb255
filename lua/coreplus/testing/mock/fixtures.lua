--- Deterministic fixture data from a seed.
-- Every worker (and the master, which builds the shared tables in
-- init_by_lua) must see identical data, so nothing here uses math.random:
-- values come from a counter-based hash of (seed, stream, index). Clients
-- are generated on demand from (seed, i), so 100,000 of them cost nothing
-- until a page of them is asked for.
local bit = require "bit"
local clock = require "coreplus.testing.mock.clock"

local band, bxor, rshift, lshift, tobit = bit.band, bit.bxor, bit.rshift, bit.lshift, bit.tobit
local format, tonumber, floor = string.format, tonumber, math.floor
local sort = table.sort
local type, ipairs, tostring, min = type, ipairs, tostring, math.min

local _M = {}

local DAY = 86400

-- 32-bit multiply modulo 2^32, exact in doubles (products split in halves).
local function imul(a, b)
  local al, ah = band(a, 0xffff), band(rshift(a, 16), 0xffff)
  local bl, bh = band(b, 0xffff), band(rshift(b, 16), 0xffff)
  return tobit(al * bl + lshift(tobit(ah * bl + al * bh), 16))
end

-- murmur3's finaliser: a good 32-bit mixer.
local function mix(x)
  x = bxor(x, rshift(x, 16))
  x = imul(x, 0x85ebca6b)
  x = bxor(x, rshift(x, 13))
  x = imul(x, 0xc2b2ae35)
  return bxor(x, rshift(x, 16))
end

--- hash(seed, stream, i, k) -> integer in [0, 2^32).
local function hash(seed, stream, i, k)
  local h = mix(bxor(tobit(seed), 0x9e3779b9))
  h = mix(bxor(h, tobit(stream) * 31 + 7))
  h = mix(bxor(h, tobit(i)))
  h = mix(bxor(h, tobit(k or 0) + 0x632be5ab))
  return h % 4294967296
end
_M.hash = hash

--- A small sequential generator for one (seed, stream).
local function rng(seed, stream)
  local n = 0
  return function(lo, hi)
    n = n + 1
    local x = hash(seed, stream, n, 0)
    if lo then return lo + x % (hi - lo + 1) end
    return x
  end
end

local function guid(seed, stream, i)
  local a, b, c, d = hash(seed, stream, i, 1), hash(seed, stream, i, 2),
    hash(seed, stream, i, 3), hash(seed, stream, i, 4)
  return format("%08x-%04x-4%03x-%04x-%04x%08x", a, floor(b / 65536), b % 4096,
    0x8000 + floor(c / 65536) % 0x4000, c % 65536, d)
end

local STREAM = { client = 1, practitioner = 2, location = 3, apptype = 4, appt = 5,
                 invoice = 6, schedule = 7, line = 8, product = 9 }

-- Odd entries are given to women, even ones to men (gender follows the name).
local first_names = { "Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver",
  "Mia", "Thomas", "Ava", "James", "Grace", "Lucas", "Chloe", "Henry", "Zoe", "Ethan", "Ruby",
  "Liam", "Sophie", "Leo", "Matilda", "Harrison", "Evie", "Mason", "Harper", "Archie", "Ella", "Hugo" }
local last_names = { "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson",
  "Martin", "White", "Anderson", "Walker", "Thompson", "Thomas", "Lee", "Ryan", "Robinson", "Kelly",
  "King", "Harris", "Davis", "Wright", "Evans", "Roberts", "Green", "Hall", "Wood", "Jackson",
  "Clarke", "Patel" }
local suburbs = { { "Fitzroy", "VIC", "3065" }, { "Carlton", "VIC", "3053" }, { "Newtown", "QLD", "4305" },
  { "Paddington", "QLD", "4064" }, { "Subiaco", "WA", "6008" }, { "Fremantle", "WA", "6160" } }
local streets = { "High St", "Station Rd", "Church St", "King St", "Park Ave", "Victoria Pde" }

--- The client with index i (1-based): its id ends with the index in hex so
-- that an id can be mapped back to its row without a table of all ids.
function _M.client_id(seed, i)
  local a, b, c = hash(seed, STREAM.client, i, 1), hash(seed, STREAM.client, i, 2),
    hash(seed, STREAM.client, i, 3)
  return format("%08x-%04x-4%03x-%04x-%04x%08x", a, floor(b / 65536), b % 4096,
    0x8000 + floor(c / 65536) % 0x4000, c % 65536, i)
end

function _M.client_index(seed, id, count)
  if type(id) ~= "string" then return nil end
  local hex = id:lower():match("^%x+%-%x+%-%x+%-%x+%-%x%x%x%x(%x%x%x%x%x%x%x%x)$")
  local i = hex and tonumber(hex, 16)
  if i and i >= 1 and i <= count and _M.client_id(seed, i) == id:lower() then return i end
  return nil
end

--- When client i last changed (UTC seconds; updatedSince reads it): some
-- time in the year before the fixture month, from the seed.
function _M.client_updated(data, i)
  return data.month_start - 1 - hash(data.seed, STREAM.client, i, 30) % (365 * DAY)
end

function _M.client(data, i)
  local seed = data.seed
  local r = function(k, n) return hash(seed, STREAM.client, i, 10 + k) % n end
  local k = r(2, #first_names) + 1
  local female = k % 2 == 1
  local first = first_names[k]
  local last = last_names[r(3, #last_names) + 1]
  local dob_days = clock.days_from_civil(1940, 1, 1) + r(4, 365 * 65)
  local y, m, d = clock.civil_from_days(dob_days)
  local sub = suburbs[r(5, #suburbs) + 1]
  local prac = data.practitioners[r(6, #data.practitioners) + 1]
  return {
    clientId = _M.client_id(seed, i),
    title = female and (r(7, 2) == 0 and "Ms" or "Mrs") or "Mr",
    firstName = first,
    middleName = "",
    lastName = last,
    preferredName = first,
    culture = "",
    pronouns = female and "she" or "he",
    dateOfBirth = format("%04d-%02d-%02dT00:00:00", y, m, d),
    gender = female and "Female" or "Male",
    practitionerId = prac.practitionerId,
    phoneNumberMobile = format("04%08d", r(8, 100000000)),
    phoneNumberHome = "",
    email = format("%s.%s%d@example.com", first:lower(), last:lower(), i),
    addressResidential = { streetAddress = format("%d %s", r(9, 200) + 1, streets[r(10, #streets) + 1]),
                           suburb = sub[1], state = sub[2], postcode = sub[3] },
    updated = _M.client_updated(data, i),
  }
end

local practitioner_titles = { "Dr", "Ms", "Mr", "Dr" }
local apptypes = {
  { "Initial Consultation", 60, "#1F77B4" }, { "Standard Consultation", 30, "#FF7F0E" },
  { "Long Consultation", 45, "#2CA02C" }, { "Review", 15, "#D62728" }, { "Group Session", 90, "#9467BD" },
}
local location_names = { "Melbourne Clinic", "Brisbane Clinic", "Perth Clinic" }
local location_streets = { { "12 Collins St", "Melbourne", "VIC", "3000" },
  { "88 Queen St", "Brisbane City", "QLD", "4000" }, { "5 Hay St", "Perth", "WA", "6000" } }

--- build{seed=, clients=, year=, month=, now=} -> the shared, read-only
-- fixture set. `now` (the server clock at start) caps when fixture
-- invoices last changed: none has changed in the future.
function _M.build(opts)
  local seed = opts.seed or 1
  local data = { seed = seed, client_count = opts.clients or 537, year = opts.year, month = opts.month,
    month_start = clock.days_from_civil(opts.year, opts.month, 1) * DAY }

  data.locations = {}
  for i, z in ipairs(clock.zones) do
    local st = location_streets[i]
    data.locations[i] = { locationId = guid(seed, STREAM.location, i), name = location_names[i],
      address = { streetAddress = st[1], suburb = st[2], state = st[3], postcode = st[4] },
      zone = z }
  end

  local gen = rng(seed, STREAM.practitioner)
  data.practitioners = {}
  for i = 1, 12 do
    local loc = data.locations[(i - 1) % #data.locations + 1]
    -- A weekly schedule: most work Mon-Fri; some take one weekday off.
    local days = { [1] = true, [2] = true, [3] = true, [4] = true, [5] = true }
    if gen(0, 2) == 0 then days[gen(1, 5)] = nil end
    data.practitioners[i] = {
      practitionerId = guid(seed, STREAM.practitioner, i),
      title = practitioner_titles[gen(1, #practitioner_titles)],
      firstName = first_names[gen(1, #first_names)],
      lastName = last_names[gen(1, #last_names)],
      location = loc,
      workdays = days,
      start_min = gen(0, 1) == 0 and 8 * 60 or 9 * 60,
      end_min = gen(0, 1) == 0 and 16 * 60 or 17 * 60,
    }
  end

  data.appointment_types = {}
  for i, t in ipairs(apptypes) do
    data.appointment_types[i] = { appointmentTypeId = guid(seed, STREAM.apptype, i), description = t[1],
      durationMinutes = t[2], blockColour = t[3] }
  end

  -- A month of appointments: each working day a few non-overlapping
  -- bookings on a 15-minute grid within the practitioner's hours.
  data.appointments = {}
  local agen = rng(seed, STREAM.appt)
  local y, m = opts.year, opts.month
  local n = 0
  for day = 1, clock.days_in_month(y, m) do
    local wd = clock.weekday(clock.days_from_civil(y, m, day))
    for _, p in ipairs(data.practitioners) do
      if p.workdays[wd] then
        local taken = {}
        for _ = 1, agen(0, 5) do
          local t = data.appointment_types[agen(1, 4)]
          local slots = (p.end_min - p.start_min - t.durationMinutes) / 15
          local start = p.start_min + agen(0, slots) * 15
          local free = true
          for _, b in ipairs(taken) do
            if start < b[2] and start + t.durationMinutes > b[1] then free = false end
          end
          if free then
            taken[#taken + 1] = { start, start + t.durationMinutes }
            n = n + 1
            local z = p.location.zone
            local s = clock.local_to_utc(z, y, m, day, floor(start / 60), start % 60)
            data.appointments[n] = {
              appointmentId = guid(seed, STREAM.appt, n),
              appointmentReferenceNumber = tostring(4800000 + n),
              practitionerId = p.practitionerId,
              locationId = p.location.locationId,
              appointmentTypeId = t.appointmentTypeId,
              client_index = agen(1, data.client_count),
              start = s, finish = s + t.durationMinutes * 60,
              notes = "",
            }
          end
        end
      end
    end
  end
  sort(data.appointments, function(a, b)
    if a.start ~= b.start then return a.start < b.start end
    return a.appointmentId < b.appointmentId
  end)

  -- Invoices for the first appointments of the month (one each).
  data.invoices = {}
  local zone_of = {}
  for _, l in ipairs(data.locations) do zone_of[l.locationId] = l.zone end
  for i = 1, min(120, #data.appointments) do
    local a = data.appointments[i]
    local amount = 50 + hash(seed, STREAM.invoice, i, 1) % 8 * 10
    data.invoices[i] = {
      invoiceId = guid(seed, STREAM.invoice, i),
      invoiceNumber = nil,
      clientId = _M.client_id(seed, a.client_index),
      generatedAt = clock.format_date(a.start + clock.offset(zone_of[a.locationId], a.start)),
      practitionerId = a.practitionerId, locationId = a.locationId, appointmentId = a.appointmentId,
      lineItems = { { lineItemId = guid(seed, STREAM.line, i), productId = guid(seed, STREAM.product, 1),
        description = "Consultation", itemNumber = "1", unitAmount = amount, taxAmount = 0,
        lineAmount = amount, quantity = 1 } },
      amount = amount,
      -- Changed (updatedSince) up to two hours after the appointment ended.
      updated = min(a.finish + hash(seed, STREAM.invoice, i, 2) % 7200, opts.now or math.huge),
    }
    data.invoices[i].invoiceNumber = format("%s-%d", (data.invoices[i].generatedAt:gsub("-", "")):sub(3), i)
  end

  data.by_id = {}
  for _, list in ipairs{ data.locations, data.practitioners, data.appointment_types } do
    for _, row in ipairs(list) do
      data.by_id[(row.locationId or row.practitionerId or row.appointmentTypeId):lower()] = row
    end
  end
  data.appointment_by_id, data.invoice_by_id = {}, {}
  for _, a in ipairs(data.appointments) do data.appointment_by_id[a.appointmentId] = a end
  for _, v in ipairs(data.invoices) do data.invoice_by_id[v.invoiceId] = v end
  return data
end

_M.DAY = DAY
return _M
