--- `coreplus doctor`: checks a configuration the way a support engineer
-- would, and names the likely cause of each failure (the FAQ's list: UTC
-- times, the header format, sandbox credentials on production, permissions
-- that need the add-on disabled and re-enabled).
--
-- Each check is {check=, status="ok"|"warn"|"fail"|"skip", detail=, cause=}.
-- The exit status is 1 when any check failed, else 0 (warnings included).
-- The checks run in groups (settings, token, connection, clock, endpoints,
-- diagnosis); a group's function adds its checks to the run `d`.
local sign = require("coreplus.transport.token").sign
local catalogue = require "coreplus.catalogue"
local context = require "coreplus.cli.context"
local lists = require "coreplus.cli.lists"
local output = require "coreplus.cli.output"
local args = require "coreplus.cli.args"
local errors = require "coreplus.errors"
local request_check = require "coreplus.cli.request_check"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local format = string.format
local floor = math.floor
local abs = math.abs
local sort = table.sort
local defaults = context.defaults

local _M = {}

-- Beyond this many seconds between this machine and the server's Date
-- header, other tools on this machine would sign tokens coreplus refuses
-- (Date has whole seconds, so a second of noise is normal).
local CLOCK_WARN = 5

local host_kind = request_check.host_kind
_M.host_kind = host_kind

local function round(x) return floor(x + 0.5) end

--- The endpoints probed: every catalogue resource that can be listed.
-- Location/ comes first (its answer gives the clock and a timezoneId), the
-- rest by path.
function _M.endpoints()
  local out = {}
  for name, row in pairs(catalogue) do
    if row.list then
      out[#out + 1] = { resource = name, path = row.path, row = row, window = lists.needs_window(row) }
    end
  end
  sort(out, function(a, b)
    if (a.resource == "locations") ~= (b.resource == "locations") then return a.resource == "locations" end
    return a.path < b.path
  end)
  return out
end

local run_mt = {}
run_mt.__index = run_mt

function run_mt:add(check, status, detail, cause)
  self.checks[#self.checks + 1] = { check = check, status = status, detail = detail, cause = cause }
  if status == "fail" then self.failed = true end
end

-- ===== settings =====

local function plausible(v)
  return not (v:match("^%s") or v:match("%s$") or v:match("^[\"']") or v:match("[\"']$"))
end

local function check_base_url(d, v)
  local kind, host = host_kind(v)
  local scheme = v:match("^(%a+)://")
  if scheme ~= "https" and not (scheme == "http" and kind == "local") then
    return d:add("base_url", "fail", v, "coreplus is HTTPS only: the base URL must start with https://")
  end
  local note = ({ ["local"] = "this machine (the bundled mock?)",
    sandbox = "the sandbox server: use the sandbox credentials",
    production = "production: use the production credentials, not the sandbox ones" })[kind]
    or "not a coreplus host name: check the API URL shown with the add-on"
  d:add("base_url", "ok", v .. " (" .. host .. ": " .. note .. ")")
end

local function check_required(d)
  for _, r in ipairs(context.REQUIRED) do
    local name, var, flag = r[1], r[2], r[3]
    local v = d.o[name]
    if v == nil or v == "" then
      d:add(name, "fail", var .. " is not set", "set " .. var .. " (or " .. flag .. ") to the value shown on"
        .. " the add-on's page in coreplus")
    elseif not plausible(v) then
      d:add(name, "fail", var .. " has surrounding spaces or quotes",
        "a copy-paste error: credentials are used exactly as displayed")
    elseif name == "base_url" then
      check_base_url(d, v)
    elseif name == "consumer_secret" then
      d:add(name, "ok", format("set (%d characters, used as-is as the HMAC key)", #v))
    else
      d:add(name, "ok", context.mask(v))
    end
  end
end

local function check_optional(d)
  local o = d.o
  -- coreplus documents iss as the URL of your company's web site.
  if not o.issuer then
    d:add("issuer", "warn", defaults.issuer .. " (the library's default)",
      "coreplus documents iss as your company's URL: set COREPLUS_ISSUER (or --issuer, or issuer in the"
        .. " profile), e.g. https://myapp.example")
  elseif not o.issuer:match("^[hH][tT][tT][pP][sS]?://[^/%s]+") then
    d:add("issuer", "warn", o.issuer .. " is not an http(s) URL",
      "coreplus documents iss as your company's URL, e.g. https://myapp.example")
  else
    d:add("issuer", "ok", o.issuer)
  end
  d:add("audience", "ok", o.audience or (defaults.audience .. " (default)"))
  d:add("version", "ok", o.version or (defaults.version .. " (default)"))
  if o.cafile then
    local f = io.open(o.cafile, "r")
    if f then
      f:close()
      d:add("cafile", "ok", o.cafile)
    else
      d:add("cafile", "fail", o.cafile .. " cannot be read", "COREPLUS_CAFILE must name a PEM file of CA certificates")
    end
  end
end

local function check_user_agent(d)
  local ua = d.o.user_agent
  local generic = ua and errors.generic_user_agent(ua)
  if generic then
    return d:add("user_agent", "warn", errors.causes.user_agent.name .. ": " .. generic, errors.causes.user_agent.hint)
  end
  if ua then return d:add("user_agent", "ok", ua .. " (from " .. tostring(d.ctx.from.user_agent) .. ")") end
  d:add("user_agent", "ok", "the library's own (coreplus may block generic agents: name your app with"
    .. " --user-agent, COREPLUS_USER_AGENT or the profile's user_agent)")
end

-- The environment a profile's name suggests, if any.
local function named_kind(name)
  local n = name:lower()
  if n:find("sandbox", 1, true) or n:find("test", 1, true) or n:find("staging", 1, true) then return "sandbox" end
  if n:find("prod", 1, true) or n:find("live", 1, true) then return "production" end
  return nil
end

local function family(source)
  if not source then return nil end
  local profile = source:match(" in (profile .*)$")
  if profile then return profile end
  if source:match("^%-%-") then return "flags" end
  return "environment variables"
end

--- Sandbox/production mix-ups that the settings themselves show: a profile
-- named for one environment pointing at the other, and a base URL from one
-- place with credentials from another.
local function check_profile(d)
  local _, name = d.ctx:profile()
  local kind = d.o.base_url and host_kind(d.o.base_url)
  if name then
    local want = named_kind(name)
    if want and (kind == "sandbox" or kind == "production") and want ~= kind then
      d:add("profile", "warn", format("profile '%s' points at %s (%s)", name, kind, d.o.base_url),
        "a profile named for " .. want .. " holds a " .. kind .. " base_url: check that the URL and the"
          .. " credentials belong to the same environment (sandbox credentials do not work on production)")
    else
      d:add("profile", "ok", name)
    end
  end
  local from = d.ctx.from
  local base = family(from.base_url)
  for _, key in ipairs({ "consumer_id", "consumer_secret", "access_token" }) do
    local other = family(from[key])
    if base and other and other ~= base then
      return d:add("sources", "warn", format("base_url comes from %s but %s from %s", base, key, other),
        "settings from two places may belong to two environments or practices: unset the stale ones"
          .. " (env | grep COREPLUS_) or keep them all in one profile")
    end
  end
end

-- ===== the token, made and checked here =====

--- The request this library would send, checked for every cause of
-- "Invalid token" the FAQ names, as `coreplus explain` checks an
-- integrator's own (the same checks and words: coreplus.cli.request_check).
local function check_token(d)
  local o = d.o
  if not (o.consumer_id and o.consumer_secret and o.access_token and o.base_url) then return end
  local now = floor(d.ctx.sys.now())
  local url = d.ctx:api_url("Location/")
  local token = sign({ credentials = o, url = url, method = "GET", issuer = o.issuer, audience = o.audience }, now)
  local sent = { ["content-type"] = "application/json", ["user-agent"] = o.user_agent or "lua-coreplus" }
  local found = request_check.check({ kind = "library", authorization = "JwToken " .. token, url = url,
    method = "GET", headers = sent }, { secret = o.consumer_secret, now = now })
  local wrong = {}
  for _, f in ipairs(found) do
    -- (the User-Agent has its own line; environment needs the server)
    if f.status == "fail" and f.id ~= "user_agent" then wrong[#wrong + 1] = f end
  end
  if #wrong == 0 then
    return d:add("token", "ok", "HS256 with the consumer secret, 'JwToken <token>', nbf/exp UTC unix seconds"
      .. " 60 s apart, url and httpMethod claims of the request, Content-Type application/json: none of the"
      .. " FAQ's causes applies to this library's requests")
  end
  for _, f in ipairs(wrong) do
    d:add("token", "fail", f.name .. ": " .. f.detail, "a broken build of coreplus.core (run make test)")
  end
end

-- ===== the server =====

--- The first request: does the server answer at all? Returns false when
-- it does not (nothing else can be checked then).
local function check_connection(d, first_err)
  if first_err and (first_err.kind == "network" or first_err.kind == "timeout" or first_err.kind == "tls") then
    local cause = first_err.hint or "check the base URL, DNS and the network path to it"
    if first_err.kind == "network" then
      cause = "the server cannot be reached: check COREPLUS_BASE_URL (host and port) and the network"
    end
    d:add("connection", "fail", tostring(first_err), cause)
    return false
  end
  d:add("connection", "ok", "the server answers at " .. d.cp.base)
  return true
end

local function check_clock(d)
  local offset = d.offset
  if offset == nil then
    return d:add("clock", "warn", "the server sent no Date header: the clock offset is unknown")
  end
  local s = context.whole_seconds(offset - 0.5)
  if abs(offset) < CLOCK_WARN then
    return d:add("clock", "ok", format("this machine agrees with the server's Date header (offset %+d s)", s))
  end
  local hours = round(s / 3600)
  local whole_hours = hours ~= 0 and abs(s - hours * 3600) <= 60
  d:add("clock", "warn", format("the server's clock is %d s %s this machine's (clock offset %+d s)",
    abs(s), s > 0 and "ahead of" or "behind", s),
    (whole_hours and format("a whole number of hours (%+d h): local time is being sent as UTC (the"
      .. " system clock is set to local time, or a token's nbf/exp are built from local time); nbf/exp must"
      .. " be UTC unix seconds. ", -hours) or "")
    .. "tokens carry nbf/exp in UTC unix seconds, so coreplus refuses tokens from a skewed clock"
      .. " ('Invalid token'). This library signs with the server's time, so its calls work"
      .. (d.skew_retry and " (after one refused request taught it the offset)" or "")
      .. "; other tools on this machine will fail: sync the clock (NTP)")
end

--- The parameters for a one-row probe of `e`, or nil and why not.
local function probe_params(d, e)
  local params = e.row.paged ~= false and { pageSize = 1 } or {}
  if e.window then
    if not d.zone then return nil, "needs a timezoneId from Location/, which gave none" end
    params.startDate, params.endDate, params.timezoneId = d.today, d.today, d.zone
  end
  for _, p in ipairs(e.row.list.required or {}) do
    if params[p] == nil then
      if d.seen[p] == nil then return nil, "needs " .. p .. " from another list, which gave none" end
      params[p] = d.seen[p]
    end
  end
  return params
end

--- Remembers the first row's fields: ids that later probes need (invoiceId).
local function remember(d, page)
  local item = page and page.items and page.items[1]
  if type(item) ~= "table" then return end
  for k, v in pairs(item) do
    if d.seen[k] == nil and type(v) ~= "table" then d.seen[k] = v end
  end
end

-- Lists that are empty for a reason a practice can fix.
local EMPTY = {
  practitioners = "coreplus shows the API only published practitioners: each one's Setup > Settings >"
    .. " User Profile > Publish must be on (bookings need a practitioner)",
}

--- How to pin the client's API version, in the names of every source
-- (coreplus.settings): "--api-version v2 (COREPLUS_API_VERSION=v2, or
-- api_version = v2 in the profile)".
local function pin_advice(version)
  local row = require("coreplus.settings").row("api_version")
  return format("--%s %s (%s=%s, or %s = %s in the profile)", row.flag, version, row.env, version, row.key, version)
end
_M.pin_advice = pin_advice

--- The version an endpoint answered under, when not the one it is pinned
-- to (found by this run or remembered from an earlier one), or nil.
local function found_version(d, e)
  local route = d.cp[e.resource]:route("list")
  local found = d.cp:found_versions()[route.key]
  local pinned = route.version or d.cp.version
  if found and found ~= pinned then return found, pinned end
  return nil
end

local function check_readable(d, e, page)
  local name = "GET " .. e.path
  remember(d, page)
  local rows = page.total or #page.items
  local found, pinned = found_version(d, e)
  if found then
    return d:add(name, "warn", format("readable under API version %s only (%s: no route)%s", found, pinned,
      page.total and format(" (%d rows)", page.total) or ""),
      format("this server answers %s under %s, not %s: the client switches by itself (one extra request, said"
        .. " once); to pin it: %s", e.path, found, pinned, pin_advice(found)))
  end
  if rows == 0 and EMPTY[e.resource] then
    return d:add(name, "warn", "readable, but 0 rows", EMPTY[e.resource])
  end
  d:add(name, "ok", page.total and format("readable (%d rows)", page.total) or "readable")
end

local function check_endpoint(d, e, page, err)
  local name = "GET " .. e.path
  if page then return check_readable(d, e, page) end
  local reason = err.reasons and err.reasons[1]
  -- no HTTP answer (the limiter, the network): what the transport said
  local detail = err.status
    and format("%s (HTTP %s)%s", err.kind, tostring(err.status), reason and (": " .. reason) or "")
    or format("%s: %s", err.kind, tostring(err.message))
  if err.kind == "forbidden" and d.need and not d.need[e.resource] then
    -- An add-on that does not use this endpoint can live without it.
    return d:add(name, "warn", detail, (err.hint or "") .. " (not needed: it is not in --need)")
  end
  d.failures[err.kind] = (d.failures[err.kind] or 0) + 1
  -- 'Invalid token' and a blocked User-Agent are explained once, by the diagnosis.
  local once = err.kind == "invalid_token" or err.kind == "blocked_user_agent"
  d:add(name, "fail", detail, not once and err.hint or nil)
end

local function check_endpoints(d, first, first_err)
  for _, e in ipairs(d.endpoints) do
    local page, err
    if e.resource == "locations" then
      page, err = first, first_err
    else
      local params, why = probe_params(d, e)
      if not params then
        d:add("GET " .. e.path, "skip", why)
      else
        page, err = d.cp[e.resource]:list(params)
      end
    end
    if page or err then check_endpoint(d, e, page, err) end
  end
end

--- coreplus refused the User-Agent: nothing else could be seen.
local function diagnose_user_agent(d)
  local n = d.failures.blocked_user_agent
  if not n then return end
  d:add("diagnosis", "fail", format("coreplus blocked the User-Agent on %d of %d endpoints", n, #d.endpoints),
    "likely cause: a missing or generic User-Agent" .. (d.o.user_agent and (" ('" .. d.o.user_agent .. "')") or "")
      .. ": set your app's own name with --user-agent, COREPLUS_USER_AGENT or user_agent in the profile,"
      .. " e.g. my-practice-sync/1.2")
end

--- The likely cause when coreplus refused the token itself, in the words
-- of the FAQ's causes (coreplus.errors.causes, as `coreplus explain`).
local function diagnose_invalid_token(d)
  local failures = d.failures
  if not failures.invalid_token then return end
  local causes = errors.causes
  local kind = host_kind(d.o.base_url)
  local offset = d.offset
  local clock_bad = offset and abs(offset) >= CLOCK_WARN
  local cause
  if clock_bad and d.skew_retry then
    cause = format("the clocks disagree by %d s and the token was still refused after signing with the"
      .. " server's time: the clock is not the (only) cause; %s? %s", round(abs(offset)), causes.signature.name,
      causes.signature.hint)
  elseif clock_bad then
    cause = format("%s: the clocks disagree by %d s. %s", causes.utc_times.name, round(abs(offset)),
      causes.utc_times.hint)
  else
    cause = format("%s, or the consumer id or access token is not one this server knows. Check"
      .. " COREPLUS_CONSUMER_SECRET, COREPLUS_CONSUMER_ID and COREPLUS_ACCESS_TOKEN against the add-on's page",
      causes.signature.name)
      .. ((kind == "production" or kind == "sandbox") and ("; " .. causes.environment.name
        .. " (the FAQ's most common cause): " .. causes.environment.hint) or "")
      .. ". The other causes do not apply to this library's requests (see the token line); when your own"
      .. " program gets 'Invalid token', run `coreplus explain` with its header or curl command line"
  end
  d:add("diagnosis", "fail", format("coreplus answered 'Invalid token' on %d of %d endpoints",
    failures.invalid_token, #d.endpoints), "likely cause: " .. cause)
end

-- The shared limit the calls above went through: which one, and for Redis
-- whether it answered (with on_redis_error = "local" a dead Redis costs no
-- call, only the sharing: nothing else here would show it).
local function check_shared_limit(d)
  local lim = d.cp.limiter
  local ok, s = pcall(function() return lim.stats(lim) end)
  if not ok or type(s) ~= "table" then return end
  if not s.shared then return d:add("shared_limit", "ok", "not shared: this process keeps the limit alone") end
  if s.redis_connected == nil then return d:add("shared_limit", "ok", "the file " .. tostring(s.shared)) end
  if s.redis_connected then return d:add("shared_limit", "ok", tostring(s.shared) .. ": Redis answers") end
  local fail = d.o.on_redis_error == "fail"
  d:add("shared_limit", fail and "fail" or "warn", tostring(s.shared) .. ": Redis did not answer"
    .. (fail and "" or "; each process keeps the limit alone meanwhile (on_redis_error = \"local\")"),
    "the reason is on stderr; check that Redis is up and the URL, password and redis_cafile (rediss://)")
end

local function check_server(d)
  local retries = {}
  d.cp = d.ctx:client{ on_request = function(info)
    if info.retry then retries[#retries + 1] = info.retry end
  end, retries = 1 }
  local first, first_err = d.cp.locations:list{ pageSize = 1 }
  -- The client's estimate (Date minus local receive time) is up to a second
  -- low because Date truncates to whole seconds; the middle of that range is
  -- the best figure to show a person.
  local learnt = context.clock_offset(d.cp)
  d.offset = learnt and learnt + 0.5
  if not check_connection(d, first_err) then return end
  for _, r in ipairs(retries) do if r == "clock_skew" then d.skew_retry = true end end
  check_clock(d)
  local loc = first and first.items[1]
  d.zone = type(loc) == "table" and type(loc.timeZone) == "table" and loc.timeZone.timezoneId or nil
  d.today = os.date("!%Y-%m-%d", floor(d.ctx.sys.now() + (d.offset or 0)))
  check_endpoints(d, first, first_err)
  check_shared_limit(d)
  diagnose_user_agent(d)
  diagnose_invalid_token(d)
end

--- --need (or the profile's need): catalogue names, command names or paths.
local function needed(ctx, endpoints)
  local text = ctx:setting("need")
  if not text then return nil end
  local by = {}
  for _, e in ipairs(endpoints) do
    by[e.resource] = e.resource
    by[lists.command_name(e.resource)] = e.resource
    by[e.path:lower():gsub("/$", "")] = e.resource
  end
  local need = {}
  for word in text:gmatch("[^,%s]+") do
    local r = by[word:lower():gsub("/$", "")] or by[word:gsub("-", "_")]
    if not r then
      args.usage("--need: no endpoint '" .. word .. "' (known: " .. table.concat(args.sorted(by), ", ") .. ")")
    end
    need[r] = true
  end
  return need
end

function _M.run(ctx)
  local endpoints = _M.endpoints()
  local d = setmetatable({ ctx = ctx, o = ctx:options(), checks = {}, failed = false, seen = {},
    failures = {}, endpoints = endpoints, need = needed(ctx, endpoints) }, run_mt)
  check_required(d)
  check_optional(d)
  check_user_agent(d)
  check_profile(d)
  check_token(d)
  if d.failed then
    d:add("server", "skip", "not contacted until the settings above are fixed")
  else
    check_server(d)
  end
  return _M.report(ctx, d.checks)
end

local MARK = { ok = "ok", warn = "WARN", fail = "FAIL", skip = "skip" }

local function print_checks(ctx, checks)
  local width = 0
  for _, c in ipairs(checks) do if #c.check > width then width = #c.check end end
  for _, c in ipairs(checks) do
    ctx:print(format("%-4s  %-" .. width .. "s  %s", MARK[c.status], c.check, (tostring(c.detail):gsub("%c", " "))))
    if c.cause then
      ctx:print(format("      %s  -> %s", (" "):rep(width), (tostring(c.cause):gsub("%c", " "))))
    end
  end
end

--- Prints checks ({check=, status=, detail=, cause=}) in the run's format
-- and returns the exit status: 1 when one failed. `what` names the command
-- in the summary on stderr (default "doctor").
function _M.report(ctx, checks, what)
  local f = ctx.flags
  if f.json then
    ctx:print(output.json(checks))
  elseif f.jsonl then
    for _, c in ipairs(checks) do ctx:print(output.json(c)) end
  else
    print_checks(ctx, checks)
  end
  local failed, first = 0, nil
  for _, c in ipairs(checks) do
    if c.status == "fail" then
      failed = failed + 1
      if not first or c.check == "diagnosis" then first = c end
    end
  end
  if failed == 0 then return 0 end
  ctx.sys.stderr(format("coreplus: %s: %d check(s) failed; first: %s: %s\n", what or "doctor", failed, first.check,
    (tostring(first.cause or first.detail):gsub("%c", " "))))
  return 1
end

function _M.commands()
  return {
    { name = "doctor", run = _M.run,
      summary = "check the configuration, the clock, the token and what the access token may read",
      description = "Exit status 1 when a check FAILs; WARNs (an endpoint the add-on does not --need,"
        .. " 0 practitioners, a skewed clock) keep 0.",
      flags = { need = { kind = "string",
        help = "the endpoints the add-on uses, e.g. clients,appointments (default all; profile key need):"
          .. " a forbidden one that is not needed only WARNs" } },
      examples = { "coreplus doctor", "coreplus --profile production doctor --need appointments,slots,locations",
        "coreplus doctor --json | jq '.[] | select(.status != \"ok\")'" } },
  }
end

return _M
