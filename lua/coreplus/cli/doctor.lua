--- `coreplus doctor`: checks a configuration the way a support engineer
-- would, and names the likely cause of each failure (the FAQ's list: UTC
-- times, the header format, sandbox credentials on production, permissions
-- that need the add-on disabled and re-enabled).
--
-- Each check is {check=, status="ok"|"warn"|"fail"|"skip", detail=, cause=}.
-- The exit status is 1 when any check failed, else 0 (warnings included).
local coreplus = require "coreplus"
local jwt = require "coreplus.jwt"
local output = require "coreplus.cli.output"

local type = type
local ipairs = ipairs
local tostring = tostring
local format = string.format
local floor = math.floor
local abs = math.abs

local _M = {}

-- Beyond this many seconds between this machine and the server's Date
-- header, other tools on this machine would sign tokens coreplus refuses
-- (Date has whole seconds, so a second of noise is normal).
local CLOCK_WARN = 5

local ENDPOINTS = {
  { resource = "clients", path = "Client/" },
  { resource = "practitioners", path = "Practitioner/" },
  { resource = "locations", path = "Location/" },
  { resource = "appointment_types", path = "AppointmentType/" },
  { resource = "availability_slots", path = "AvailabilitySlot/", window = true },
  { resource = "appointments", path = "Appointment/", window = true },
  { resource = "invoices", path = "Invoice/" },
}

local function host_kind(base_url)
  local host = (base_url or ""):match("^%a+://([^/:]+)") or ""
  host = host:lower()
  if host == "127.0.0.1" or host == "localhost" or host == "::1" then return "local", host end
  if host:find("sandbox", 1, true) then return "sandbox", host end
  if host:find("coreplus", 1, true) then return "production", host end
  return "other", host
end
_M.host_kind = host_kind

local function round(x) return floor(x + 0.5) end

function _M.run(ctx)
  local cli = require "coreplus.cli"
  local o = cli.options(ctx)
  local checks = {}
  local function add(check, status, detail, cause)
    checks[#checks + 1] = { check = check, status = status, detail = detail, cause = cause }
  end

  -- 1. Settings present and plausible.
  local settings_ok = true
  for _, r in ipairs(cli.REQUIRED) do
    local name, var, flag = r[1], r[2], r[3]
    local v = o[name]
    if v == nil or v == "" then
      settings_ok = false
      add(name, "fail", var .. " is not set", "set " .. var .. " (or " .. flag .. ") to the value shown on"
        .. " the add-on's page in coreplus")
    elseif v:match("^%s") or v:match("%s$") or v:match("^[\"']") or v:match("[\"']$") then
      settings_ok = false
      add(name, "fail", var .. " has surrounding spaces or quotes",
        "a copy-paste error: credentials are used exactly as displayed")
    elseif name == "base_url" then
      local kind, host = host_kind(v)
      local scheme = v:match("^(%a+)://")
      if scheme ~= "https" and not (scheme == "http" and kind == "local") then
        settings_ok = false
        add(name, "fail", v, "coreplus is HTTPS only: the base URL must start with https://")
      else
        local note = ({ ["local"] = "this machine (the bundled mock?)",
          sandbox = "the sandbox server: use the sandbox credentials",
          production = "production: use the production credentials, not the sandbox ones" })[kind]
          or "not a coreplus host name: check the API URL shown with the add-on"
        add(name, "ok", v .. " (" .. host .. ": " .. note .. ")")
      end
    elseif name == "consumer_secret" then
      add(name, "ok", format("set (%d characters, used as-is as the HMAC key)", #v))
    else
      add(name, "ok", cli.mask(v))
    end
  end
  if o.issuer then
    add("issuer", "ok", o.issuer)
  else
    add("issuer", "ok", "lua-coreplus (default; coreplus documents iss as your company's URL: set COREPLUS_ISSUER)")
  end
  add("audience", "ok", o.audience or "https://coreplus.com.au (default)")
  add("version", "ok", o.version or "v2.1 (default)")
  if o.cafile then
    local f = io.open(o.cafile, "r")
    if f then
      f:close()
      add("cafile", "ok", o.cafile)
    else
      settings_ok = false
      add("cafile", "fail", o.cafile .. " cannot be read", "COREPLUS_CAFILE must name a PEM file of CA certificates")
    end
  end

  -- 2. A token made with these credentials verifies with the same secret
  -- (the FAQ's own suggestion), with UTC times.
  if o.consumer_id and o.consumer_secret and o.access_token and o.base_url then
    local now = floor(ctx.sys.now())
    local u = o.base_url:gsub("/+$", "") .. "/API/Core/" .. (o.version or "v2.1") .. "/Location/"
    local token = coreplus.core.sign{ consumer_id = o.consumer_id, consumer_secret = o.consumer_secret,
      access_token = o.access_token, url = u, method = "GET", issuer = o.issuer or "lua-coreplus",
      audience = o.audience or "https://coreplus.com.au", now = now }
    local claims, err = jwt.decode(token, o.consumer_secret, { now = now })
    if claims and claims.nbf == now and claims.exp == now + 60 then
      add("token", "ok", "HS256 token signs and verifies with the consumer secret; nbf/exp are UTC unix"
        .. " seconds (nbf " .. claims.nbf .. ", exp nbf+60)")
    else
      settings_ok = false
      add("token", "fail", "a freshly signed token does not verify: " .. tostring(err), "a broken build of"
        .. " coreplus.core (run make test)")
    end
  end

  if not settings_ok then
    add("server", "skip", "not contacted until the settings above are fixed")
    return _M.report(ctx, checks)
  end

  -- 3. The server: connection, clock, and each list endpoint.
  local retries = {}
  local cp = cli.client(ctx, { on_request = function(info)
    if info.retry then retries[#retries + 1] = info.retry end
  end, retries = 1 })
  local results = {}
  local first, first_err = cp.locations:list{ pageSize = 1 }
  results.locations = { first, first_err }
  -- The client's estimate (Date minus local receive time) is up to a second
  -- low because Date truncates to whole seconds; the middle of that range is
  -- the best figure to show a person.
  local offset = cp.clock_offset and cp.clock_offset + 0.5
  if first_err and (first_err.kind == "network" or first_err.kind == "timeout" or first_err.kind == "tls") then
    local cause = first_err.hint or "check the base URL, DNS and the network path to it"
    if first_err.kind == "network" then
      cause = "the server cannot be reached: check COREPLUS_BASE_URL (host and port) and the network"
    end
    add("connection", "fail", tostring(first_err), cause)
    return _M.report(ctx, checks)
  end
  add("connection", "ok", "the server answers at " .. cp.base)

  local skew_retry = false
  for _, r in ipairs(retries) do if r == "clock_skew" then skew_retry = true end end
  if offset == nil then
    add("clock", "warn", "the server sent no Date header: the clock offset is unknown")
  else
    local s = round(offset)
    local direction = s > 0 and "ahead of" or "behind"
    if abs(offset) < CLOCK_WARN then
      add("clock", "ok", format("this machine agrees with the server's Date header (offset %+d s)", s))
    else
      add("clock", "warn", format("the server's clock is %d s %s this machine's (clock offset %+d s)",
        abs(s), direction, s),
        "tokens carry nbf/exp in UTC unix seconds, so coreplus refuses tokens from a skewed clock"
          .. " ('Invalid token'). This library signs with the server's time, so its calls work"
          .. (skew_retry and " (after one refused request taught it the offset)" or "")
          .. "; other tools on this machine will fail: sync the clock (NTP)")
    end
  end

  local zone
  if first and first.items[1] and type(first.items[1].timeZone) == "table" then
    zone = first.items[1].timeZone.timezoneId
  end
  local today = os.date("!%Y-%m-%d", floor(ctx.sys.now() + (offset or 0)))
  local failures = { invalid_token = 0, total = 0 }
  for _, e in ipairs(ENDPOINTS) do
    local page, err
    if results[e.resource] then
      page, err = results[e.resource][1], results[e.resource][2]
    elseif e.window and not zone then
      page, err = nil, nil
    else
      local params = { pageSize = 1 }
      if e.window then
        params.startDate, params.endDate, params.timezoneId = today, today, zone
      end
      page, err = cp[e.resource]:list(params)
    end
    local name = "GET " .. e.path
    if page then
      add(name, "ok", page.total and format("readable (%d rows)", page.total) or "readable")
    elseif not err then
      add(name, "skip", "needs a timezoneId from Location/, which gave none")
    else
      failures.total = failures.total + 1
      if err.kind == "invalid_token" then failures.invalid_token = failures.invalid_token + 1 end
      local reason = err.reasons and err.reasons[1]
      local detail = format("%s (HTTP %s)%s", err.kind, tostring(err.status or "-"),
        reason and (": " .. reason) or "")
      local cause = err.hint
      if err.kind == "forbidden" then
        cause = err.hint
      elseif err.kind == "invalid_token" then
        cause = nil   -- explained once, below
      end
      add(name, "fail", detail, cause)
    end
  end

  -- 4. The likely cause when coreplus refused the token itself.
  if failures.invalid_token > 0 then
    local kind = host_kind(o.base_url)
    local clock_bad = offset and abs(offset) >= CLOCK_WARN
    local cause
    if clock_bad and skew_retry then
      cause = format("the clocks disagree by %d s and the token was still refused after signing with the"
        .. " server's time: the clock is not the (only) cause; check the credentials", round(abs(offset)))
    elseif clock_bad then
      cause = format("nbf/exp: the clocks disagree by %d s; sync this machine's clock (NTP)", round(abs(offset)))
    else
      cause = "the credentials: the consumer secret (most likely), consumer id or access token is not the"
        .. " one this server knows. Check COREPLUS_CONSUMER_SECRET, COREPLUS_CONSUMER_ID and"
        .. " COREPLUS_ACCESS_TOKEN against the add-on's page"
        .. (kind == "production" and "; sandbox credentials do not work on production (the FAQ's most"
          .. " common cause)" or kind == "sandbox" and "; production credentials do not work on the sandbox"
          or "")
        .. ". Ruled out: UTC nbf/exp (the clock agrees), the 'JwToken <token>' header format and"
        .. " 'Content-Type: application/json' (this library sends both)"
    end
    add("diagnosis", "fail", format("coreplus answered 'Invalid token' on %d of %d endpoints",
      failures.invalid_token, #ENDPOINTS), "likely cause: " .. cause)
  end
  return _M.report(ctx, checks)
end

local MARK = { ok = "ok", warn = "WARN", fail = "FAIL", skip = "skip" }

function _M.report(ctx, checks)
  local f = ctx.flags
  local failed = 0
  for _, c in ipairs(checks) do if c.status == "fail" then failed = failed + 1 end end
  if f.json then
    ctx.sys.stdout(output.json(checks) .. "\n")
  elseif f.jsonl then
    for _, c in ipairs(checks) do ctx.sys.stdout(output.json(c) .. "\n") end
  else
    local width = 0
    for _, c in ipairs(checks) do if #c.check > width then width = #c.check end end
    for _, c in ipairs(checks) do
      ctx.sys.stdout(format("%-4s  %-" .. width .. "s  %s\n", MARK[c.status], c.check,
        (tostring(c.detail):gsub("%c", " "))))
      if c.cause then
        ctx.sys.stdout(format("      %s  -> %s\n", (" "):rep(width), (tostring(c.cause):gsub("%c", " "))))
      end
    end
  end
  if failed > 0 then
    local first
    for _, c in ipairs(checks) do
      if c.status == "fail" and (not first or c.check == "diagnosis") then first = c end
    end
    ctx.sys.stderr(format("coreplus: doctor: %d check(s) failed; first: %s: %s\n", failed, first.check,
      (tostring(first.cause or first.detail):gsub("%c", " "))))
    return 1
  end
  return 0
end

return _M
