--- `coreplus sync`: one or several practices mirrored into SQLite or
-- PostgreSQL (coreplus.sync), once or every --watch seconds.
--
-- Exit status: 0 every resource synced; 1 an API failure; 2 a usage or
-- configuration error; 3 the database failed (open, migrate, write); 4
-- another sync of a practice holds its lock; 5 stopped by a signal before
-- the end (the next run resumes). With --watch a signal ends the loop
-- cleanly: 0, unless the database cannot be opened at all.
local core = require "coreplus.core"
local sync = require "coreplus.sync"
local profile = require "coreplus.profile"
local settings = require "coreplus.settings"
local args = require "coreplus.cli.args"
local output = require "coreplus.cli.output"
local progress = require "coreplus.sync.progress"

local type = type
local ipairs = ipairs
local pairs = pairs
local tostring = tostring
local format = string.format
local concat = table.concat
local usage = args.usage

local _M = {}

--- Exit statuses, by what failed.
_M.EXIT = { ok = 0, api = 1, usage = 2, database = 3, locked = 4, interrupted = 5 }

local FLAGS = {
  to = { kind = "string", help = "the database: sqlite:PATH or postgres://user[:password]@host[:port]/db" },
  practice = { kind = "string", help = "the label the rows carry (default: COREPLUS_PRACTICE or the profile's"
    .. " practice key, else the profile's name, else 'default')" },
  resources = { kind = "string", help = "comma-separated, of " .. concat(sync.RESOURCES, ",") .. " (default: all)" },
  watch = { kind = "number", help = "sync again every SECONDS until stopped (SIGTERM, Ctrl-C)" },
  metrics = { kind = "number", help = "with --watch: serve Prometheus metrics at http://127.0.0.1:PORT/metrics"
    .. " (docs/metrics.md)" },
  ["days-back"] = { kind = "number", help = "appointments from this many days before today (default "
    .. sync.DAYS_BACK .. ")" },
  ["days-ahead"] = { kind = "number", help = "appointments up to this many days after today (default "
    .. sync.DAYS_AHEAD .. ")" },
  timezone = { kind = "string", help = "coreplus timezoneId to list appointments in (default: the first"
    .. " location's)" },
}

local function split(list)
  local out = {}
  for _, item in ipairs(type(list) == "table" and list or { list }) do
    for w in tostring(item):gmatch("[^,%s]+") do out[#out + 1] = w end
  end
  return out
end

-- The practices: one from the usual settings (profile, variables, flags),
-- or one per profile named with several --profile, each from its profile
-- alone plus the connection flags (variables would make them all one).
-- A practice's label: --practice, else the `practice` setting, else the
-- profile's name, else "default".
local function practices(ctx)
  local names = split(ctx.flags.profiles)
  if #names <= 1 then
    local o = {}
    for k, v in pairs(ctx:require_settings()) do o[k] = v end
    o.log = ctx:log_function()
    o.clock_offset = ctx:recalled_clock(o.base_url)
    local _, name = ctx:profile()
    return { { practice = ctx.flags.practice or ctx:setting("practice") or name or "default", options = o } }
  end
  if ctx.flags.practice then
    usage("--practice names one practice; with several profiles each is named by its profile")
  end
  local list, seen = {}, {}
  for _, name in ipairs(names) do
    local section, why = profile.select(name, ctx.sys.getenv)
    if not section then usage(why or ("no profile '" .. name .. "'")) end
    local values, err = settings.read(settings.section_source(section, "profile " .. name))
    if values then values, err = settings.read(settings.flag_source(ctx.flags), values) end
    if not values then usage(err) end
    for _, row in ipairs(settings.required()) do
      if values[row.name] == nil then usage("profile '" .. name .. "' has no " .. row.name) end
    end
    local label = values.practice or name
    if seen[label] then usage("two profiles name the practice '" .. label .. "'") end
    seen[label] = true
    local o = settings.options(values)
    o.log = ctx:log_function()
    o.clock_offset = ctx:recalled_clock(o.base_url)
    list[#list + 1] = { practice = label, options = o }
  end
  return list
end

-- ===== what a run says =====

local function ms(v) return type(v) == "number" and math.floor(v * 1000 + 0.5) / 1000 or v end

local function kind_of(err) return type(err) == "table" and err.kind or (err and "database") end

--- The exit status a report calls for.
function _M.status(report)
  local worst = _M.EXIT.ok
  local rank = { [0] = 0, [5] = 1, [4] = 2, [1] = 3, [3] = 4 }
  local function see(err)
    local k = kind_of(err)
    if not k then return end
    local s = _M.EXIT[k] or _M.EXIT.api
    if rank[s] > rank[worst] then worst = s end
  end
  for _, p in ipairs(report.practices) do
    see(p.error)
    for _, r in ipairs(p.resources) do see(r.error) end
  end
  return worst
end

-- The report as JSON can carry: errors as {kind, message}.
local function plain(report)
  local function err(e)
    if not e then return nil end
    return { kind = kind_of(e), message = tostring(e):gsub("^coreplus %S+: ", "") }
  end
  local out = { ok = report.ok, seconds = ms(report.seconds), database = report.database, schema = report.schema,
    practices = {} }
  for i, p in ipairs(report.practices) do
    local q = { practice = p.practice, ok = p.ok, error = err(p.error), seconds = p.seconds, resources = {} }
    for k, v in pairs(p) do if type(v) == "number" then q[k] = ms(v) end end
    for j, r in ipairs(p.resources) do
      local s = { resource = r.resource, ok = r.ok, error = err(r.error) }
      for k, v in pairs(r) do if type(v) == "number" then s[k] = ms(v) end end
      q.resources[j] = s
    end
    out.practices[i] = q
  end
  return out
end

local COLUMNS = { "practice", "resource", "ok", "read", "written", "unchanged", "deleted", "requests",
  "rate_limited", "seconds", "error" }

local function print_report(ctx, report)
  local p = plain(report)
  if ctx.flags.json then return ctx:print(output.json(p)) end
  local rows = {}
  -- seconds as a number in JSON lines, with one decimal in a table
  local as_table = ctx:format() == "table"
  for _, pr in ipairs(p.practices) do
    if pr.error then rows[#rows + 1] = { practice = pr.practice, resource = "(all)", ok = false,
      error = pr.error.message } end
    for _, r in ipairs(pr.resources) do
      rows[#rows + 1] = { practice = pr.practice, resource = r.resource, ok = r.ok, read = r.read,
        written = r.written, unchanged = r.unchanged, deleted = r.deleted, requests = r.requests,
        rate_limited = r.rate_limited, seconds = as_table and r.seconds and format("%.1f", r.seconds) or r.seconds,
        error = r.error and r.error.message }
    end
  end
  local sink = output.sink(ctx:format(), ctx.sys.stdout, { width = ctx:cell_width(), columns = ctx:columns(COLUMNS) })
  for _, r in ipairs(rows) do sink.item(r) end
  sink.close()
end

-- ===== the command =====

local function number_flag(ctx, name)
  local v = ctx.flags[name]
  if v ~= nil and (v < 0 or v % 1 ~= 0) then usage("--" .. name .. " takes a whole number of days") end
  return v
end

local function run(ctx)
  local where, why = require("coreplus.sync.url").parse(ctx.flags.to)
  if not where then usage("--to: " .. why) end
  local list = practices(ctx)
  local resources = ctx.flags.resources and split(ctx.flags.resources) or nil
  local known = {}
  for _, r in ipairs(sync.RESOURCES) do known[r] = true end
  for _, r in ipairs(resources or {}) do
    if not known[r] then
      usage("--resources: unknown resource '" .. r .. "' (of " .. concat(sync.RESOURCES, ",") .. ")")
    end
  end
  local watch = ctx.flags.watch
  if watch ~= nil and watch <= 0 then usage("--watch takes a number of seconds above 0") end
  local port = ctx.flags.metrics
  if port ~= nil then
    if not watch then usage("--metrics needs --watch (a one-off sync ends before anyone could scrape it)") end
    if port < 1 or port > 65535 or port % 1 ~= 0 then usage("--metrics takes a port from 1 to 65535") end
  end
  local now = ctx.sys.now
  local bar
  if ctx:want_progress() then
    local labels = {}
    for i, p in ipairs(list) do labels[i] = p.practice end
    bar = progress.new{ write = ctx.sys.stderr, now = now, practices = labels, resources = resources or sync.RESOURCES }
  end
  local signals = ctx.sys.signals or { catch = core.catch_signals, caught = core.caught_signal,
    release = core.release_signals, sleep = core.sleep }
  -- --metrics: scrapes are answered between pages and while waiting for the next run.
  local listener
  local ok, s, err = pcall(sync.new, { to = ctx.flags.to, practices = list, resources = resources,
    days_back = number_flag(ctx, "days-back"), days_ahead = number_flag(ctx, "days-ahead"),
    timezone_id = ctx.flags.timezone,
    on_event = (bar or port) and function(ev)
      if bar then bar:event(ev) end
      if listener then listener:poll(0) end
    end,
    stop = function() return signals.caught() ~= nil end })
  if not ok then usage(tostring(s):gsub("^[^:]*:%d+: ", "")) end
  if not s then
    ctx.sys.stderr("coreplus: " .. tostring(err):gsub("^coreplus ", "") .. "\n")
    return _M.EXIT.database
  end
  if port then
    local found, listener_mod = pcall(require, "coreplus.metrics.listener")
    if not found then
      s:close()
      ctx.sys.stderr("coreplus: --metrics needs LuaSocket (Debian: lua-socket; LuaRocks: luasocket)\n")
      return _M.EXIT.usage
    end
    local lerr
    listener, lerr = listener_mod.new{ port = port,
      render = function() return require("coreplus.metrics.sync").render(s:stats()) end,
      stop = function() return signals.caught() ~= nil end }
    if not listener then
      s:close()
      ctx.sys.stderr("coreplus: --metrics: " .. lerr .. "\n")
      return _M.EXIT.usage
    end
  end
  -- What earlier runs of the tool learnt of each server, as for every command.
  for _, c in ipairs(s:clients()) do ctx.attach_versions(c.client) end
  signals.catch()
  local status
  while true do
    if bar then bar:reset() end
    local report = s:run()
    if bar then bar:finish() end
    for _, c in ipairs(s:clients()) do ctx:remember_clock(c.client) end
    print_report(ctx, report)
    status = _M.status(report)
    if not watch or signals.caught() then break end
    local due = now() + watch
    while now() < due and not signals.caught() do
      local nap = math.min(0.2, due - now())
      if listener then listener:poll(nap) else signals.sleep(nap) end
    end
    if signals.caught() then break end
  end
  s:close()
  if listener then listener:close() end
  local stopped = signals.caught()
  signals.release()
  if watch then return stopped and _M.EXIT.ok or status end
  return status
end

function _M.commands()
  return {
    { name = "sync", run = run, flags = FLAGS, required = { "to" },
      summary = "mirror practices into SQLite or PostgreSQL: sync --to URL [--watch SECONDS]",
      description = "Tables clients, practitioners, locations, appointment_types, appointments, invoices and\n"
        .. "payments, keyed by (practice, id), with each record's JSON in `data` (docs/sync.md). Incremental:\n"
        .. "clients and invoices by updatedSince, appointments over a window of days, small lists whole.\n"
        .. "Several --profile (or --profile a,b) sync several practices at once, each within its own limit.\n"
        .. "Exit status: 0 ok, 1 API failure, 2 usage, 3 database, 4 practice locked by another sync,\n"
        .. "5 stopped by a signal (the next run resumes).",
      examples = { "coreplus sync --to sqlite:mirror.db",
        "coreplus sync --to sqlite:mirror.db --resources clients,invoices",
        "coreplus sync --profile north --profile south --to postgres://sync@127.0.0.1/mirror --watch 300",
        "coreplus sync --to sqlite:mirror.db --watch 900 --metrics 9464",
        "coreplus sync --to sqlite:mirror.db --json | jq '.practices[].resources[] | {resource, written}'" } },
  }
end

return _M
