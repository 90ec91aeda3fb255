--- The `coreplus` command-line tool. `main(argv, sys)` runs one command and
-- returns the exit status: 0 ok, 1 an API (or verification) failure, 2 a
-- usage or configuration error. Errors go to stderr as one line.
--
-- `sys` carries the outside world so the spec can drive it: stdout(s),
-- stderr(s), getenv(name), isatty(fd), now(), read_stdin().
local coreplus = require "coreplus"
local errors = require "coreplus.errors"
local args = require "coreplus.cli.args"
local output = require "coreplus.cli.output"
local progress = require "coreplus.cli.progress"
local catalogue = require "coreplus.catalogue"
local dates = require "coreplus.dates"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local format = string.format
local concat = table.concat
local usage = args.usage

local _M = {}

local CELL_WIDTH = 40

-- ===== the outside world =====

local function default_sys()
  return {
    stdout = function(s) io.stdout:write(s) end,
    stderr = function(s) io.stderr:write(s) end,
    getenv = os.getenv,
    isatty = function(fd)
      local ok = os.execute("test -t " .. fd)
      return ok == true or ok == 0
    end,
    now = coreplus.now,
    read_stdin = function() return io.stdin:read("a") end,
  }
end

-- ===== shared helpers =====

--- The client options from COREPLUS_* variables, then flags.
function _M.options(ctx)
  local o = {}
  for var, name in pairs(coreplus.ENV) do
    local v = ctx.sys.getenv(var)
    if v ~= nil and v ~= "" then o[name] = v end
  end
  for flag, f in pairs(args.GLOBAL) do
    if f.option and ctx.flags[flag] ~= nil then o[f.option] = ctx.flags[flag] end
  end
  local host = o.base_url and o.base_url:match("^http://([^/:]+)")
  if host == "127.0.0.1" or host == "localhost" then o.allow_http = true end
  return o
end

local REQUIRED = {
  { "base_url", "COREPLUS_BASE_URL", "--base-url" },
  { "consumer_id", "COREPLUS_CONSUMER_ID", "--consumer-id" },
  { "consumer_secret", "COREPLUS_CONSUMER_SECRET", "--consumer-secret" },
  { "access_token", "COREPLUS_ACCESS_TOKEN", "--access-token" },
}
_M.REQUIRED = REQUIRED

local function missing_setting(o, only)
  for _, r in ipairs(REQUIRED) do
    if (not only or only[r[1]]) and (o[r[1]] == nil or o[r[1]] == "") then
      usage(format("%s is not set (or give %s); `eval \"$(coreplus-mock start)\"` configures the bundled mock",
        r[2], r[3]))
    end
  end
end

--- Library argument errors arrive as "file:line: message"; keep the message.
local function strip_position(msg)
  msg = tostring(msg)
  return (msg:gsub("^[^%s:]+%.lua:%d+: ", ""))
end

--- The file that shares the rate limit between successive and parallel
-- runs of the tool (a script calling `coreplus` in a loop would otherwise
-- start each process with a fresh budget and meet 429s).
-- COREPLUS_SHARED_LIMIT names another file; "off" disables it.
function _M.shared_limit_path(ctx)
  local v = ctx.flags["shared-limit"] or ctx.sys.getenv("COREPLUS_SHARED_LIMIT")
  if v == "off" or v == "" then return nil end
  if v then return v end
  local dir = ctx.sys.getenv("XDG_RUNTIME_DIR")
  if dir and dir ~= "" then return dir .. "/coreplus-cli.limit" end
  local user = (ctx.sys.getenv("USER") or ctx.sys.getenv("LOGNAME") or "user"):gsub("[^%w_.-]", "_")
  return "/tmp/coreplus-cli-" .. user .. ".limit"
end

function _M.client(ctx, extra)
  if ctx.cp then return ctx.cp end
  local o = _M.options(ctx)
  missing_setting(o)
  for k, v in pairs(extra or {}) do o[k] = v end
  o.shared_limit = _M.shared_limit_path(ctx)
  local ok, cp = pcall(coreplus.new, o)
  if not ok and o.shared_limit and tostring(cp):find(o.shared_limit, 1, true) then
    -- An unusable limit file costs the sharing, not the command.
    o.shared_limit = nil
    ok, cp = pcall(coreplus.new, o)
  end
  if not ok then usage(strip_position(cp)) end
  ctx.cp = cp
  return cp
end

local function fail(ctx, err)
  -- tostring(err) already starts "coreplus <kind>"; keep one prefix.
  local text = tostring(err):gsub("%c+", " "):gsub("^coreplus ", "")
  ctx.sys.stderr("coreplus: " .. text .. "\n")
  return 1
end

local function out_format(ctx)
  local f = ctx.flags
  if f.json then return "json" end
  if f.jsonl then return "jsonl" end
  if f.table then return "table" end
  return ctx.sys.isatty(1) and "table" or "jsonl"
end

local function columns(ctx, default)
  local c = ctx.flags.columns
  if c then
    local list = {}
    for name in c:gmatch("[^,%s]+") do list[#list + 1] = name end
    return list
  end
  return default
end

local function want_progress(ctx)
  if ctx.flags["no-progress"] then return false end
  if ctx.flags.progress then return true end
  return ctx.sys.isatty(2)
end

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

-- ===== listing =====

--- Streams every page of `pages` (an iterator of pages) into a sink, with the
-- progress bar when wanted. Returns the exit status.
local function stream_pages(ctx, iterator, label, cols)
  local fmt = out_format(ctx)
  local sink = output.sink(fmt, ctx.sys.stdout, { columns = cols,
    width = not ctx.flags.wide and CELL_WIDTH or nil })
  local bar = want_progress(ctx) and progress.new{ write = ctx.sys.stderr, now = ctx.sys.now, label = label }
  local total
  for page, err in iterator do
    if not page then
      if bar then bar:finish() end
      return fail(ctx, err)
    end
    total = page.total or total
    if bar then bar:update(page) end
    for _, item in ipairs(page.items) do sink.item(item) end
  end
  if bar then bar:finish() end
  sink.close()
  if fmt == "table" then
    ctx.sys.stdout(format("(%d row%s)\n", sink.count(), sink.count() == 1 and "" or "s"))
  end
  return 0
end

local function print_page(ctx, page, cols)
  local fmt = out_format(ctx)
  local sink = output.sink(fmt, ctx.sys.stdout, { columns = cols,
    width = not ctx.flags.wide and CELL_WIDTH or nil })
  for _, item in ipairs(page.items) do sink.item(item) end
  sink.close()
  if fmt == "table" then
    local n = #page.items
    if page.total and page.page_size and page.total > n then
      local first = (page.page - 1) * page.page_size + 1
      ctx.sys.stdout(format("(rows %d-%d of %d, page %d of %d; --all for every row, --page N for another)\n",
        first, first + n - 1, page.total, page.page, math.ceil(page.total / page.page_size)))
    else
      ctx.sys.stdout(format("(%d row%s)\n", n, n == 1 and "" or "s"))
    end
  end
  return 0
end

local function print_record(ctx, record)
  output.record(out_format(ctx), ctx.sys.stdout, record,
    { width = not ctx.flags.wide and 72 or nil })
  return 0
end

local COMMON_LIST_FLAGS = {
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

local function merge(...)
  local t = {}
  for _, s in ipairs({ ... }) do for k, v in pairs(s) do t[k] = v end end
  return t
end

-- The shortcut commands: one resource each, their parameters as flags.
local LISTS = {
  clients = { resource = "clients", summary = "list clients, or show one: clients [ID]",
    columns = { "clientId", "firstName", "lastName", "dateOfBirth", "phoneNumberMobile", "email" },
    flags = { name = { kind = "string", param = "name", help = "name contains this text" } } },
  practitioners = { resource = "practitioners", summary = "list practitioners",
    columns = { "practitionerId", "title", "firstName", "lastName" } },
  locations = { resource = "locations", summary = "list locations (and their timezoneId)",
    columns = { "locationId", "name", "address.suburb", "address.state", "timeZone.tzName",
      "timeZone.timezoneId" } },
  ["appointment-types"] = { resource = "appointment_types", summary = "list appointment types",
    columns = { "appointmentTypeId", "description", "durationMinutes" } },
  slots = { resource = "availability_slots", summary = "list free time slots",
    columns = { "startDateTime", "endDateTime", "practitionerId", "locationId" },
    window = true,
    flags = merge(WINDOW_FLAGS, { type = { kind = "string", param = "appointmentTypeId",
      help = "appointment type id: slots of its duration" } }) },
  appointments = { resource = "appointments", summary = "list appointments, or show one: appointments [ID]",
    columns = { "appointmentId", "startDateTime", "endDateTime", "status", "practitioner.practitionerId",
      "locationId", "subject" },
    window = true,
    flags = merge(WINDOW_FLAGS, { client = { kind = "string", param = "clientId", help = "client id" } }) },
  invoices = { resource = "invoices", summary = "list invoices, or show one: invoices [ID]",
    columns = { "invoiceId", "invoiceNumber", "clientId", "generatedAt", "amountOwing" } },
}
_M.LISTS = LISTS

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
  local cp = _M.client(ctx)
  for loc in cp.locations:each{} do
    if type(loc) == "table" and tostring(loc.locationId):lower() == tostring(location_id):lower() then
      return loc.timeZone and loc.timeZone.timezoneId
    end
  end
  usage("no location " .. tostring(location_id) .. " (see `coreplus locations`)")
end

local function run_list(ctx, name)
  local def = LISTS[name]
  local cp = _M.client(ctx)
  local r = cp[def.resource]
  local id = ctx.positional[1]
  if id then
    if not catalogue[def.resource].get then usage(name .. " takes no ID") end
    local record, err = r:get(id)
    if not record then return fail(ctx, err) end
    return print_record(ctx, record)
  end
  local params = {}
  for flag, f in pairs(def.flags or {}) do
    local v = ctx.flags[flag]
    if v ~= nil and f.param then params[f.param] = v end
  end
  if def.window then
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
  page_params(ctx, params)
  local cols = columns(ctx, def.columns)
  if ctx.flags.all then
    return stream_pages(ctx, r:pages(params), name, cols)
  end
  local page, err = r:list(params)
  if not page then return fail(ctx, err) end
  return print_page(ctx, page, cols)
end

-- ===== get =====

--- "Client/?pageSize=3", "/API/Core/v2.1/Client/", a full URL -> path, query
local function split_path(ctx, text)
  local path = text:gsub("^%a[%w+.-]*://[^/]+", "")
  local q = {}
  local rest, qs = path:match("^([^?]*)%?(.*)$")
  if rest then
    path = rest
    for pair in qs:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]*)=?(.*)$")
      local function un(s)
        return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
      end
      args.query_pairs({ un(k) .. "=" .. un(v) }, q)
    end
  end
  path = path:gsub("^/+", ""):gsub("^[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/[^/]+/", "")
  if path == "" then usage("get needs a resource path such as Client/ or Appointment/ID") end
  return path, page_params(ctx, q)
end

--- The catalogue row whose path is `path` (case-insensitive), if any.
local function catalogue_row(path)
  local want = path:lower():gsub("/*$", "/")
  for name, row in pairs(catalogue) do
    if row.path:lower() == want then return name, row end
  end
end

--- The list inside a decoded body: the row's items key, or the one array.
local function items_of(decoded, row)
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

local function run_get(ctx)
  local text = ctx.positional[1]
  if not text then usage("get needs a path, e.g. coreplus get Client/ -q pageSize=5") end
  local path, query = split_path(ctx, text)
  local cp = _M.client(ctx)
  local name, row = catalogue_row(path)
  if ctx.flags.all then
    if name and row.list then
      return stream_pages(ctx, cp[name]:pages(query), path, columns(ctx, nil))
    end
    -- Not in the catalogue: page by hand with the same rules.
    local size = query.pageSize or 100
    local number = query.pageNumber or 1
    local function iterator()
      if number == false then return nil end
      local q = {}
      for k, v in pairs(query) do q[k] = v end
      q.pageSize, q.pageNumber = size, number
      local decoded, err = cp:request("GET", path, { query = q })
      if not decoded then number = false; return false, err end
      local items = items_of(decoded) or {}
      local paging = type(decoded.paging) == "table" and decoded.paging or {}
      local total = tonumber(paging.totalRows)
      if #items == 0 or (total and number * size >= total) or #items < size then
        number = false
      else
        number = number + 1
      end
      return { items = items, total = total, page_size = size }
    end
    return stream_pages(ctx, iterator, path, columns(ctx, nil))
  end
  local decoded, err = cp:request("GET", path, { query = query })
  if not decoded then return fail(ctx, err) end
  local fmt = out_format(ctx)
  local items = items_of(decoded, row)
  if fmt == "json" then
    ctx.sys.stdout(output.json(decoded) .. "\n")
    return 0
  end
  if items then
    local paging = type(decoded.paging) == "table" and decoded.paging or {}
    return print_page(ctx, { items = items, total = tonumber(paging.totalRows),
      page = tonumber(paging.pageNumber) or 1, page_size = tonumber(paging.pageSize) },
      columns(ctx, nil))
  end
  -- A single record: unwrap {"appointment": {...}} envelopes for people.
  local record = decoded
  if fmt == "table" then
    local only, count = nil, 0
    for _, v in pairs(decoded) do count = count + 1; only = v end
    if count == 1 and type(only) == "table" then record = only end
  end
  return print_record(ctx, record)
end

-- ===== book and cancel =====

local function end_from_duration(start, minutes)
  local t = dates.parse(start)
  if not t or not t.offset then
    usage("--start must be a date-time with offset, e.g. 2025-05-20T09:00:00+10:00")
  end
  return dates.datetime(t.epoch + minutes * 60, t.offset)
end

local function run_book(ctx)
  local f = ctx.flags
  for _, name in ipairs({ "practitioner", "location", "client", "start" }) do
    if not f[name] then usage("book needs --" .. name) end
  end
  local finish = f["end"]
  if not finish then
    if not f.duration then usage("book needs --end or --duration MINUTES") end
    finish = end_from_duration(f.start, f.duration)
  end
  local fields = {
    startDateTime = f.start, endDateTime = finish,
    practitioner = { practitionerId = f.practitioner },
    locationId = f.location,
    clients = { { clientId = f.client } },
    appointmentTypeId = f.type, subject = f.subject, notes = f.notes,
  }
  local cp = _M.client(ctx)
  local record, err = cp.appointments:book(fields)
  if not record then return fail(ctx, err) end
  return print_record(ctx, record)
end

local function run_cancel(ctx)
  local id = ctx.positional[1]
  if not id then usage("cancel needs an appointment id") end
  local cp = _M.client(ctx)
  local record, err = cp.appointments:cancel(id, ctx.flags.notes and { notes = ctx.flags.notes } or nil)
  if not record then return fail(ctx, err) end
  return print_record(ctx, record)
end

-- ===== token and decode =====

--- "3e5c…53a3": enough to recognise a credential, not to use it.
function _M.mask(s)
  if type(s) ~= "string" then return "" end
  if #s <= 10 then return ("*"):rep(#s) end
  return s:sub(1, 4) .. "..." .. s:sub(-4)
end

local function run_token(ctx)
  local f = ctx.flags
  local o = _M.options(ctx)
  local u = f.url
  if not u then usage("token needs --url (absolute, or a path such as Client/?pageSize=5)") end
  if not u:match("^%a[%w+.-]*://") then
    missing_setting(o, { base_url = true })
    u = o.base_url:gsub("/+$", "") .. "/API/Core/" .. (o.version or "v2.1") .. "/" .. u:gsub("^/+", "")
  end
  missing_setting(o, { consumer_id = true, consumer_secret = true, access_token = true })
  local token = coreplus.core.sign{ consumer_id = o.consumer_id, consumer_secret = o.consumer_secret,
    access_token = o.access_token, url = u, method = (f.method or "GET"):upper(),
    issuer = o.issuer or "lua-coreplus", audience = o.audience or "https://coreplus.com.au",
    now = f.now or math.floor(ctx.sys.now()) }
  if out_format(ctx) == "json" then
    ctx.sys.stdout(output.json{ token = token, url = u, method = (f.method or "GET"):upper() } .. "\n")
  else
    ctx.sys.stdout(token .. "\n")
  end
  return 0
end

local CLAIMS = { "iss", "aud", "nbf", "exp", "consumerId", "accessToken", "url", "httpMethod" }

local function run_decode(ctx)
  local token = ctx.positional[1]
  if not token then usage("decode needs a token (or - to read it from stdin)") end
  if token == "-" then token = (ctx.sys.read_stdin() or "") end
  token = token:gsub("^%s+", ""):gsub("%s+$", ""):gsub("^JwToken%s+", "")
  local o = _M.options(ctx)
  local secret = ctx.flags.secret or o.consumer_secret
  if not secret then usage("decode needs the secret: COREPLUS_CONSUMER_SECRET or --secret") end
  local h, p = token:match("^([%w_-]+)%.([%w_-]+)%.[%w_-]*$")
  if not h then return fail(ctx, "decode: not a JSON Web Token (three base64url parts separated by dots)") end
  local cjson = require "cjson.safe"
  local payload, msg, reason = coreplus.core.jwt_decode(token, secret)
  local verified = payload ~= nil
  local claims = cjson.decode(payload or coreplus.core.base64url_decode(p) or "")
  local header = cjson.decode(coreplus.core.base64url_decode(h) or "")
  if type(claims) ~= "table" then return fail(ctx, "decode: the payload is not a JSON object") end
  for k, v in pairs(claims) do
    if type(v) == "number" and math.tointeger then claims[k] = math.tointeger(v) or v end
  end
  local now = math.floor(ctx.sys.now())
  local report = { signature = verified and "verified with the consumer secret" or
    ("does NOT verify with the given secret (" .. tostring(msg or reason) .. "): the token was made"
      .. " with another secret or algorithm; check COREPLUS_CONSUMER_SECRET, and sandbox vs production"
      .. " credentials"), algorithm = type(header) == "table" and header.alg or nil }
  local problems = {}
  if not verified then problems[#problems + 1] = "signature" end
  if type(claims.exp) == "number" then
    report.seconds_left = claims.exp - now
    if claims.exp <= now then problems[#problems + 1] = format("expired %d s ago", now - claims.exp) end
  end
  if type(claims.nbf) == "number" and claims.nbf > now then
    problems[#problems + 1] = format("not valid for another %d s (nbf is in this machine's future:"
      .. " are nbf/exp UTC unix seconds, and is the clock right?)", claims.nbf - now)
  end
  local missing = {}
  for _, c in ipairs(CLAIMS) do if claims[c] == nil then missing[#missing + 1] = c end end
  if #missing > 0 then problems[#problems + 1] = "coreplus claims missing: " .. concat(missing, ", ") end
  if o.consumer_id and claims.consumerId and claims.consumerId ~= o.consumer_id then
    problems[#problems + 1] = "consumerId differs from COREPLUS_CONSUMER_ID"
  end
  if o.access_token and claims.accessToken and claims.accessToken ~= o.access_token then
    problems[#problems + 1] = "accessToken differs from COREPLUS_ACCESS_TOKEN"
  end
  -- The access token is a credential: shown masked, like everywhere else.
  if claims.accessToken then claims.accessToken = _M.mask(claims.accessToken) end
  report.claims = claims
  report.valid = #problems == 0
  report.problems = problems
  -- A report for people unless JSON is asked for, as with doctor.
  if ctx.flags.json or ctx.flags.jsonl then
    ctx.sys.stdout(output.json(report) .. "\n")
  else
    local lines = {}
    for _, c in ipairs(CLAIMS) do
      if claims[c] ~= nil then
        local v = claims[c]
        if (c == "nbf" or c == "exp") and type(v) == "number" then
          v = format("%d (%s UTC)", v, os.date("!%Y-%m-%d %H:%M:%S", v))
        end
        lines[#lines + 1] = { field = c, value = v }
      end
    end
    for k, v in pairs(claims) do
      local known = false
      for _, c in ipairs(CLAIMS) do if c == k then known = true end end
      if not known then lines[#lines + 1] = { field = k, value = v } end
    end
    for _, l in ipairs(output.table_lines(lines, { "field", "value" })) do ctx.sys.stdout(l .. "\n") end
    ctx.sys.stdout("signature: " .. report.signature .. "\n")
    if report.seconds_left and report.seconds_left > 0 then
      ctx.sys.stdout(format("time: valid for another %d s\n", report.seconds_left))
    end
    for _, pr in ipairs(problems) do
      if pr ~= "signature" then ctx.sys.stdout("problem: " .. pr .. "\n") end
    end
  end
  if not report.valid then
    ctx.sys.stderr("coreplus: decode: the token fails verification: " .. concat(problems, "; ") .. "\n")
    return 1
  end
  return 0
end

-- ===== the command table =====

local COMMANDS = {
  get = { run = run_get, positional = 1, flags = COMMON_LIST_FLAGS,
    summary = "GET any path under /API/Core/<version>/: get PATH [-q key=value]... [--all]" },
  book = { run = run_book, summary = "book an appointment",
    flags = {
      practitioner = { kind = "string", help = "practitioner id" },
      location = { kind = "string", help = "location id" },
      client = { kind = "string", help = "client id" },
      start = { kind = "string", help = "start, e.g. 2025-05-20T09:00:00+10:00" },
      ["end"] = { kind = "string", help = "end (or --duration)" },
      duration = { kind = "number", help = "minutes, instead of --end" },
      type = { kind = "string", help = "appointment type id" },
      subject = { kind = "string", help = "subject" },
      notes = { kind = "string", help = "notes" },
    } },
  cancel = { run = run_cancel, positional = 1, summary = "cancel an appointment: cancel ID",
    flags = { notes = { kind = "string", help = "notes sent with the cancellation" } } },
  token = { run = run_token, summary = "print a signed token: token --url U [--method M]",
    flags = { url = { kind = "string", help = "the URL the token is for (absolute, or a path)" },
      method = { kind = "string", help = "HTTP method (GET)" },
      now = { kind = "number", help = "issue time, unix seconds (default: now)" } } },
  decode = { run = run_decode, positional = 1,
    summary = "verify a token with the secret, show its claims and seconds left: decode TOKEN|-",
    flags = { secret = { kind = "string", help = "the secret (default COREPLUS_CONSUMER_SECRET)" } } },
  doctor = { run = function(ctx) return require("coreplus.cli.doctor").run(ctx) end,
    summary = "check the configuration, the clock, the token and what the access token may read" },
}
for name, def in pairs(LISTS) do
  COMMANDS[name] = { run = function(ctx) return run_list(ctx, name) end,
    positional = catalogue[def.resource].get and 1 or 0,
    flags = merge(COMMON_LIST_FLAGS, def.flags or {}), summary = def.summary }
end
_M.COMMANDS = COMMANDS

local ORDER = { "doctor", "clients", "practitioners", "locations", "appointment-types", "slots",
  "appointments", "invoices", "book", "cancel", "get", "token", "decode" }

local function help_text(name)
  local lines = {}
  if not name then
    lines[#lines + 1] = "usage: coreplus <command> [arguments] [flags]"
    lines[#lines + 1] = ""
    lines[#lines + 1] = "commands:"
    for _, n in ipairs(ORDER) do
      lines[#lines + 1] = format("  %-18s %s", n, COMMANDS[n].summary)
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Settings come from COREPLUS_BASE_URL, COREPLUS_CONSUMER_ID, COREPLUS_CONSUMER_SECRET,"
    lines[#lines + 1] = "COREPLUS_ACCESS_TOKEN (and COREPLUS_ISSUER, _AUDIENCE, _VERSION, _CAFILE) or flags."
    lines[#lines + 1] = "Output: a table on a terminal, JSON lines when piped; --table, --json, --jsonl choose."
    lines[#lines + 1] = "Exit status: 0 ok, 1 API error, 2 usage error.  `coreplus help COMMAND` for its flags."
  else
    local def = COMMANDS[name]
    lines[#lines + 1] = "coreplus " .. name .. ": " .. def.summary
    local flag_names = {}
    for n in pairs(def.flags or {}) do flag_names[#flag_names + 1] = n end
    table.sort(flag_names)
    if #flag_names > 0 then lines[#lines + 1] = "flags:" end
    for _, n in ipairs(flag_names) do
      local f = def.flags[n]
      local value = f.kind == "bool" and "" or (f.kind == "number" and " N" or " VALUE")
      lines[#lines + 1] = format("  %-26s %s", (f.short and ("-" .. f.short .. ", ") or "") .. "--" .. n .. value,
        f.help or "")
    end
    lines[#lines + 1] = "global flags:"
    local g = {}
    for n in pairs(args.GLOBAL) do g[#g + 1] = n end
    table.sort(g)
    for _, n in ipairs(g) do
      local f = args.GLOBAL[n]
      local value = f.kind == "bool" and "" or " VALUE"
      lines[#lines + 1] = format("  %-26s %s", (f.short and ("-" .. f.short .. ", ") or "") .. "--" .. n .. value,
        f.help or "")
    end
  end
  return concat(lines, "\n") .. "\n"
end

--- main(argv, sys) -> exit status
function _M.main(argv, sys)
  sys = sys or default_sys()
  local ctx = { sys = sys }
  local ok, status = xpcall(function()
    local name = argv[1]
    if name == nil or name == "help" or name == "-h" or name == "--help" then
      local topic = name == "help" and argv[2] or nil
      if topic and not COMMANDS[topic] then usage("no command '" .. topic .. "'") end
      sys.stdout(help_text(topic))
      return 0
    end
    if name == "version" or name == "--version" then
      sys.stdout("coreplus " .. coreplus.version .. "\n")
      return 0
    end
    local def = COMMANDS[name]
    if not def then usage("no command '" .. name .. "' (coreplus help lists them)") end
    local parsed = args.parse(argv, def, 2)
    if parsed.flags.help then
      sys.stdout(help_text(name))
      return 0
    end
    ctx.name, ctx.flags, ctx.positional = name, parsed.flags, parsed.positional
    return def.run(ctx)
  end, function(e)
    if args.is_usage(e) or errors.is_error(e) then return e end
    if sys.getenv("COREPLUS_DEBUG") then return debug.traceback(tostring(e), 2) end
    return { library = true, message = strip_position(e) }
  end)
  if ok then return status end
  local e = status
  if args.is_usage(e) then
    sys.stderr("coreplus: " .. (e.message:gsub("%c+", " ")) .. "\n")
    return 2
  end
  if errors.is_error(e) then return fail(ctx, e) end
  if type(e) == "table" and e.library then
    -- The library refused an argument before any request (a missing
    -- required parameter, a bad id): the command line was wrong.
    sys.stderr("coreplus: " .. (tostring(e.message):gsub("%c+", " ")) .. "\n")
    return 2
  end
  sys.stderr("coreplus: " .. tostring(e) .. "\n")
  return 1
end

return _M
