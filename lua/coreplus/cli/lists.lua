--- The read commands: one list command per catalogue resource that can be
-- listed (`clients`, `slots`, ...), and `get` for any path.
--
-- Which commands exist, whether they take an ID and whether they need a date
-- window all come from the catalogue; this file adds only how they look
-- (columns, a summary, friendlier flags for the API's parameters).
local catalogue = require "coreplus.catalogue"
local dates = require "coreplus.dates"
local args = require "coreplus.cli.args"
local show = require "coreplus.cli.show"

local type, pairs, ipairs, tostring, tonumber, next = type, pairs, ipairs, tostring, tonumber, next
local usage = args.usage

local _M = {}

local COMMON_FLAGS = {
  all = { kind = "bool", short = "a", help = "every page (fetched ahead, within the rate limit)" },
  page = { kind = "number", help = "page number (1-based)" },
  ["page-size"] = { kind = "number", help = "rows per page (at most 100)" },
  query = { kind = "list", short = "q", help = "extra query parameter key=value (repeatable)" },
}

local WINDOW_FLAGS = {
  from = { kind = "string", param = "startDate", help = "first day, yyyy-mm-dd (default today)" },
  to = { kind = "string", param = "endDate", help = "last day, yyyy-mm-dd (default from + 6 days)" },
  timezone = { kind = "string", param = "timezoneId",
    help = "coreplus timezoneId (default: the zone of --location)" },
  practitioner = { kind = "list", param = "practitionerId", help = "practitioner id (repeatable)" },
  location = { kind = "list", param = "locationId", help = "location id (repeatable)" },
}

-- How each resource looks on the command line, by catalogue name. A row the
-- catalogue gains later still gets a command (named after it), just plainer.
local VIEWS = {
  clients = { summary = "list clients",
    columns = { "clientId", "firstName", "lastName", "dateOfBirth", "phoneNumberMobile", "email" },
    flags = { name = { kind = "string", param = "name", help = "name contains this text" } } },
  practitioners = { summary = "list practitioners",
    columns = { "practitionerId", "title", "firstName", "lastName" } },
  locations = { summary = "list locations (and their timezoneId)",
    columns = { "locationId", "name", "address.suburb", "address.state", "timeZone.tzName",
      "timeZone.timezoneId" } },
  appointment_types = { summary = "list appointment types",
    columns = { "appointmentTypeId", "description", "durationMinutes" } },
  availability_slots = { command = "slots", summary = "list free time slots",
    columns = { "startDateTime", "endDateTime", "practitionerId", "locationId" },
    flags = { type = { kind = "string", param = "appointmentTypeId",
      help = "appointment type id: slots of its duration" } } },
  appointments = { summary = "list appointments",
    columns = { "appointmentId", "startDateTime", "endDateTime", "status", "practitioner.practitionerId",
      "locationId", "subject" },
    flags = { client = { kind = "string", param = "clientId", help = "client id" } } },
  invoices = { summary = "list invoices",
    columns = { "invoiceId", "invoiceNumber", "clientId", "generatedAt", "amountOwing" } },
  payments = { summary = "list the payments of an invoice",
    columns = { "lineItemId", "payments" },
    flags = { invoice = { kind = "string", param = "invoiceId", help = "invoice id" } } },
}

local function merge(...)
  local t = {}
  for _, s in ipairs({ ... }) do for k, v in pairs(s) do t[k] = v end end
  return t
end

--- True when the row's list needs a date window (startDate, endDate and
-- timezoneId are required).
function _M.needs_window(row)
  local need = {}
  for _, p in ipairs(row.list and row.list.required or {}) do need[p] = true end
  return need.startDate and need.endDate and need.timezoneId or false
end

--- The command name of a catalogue resource: `appointment_types` is
-- `appointment-types`; a view may name it otherwise (`slots`).
function _M.command_name(resource)
  local view = VIEWS[resource]
  return view and view.command or (resource:gsub("_", "-"))
end

--- command name -> catalogue resource name, for every listable resource.
function _M.resources()
  local out = {}
  for name, row in pairs(catalogue) do
    if row.list then out[_M.command_name(name)] = name end
  end
  return out
end

local function today(ctx)
  return os.date("%Y-%m-%d", math.floor(ctx.sys.now()))
end

local function add_days(day, n)
  local t = dates.parse(day)
  if not t then usage("not a date (yyyy-mm-dd): " .. tostring(day)) end
  return dates.date(t.epoch + n * 86400)
end

--- timezoneId of a location, looked up (one request).
local function location_zone(ctx, location_id)
  for loc in ctx:client().locations:each{} do
    if type(loc) == "table" and tostring(loc.locationId):lower() == tostring(location_id):lower() then
      return loc.timeZone and loc.timeZone.timezoneId
    end
  end
  usage("no location " .. tostring(location_id) .. " (see `coreplus locations`)")
end

--- -q key=value pairs, --page and --page-size into `params`.
local function page_params(ctx, params)
  local f = ctx.flags
  args.query_pairs(f.query, params)
  for _, k in ipairs({ "pageSize", "pageNumber" }) do
    if type(params[k]) == "string" and params[k]:match("^%d+$") then params[k] = tonumber(params[k]) end
  end
  if f.page then params.pageNumber = f.page end
  if f["page-size"] then params.pageSize = f["page-size"] end
  return params
end

local function window_params(ctx, name, params)
  params.startDate = params.startDate or today(ctx)
  params.endDate = params.endDate or add_days(params.startDate, 6)
  if not params.timezoneId then
    local loc = params.locationId and params.locationId[1]
    if not loc then
      usage(name .. " needs --timezone ID or --location ID (see `coreplus locations`)")
    end
    params.timezoneId = location_zone(ctx, loc)
  end
end

-- The page a person asked for when the server ignored a filter: its page
-- held rows the filter excludes (dropped by the library), so page N of the
-- filtered list is found by reading the pages in order until it is full
-- (or the list ends, which also gives the total).
local function filtered_page(r, params, asked)
  local size = params.pageSize or asked.page_size or 50
  local number = params.pageNumber or 1
  local q = {}
  for k, v in pairs(params) do q[k] = v end
  q.pageNumber, q.pageSize = nil, size
  local skip, items, seen = (number - 1) * size, {}, 0
  local next_page, _, _, walk = r:pages(q)
  for page, err in next_page do
    if not page then walk:close(); return nil, err end
    for _, item in ipairs(page.items) do
      seen = seen + 1
      if seen > skip then items[#items + 1] = item end
      if #items == size then
        walk:close()
        return { items = items, page = number, page_size = size }
      end
    end
  end
  return { items = items, page = number, page_size = size, total = seen }
end

local function run_list(ctx, cmd)
  local r = ctx:client()[cmd.resource]
  local id = ctx.positional[1]
  if id then
    local record, err = r:get(id)
    if not record then return ctx:fail(err) end
    return show.record(ctx, record)
  end
  local params = {}
  for flag, f in pairs(cmd.flags) do
    local v = ctx.flags[flag]
    if v ~= nil and f.param then params[f.param] = v end
  end
  if cmd.window then window_params(ctx, cmd.name, params) end
  page_params(ctx, params)
  local cols = ctx:columns(cmd.columns)
  if ctx.flags.all then
    return show.stream(ctx, r:pages(params), cmd.name, cols)
  end
  local page, err = r:list(params)
  if page and page.dropped then page, err = filtered_page(r, params, page) end
  if not page then return ctx:fail(err) end
  return show.page(ctx, page, cols)
end

local function list_command(resource, row)
  local view = VIEWS[resource] or { summary = "list " .. row.path }
  local name = _M.command_name(resource)
  local window = _M.needs_window(row)
  local cmd = { name = name, resource = resource, columns = view.columns, window = window,
    args = row.get and { { name = "id", help = "show this one record" } } or nil,
    summary = view.summary .. (row.get and (", or show one: " .. name .. " [ID]") or ""),
    flags = merge(COMMON_FLAGS, window and WINDOW_FLAGS or {}, view.flags or {}),
    examples = view.examples or { "coreplus " .. name .. (window and " --location L --from 2025-05-20" or "")
      .. " --page-size 5", "coreplus " .. name .. " --all --json" .. (view.columns and (" --fields "
      .. view.columns[1] .. "," .. view.columns[2]) or "") } }
  cmd.run = function(ctx) return run_list(ctx, cmd) end
  return cmd
end

-- ===== get =====

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- "Client/?pageSize=3", "/API/Core/v2.1/Client/", a full URL -> path, query
function _M.split_path(text)
  local path = text:gsub("^%a[%w+.-]*://[^/]+", "")
  local q = {}
  local rest, qs = path:match("^([^?]*)%?(.*)$")
  if rest then
    path = rest
    for pair in qs:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]*)=?(.*)$")
      args.query_pairs({ unescape(k) .. "=" .. unescape(v) }, q)
    end
  end
  path = path:gsub("^/+", ""):gsub("^[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/[^/]+/", "")
  return path, q
end

--- The catalogue row whose path is `path` (case-insensitive), if any.
local function catalogue_row(path)
  local want = path:lower():gsub("/*$", "/")
  for name, row in pairs(catalogue) do
    if row.path:lower() == want then return name, row end
  end
end

--- The list inside a decoded body: the row's items key, or the one array.
function _M.items_of(decoded, row)
  if type(decoded) ~= "table" then return nil end
  if row and row.items and type(decoded[row.items]) == "table" then return decoded[row.items] end
  local found
  for k, v in pairs(decoded) do
    if type(v) == "table" and k ~= "statusMessages" and k ~= "result" and k ~= "paging"
        and (v[1] ~= nil or next(v) == nil) then
      if found then return nil end
      found = v
    end
  end
  if found and decoded.paging then return found end
  if #decoded > 0 then return decoded end
  return nil
end

--- Pages of a path the catalogue does not have, by hand with the same rules.
local function pages_by_hand(cp, path, query)
  local size = query.pageSize or 100
  local number = query.pageNumber or 1
  return function()
    if number == false then return nil end
    local q = {}
    for k, v in pairs(query) do q[k] = v end
    q.pageSize, q.pageNumber = size, number
    local decoded, err = cp:request("GET", path, { query = q })
    if not decoded then number = false; return false, err end
    local items = _M.items_of(decoded) or {}
    local paging = type(decoded.paging) == "table" and decoded.paging or {}
    local total = tonumber(paging.totalRows)
    if #items == 0 or (total and number * size >= total) or #items < size then
      number = false
    else
      number = number + 1
    end
    return { items = items, total = total, page_size = size }
  end
end

--- Prints a decoded body: its list as a page, else the record.
function _M.show_decoded(ctx, decoded, row)
  local fmt = ctx:format()
  if fmt == "json" and not ctx:columns(nil) then
    ctx.sys.stdout(require("coreplus.cli.output").json(decoded) .. "\n")
    return 0
  end
  local items = _M.items_of(decoded, row)
  if items then
    local paging = type(decoded.paging) == "table" and decoded.paging or {}
    return show.page(ctx, { items = items, total = tonumber(paging.totalRows),
      page = tonumber(paging.pageNumber) or 1, page_size = tonumber(paging.pageSize) },
      ctx:columns(nil))
  end
  -- A single record: unwrap {"appointment": {...}} envelopes for people.
  local record = decoded
  if fmt == "table" then
    local only, count = nil, 0
    for _, v in pairs(decoded) do count = count + 1; only = v end
    if count == 1 and type(only) == "table" then record = only end
  end
  return show.record(ctx, record)
end

local function run_get(ctx)
  local text = ctx.positional[1]
  if not text then usage("get needs a path, e.g. coreplus get Client/ -q pageSize=5") end
  local path, query = _M.split_path(text)
  if path == "" then usage("get needs a resource path such as Client/ or Appointment/ID") end
  page_params(ctx, query)
  local cp = ctx:client()
  local name, row = catalogue_row(path)
  if ctx.flags.all then
    local iterator = name and row.list and cp[name]:pages(query) or pages_by_hand(cp, path, query)
    return show.stream(ctx, iterator, path, ctx:columns(nil))
  end
  local decoded, err = cp:request("GET", path, { query = query })
  if not decoded then return ctx:fail(err) end
  return _M.show_decoded(ctx, decoded, row)
end

--- The commands of this family.
function _M.commands()
  local out = {
    { name = "get", run = run_get, flags = COMMON_FLAGS,
      args = { { name = "path", required = true, help = "a path under /API/Core/<version>/, query allowed" } },
      summary = "GET any path under /API/Core/<version>/: get PATH [-q key=value]... [--all]",
      examples = { "coreplus get Client/ -q pageSize=5", "coreplus get 'Appointment/ID?getPractitionerProfiles=true'",
        "coreplus get Location/ --all --jsonl" } },
  }
  for resource, row in pairs(catalogue) do
    if row.list then out[#out + 1] = list_command(resource, row) end
  end
  return out
end

return _M
