--- The mirror's tables, as data: one per resource, each row keyed by
-- (practice, id) with the record's JSON (`data`), the columns people filter
-- on, and `synced_at`; the state table; and the migrations that make them.
-- docs/sync.md documents the result; it is stable: a column is only ever
-- added (by a new migration), never renamed or dropped.
local dates = require "coreplus.dates"
local cjson = require "cjson"

local type = type
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local format = string.format
local floor = math.floor
local concat = table.concat
local null = cjson.null

local _M = {}

-- ===== values: every column is bound as text (or NULL) =====

local function text(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then return tostring(v) end
  if type(v) == "boolean" then return v and "true" or "false" end
  return nil   -- null, absent, or a table
end

local function date(v)
  return type(v) == "string" and v:match("^(%d%d%d%d%-%d%d%-%d%d)") or nil
end

--- An API date-time ("2021-09-07T09:00:00 +10:00") as UTC text
-- ("2021-09-06T23:00:00Z"): the same instant, comparable as text in SQLite
-- and read as timestamptz by PostgreSQL. Without an offset it is nil: the
-- instant would be a guess.
local function utc(v)
  local t = type(v) == "string" and dates.parse(v)
  if not t or not t.offset then return nil end
  return dates.datetime(t.epoch, 0):sub(1, 19) .. "Z"
end
_M.utc = utc

local function integer(v)
  local n = tonumber(v)
  if not n or n ~= floor(n) then return nil end
  return format("%d", n)
end

local function numeric(v)
  if type(v) == "number" then return text(v) end
  if type(v) == "string" and v:match("^%-?%d+%.?%d*$") then return v end
  return nil
end

local CONVERT = { text = text, date = date, timestamp = utc, integer = integer, numeric = numeric }

-- A field of the record by a dotted path ("timeZone.timezoneId",
-- "clients.1.clientId").
local function path_value(record, path)
  local v = record
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    local n = tonumber(part)
    v = v[n or part]
    if v == null then return nil end
  end
  return v
end

-- ===== the tables =====

--- The resources a mirror holds, in the order a run syncs them.
_M.RESOURCES = { "locations", "practitioners", "appointment_types", "clients", "invoices", "payments",
  "appointments" }

--- name -> {key = the record's id field, columns = {{column, type, field path}, ...}}.
-- Types: text, date, timestamp (UTC), integer, numeric. `since` (default 1)
-- is the migration that added the column.
_M.TABLES = {
  clients = { key = "clientId", columns = {
    { "first_name", "text", "firstName" }, { "last_name", "text", "lastName" },
    { "date_of_birth", "date", "dateOfBirth" }, { "practitioner_id", "text", "practitionerId" } } },
  practitioners = { key = "practitionerId", columns = {
    { "first_name", "text", "firstName" }, { "last_name", "text", "lastName" } } },
  locations = { key = "locationId", columns = {
    { "name", "text", "name" }, { "timezone_id", "text", "timeZone.timezoneId" } } },
  appointment_types = { key = "appointmentTypeId", columns = {
    { "description", "text", "description" }, { "duration_minutes", "integer", "durationMinutes" },
    { "practitioner_id", "text", "practitionerId" }, { "location_id", "text", "locationId" } } },
  appointments = { key = "appointmentId", columns = {
    { "status", "text", "status" }, { "starts_at", "timestamp", "startDateTime" },
    { "ends_at", "timestamp", "endDateTime" }, { "practitioner_id", "text", "practitioner.practitionerId" },
    { "location_id", "text", "locationId" }, { "appointment_type_id", "text", "appointmentTypeId" },
    { "client_id", "text", "clients.1.clientId" } } },
  invoices = { key = "invoiceId", columns = {
    { "invoice_number", "text", "invoiceNumber" }, { "client_id", "text", "clientId" },
    { "generated_at", "date", "generatedAt" }, { "amount_owing", "numeric", "amountOwing" } } },
  -- One row per payment. The API gives payments no id: a payment is the
  -- n-th of its invoice line (id "invoiceId/lineItemId/n"), and the rows of
  -- an invoice are replaced together (coreplus.sync.billing).
  payments = { key = "id", columns = {
    { "invoice_id", "text", "invoiceId" }, { "line_item_id", "text", "lineItemId" },
    { "amount_paid", "numeric", "amountPaid" }, { "date_paid", "date", "datePaid" },
    { "payment_method", "text", "paymentMethod" }, { "type", "text", "type" } } },
}

for _, name in ipairs(_M.RESOURCES) do _M.TABLES[name].name = name end

--- The record's id, or nil when it has none.
function _M.id(tbl, record)
  local id = record[tbl.key]
  if type(id) == "number" then id = tostring(id) end
  return type(id) == "string" and id ~= "" and id or nil
end

--- The filter columns' values of a record, in column order (text or nil).
function _M.values(tbl, record)
  local out = {}
  for i, c in ipairs(tbl.columns) do out[i] = CONVERT[c[2]](path_value(record, c[3])) end
  return out
end

-- ===== the DDL =====

-- Column types per dialect: what the filter columns, `data` and the times are.
local TYPES = {
  sqlite = { text = "TEXT", date = "TEXT", timestamp = "TEXT", integer = "INTEGER", numeric = "NUMERIC",
    json = "TEXT" },
  postgres = { text = "text", date = "date", timestamp = "timestamptz", integer = "bigint",
    numeric = "numeric", json = "jsonb" },
}
_M.TYPES = TYPES

local INDEXES = {
  { "clients", "last_name" }, { "appointments", "starts_at" }, { "invoices", "client_id" },
  { "payments", "invoice_id" },
}

-- Migration 1: every table, the state table, the indexes.
local function migration_1(dialect)
  local T = TYPES[dialect]
  local out = {}
  for _, name in ipairs(_M.RESOURCES) do
    local tbl = _M.TABLES[name]
    local cols = { "practice " .. T.text .. " NOT NULL", "id " .. T.text .. " NOT NULL",
      "data " .. T.json .. " NOT NULL" }
    for _, c in ipairs(tbl.columns) do
      if (c.since or 1) == 1 then cols[#cols + 1] = c[1] .. " " .. T[c[2]] end
    end
    cols[#cols + 1] = "synced_at " .. T.timestamp .. " NOT NULL"
    cols[#cols + 1] = "PRIMARY KEY (practice, id)"
    out[#out + 1] = format("CREATE TABLE %s (\n  %s\n)", name, concat(cols, ",\n  "))
  end
  for _, ix in ipairs(INDEXES) do
    out[#out + 1] = format("CREATE INDEX %s_%s ON %s (practice, %s)", ix[1], ix[2], ix[1], ix[2])
  end
  out[#out + 1] = format([[CREATE TABLE sync_state (
  practice %s NOT NULL,
  resource %s NOT NULL,
  cursor %s,
  detail %s,
  succeeded_at %s,
  PRIMARY KEY (practice, resource)
)]], T.text, T.text, T.text, T.text, T.timestamp)
  return out
end

--- The migrations, in order: migrations[n](dialect) -> list of statements.
-- The version reached is recorded in sync_schema (one row per migration).
_M.MIGRATIONS = { migration_1 }

--- The DDL of the version this code knows, for the docs and `--print-schema`.
function _M.ddl(dialect)
  local out = {}
  for _, m in ipairs(_M.MIGRATIONS) do
    for _, s in ipairs(m(dialect)) do out[#out + 1] = s .. ";" end
  end
  return concat(out, "\n")
end

return _M
