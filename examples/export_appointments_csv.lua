--- Nightly export: every appointment of a date range, at every location, to
-- one CSV file. Meant for cron:
--
--   15 2 * * *  COREPLUS_...=... lua5.4 export_appointments_csv.lua /srv/exports/appointments.csv
--
-- usage: lua5.4 examples/export_appointments_csv.lua [OUT.csv] [FROM [TO]]
-- FROM/TO are yyyy-mm-dd (default: yesterday to today + 30 days). Settings
-- come from the COREPLUS_* variables (see the README). The file is written
-- next to OUT and renamed into place, so a reader never sees half an export;
-- on any failure the old file stays and the exit status is 1.
local coreplus = require "coreplus"

local out_path = arg[1] or "appointments.csv"
local now = os.time()
local from = arg[2] or os.date("!%Y-%m-%d", now - 86400)
local to = arg[3] or os.date("!%Y-%m-%d", now + 30 * 86400)

local COLUMNS = { "appointmentId", "appointmentReferenceNumber", "status", "startDateTime", "endDateTime",
  "locationId", "practitionerId", "clientId", "appointmentTypeId", "subject" }

-- RFC 4180: quote fields holding a comma, quote or line break; double quotes.
-- A leading =, +, - or @ is prefixed with ' so a spreadsheet never runs it.
local function csv_field(v)
  if v == nil or v == require("cjson").null then return "" end
  local s = tostring(v)
  if s:match("^[=+%-@]") then s = "'" .. s end
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function row_of(a)
  local client = type(a.clients) == "table" and a.clients[1] or {}
  local values = {
    a.appointmentId, a.appointmentReferenceNumber, a.status, a.startDateTime, a.endDateTime,
    a.locationId, type(a.practitioner) == "table" and a.practitioner.practitionerId or a.practitionerId,
    client.clientId, a.appointmentTypeId, a.subject,
  }
  local out = {}
  for i = 1, #COLUMNS do out[i] = csv_field(values[i]) end
  return table.concat(out, ",")
end

local function fail(err)
  io.stderr:write("export: ", tostring(err), "\n")
  os.exit(1)
end

local cp = coreplus.from_env()
local tmp_path = out_path .. ".tmp"
local f = assert(io.open(tmp_path, "wb"))
f:write(table.concat(COLUMNS, ","), "\r\n")

-- Appointment lists need a timezoneId: each location has its own, so the
-- export walks location by location, in that location's zone.
local locations, err = cp.locations:all()
if not locations then f:close(); os.remove(tmp_path); fail(err) end
local count = 0
for _, loc in ipairs(locations) do
  local params = { startDate = from, endDate = to, timezoneId = loc.timeZone.timezoneId,
    locationId = loc.locationId }
  -- `pages` hands a failure to the loop as (false, err); `each` would raise.
  for page, perr in cp.appointments:pages(params) do
    if not page then f:close(); os.remove(tmp_path); fail(perr) end
    for _, a in ipairs(page.items) do
      f:write(row_of(a), "\r\n")
      count = count + 1
    end
  end
end
f:close()
local ok, rerr = os.rename(tmp_path, out_path)
if not ok then os.remove(tmp_path); fail(rerr) end
io.stderr:write(("export: %d appointments from %s to %s at %d locations -> %s\n"):format(
  count, from, to, #locations, out_path))
