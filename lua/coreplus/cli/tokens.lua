--- `token` (print a signed token, as the library would sign it) and
-- `decode` (verify one and say what is wrong with it).
local coreplus = require "coreplus"
local cjson = require "cjson.safe"
local args = require "coreplus.cli.args"
local context = require "coreplus.cli.context"
local output = require "coreplus.cli.output"
local sign = require("coreplus.transport.token").sign

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local format, concat, floor = string.format, table.concat, math.floor
local usage = args.usage
local defaults = context.defaults

local _M = {}

--- The server's time now: this machine's clock plus the offset learnt from
-- one cheap request (any answer carries Date). Returns the time, the
-- offset (nil when unknown) and why it is unknown.
local function server_now(ctx)
  local o = ctx:options()
  local now = ctx.sys.now()
  for _, r in ipairs(context.REQUIRED) do
    if not o[r[1]] then return now, nil, r[2] .. " is not set" end
  end
  local cp = ctx:client{ retries = 0 }
  local _, err = cp.locations:list{ pageSize = 1 }
  local offset = context.clock_offset(cp)
  if offset == nil then return now, nil, err and tostring(err) or "the server sent no Date header" end
  -- The learnt offset is never ahead of the server, so nbf is never in its future.
  return now + offset, offset
end

local function run_token(ctx)
  local f = ctx.flags
  local u = f.url
  if not u:match("^%a[%w+.-]*://") then u = ctx:api_url(u) end
  local o = ctx:require_settings{ consumer_id = true, consumer_secret = true, access_token = true }
  local method = (f.method or "GET"):upper()
  local now, offset = f.now, nil
  if not now then
    local why
    now, offset, why = server_now(ctx)
    if not offset then
      ctx.sys.stderr("coreplus: token: signed with this machine's clock: the server's is unknown (" .. why .. ")\n")
    end
  end
  now = floor(now)
  local token = sign({ credentials = o, url = u, method = method, issuer = o.issuer, audience = o.audience }, now)
  if ctx:format() == "json" then
    ctx:print(output.json{ token = token, url = u, method = method, nbf = now, exp = now + defaults.token_ttl,
      clock_offset = offset and context.whole_seconds(offset) or nil })
  else
    ctx:print(token)
  end
  return 0
end

local CLAIMS = { "iss", "aud", "nbf", "exp", "consumerId", "accessToken", "url", "httpMethod" }
local KNOWN = {}
for _, c in ipairs(CLAIMS) do KNOWN[c] = true end

--- The token's parts: claims (verified or not), header, and why it did
-- not verify. Raises a usage error for text that is not a JWT.
local function open_token(token, secret)
  local h, p = token:match("^([%w_-]+)%.([%w_-]+)%.[%w_-]*$")
  if not h then return nil, "decode: not a JSON Web Token (three base64url parts separated by dots)" end
  local payload, err = coreplus.core.jwt_decode(token, secret)   -- err: {kind =, message =}
  local claims = cjson.decode(payload or coreplus.core.base64url_decode(p) or "")
  if type(claims) ~= "table" then return nil, "decode: the payload is not a JSON object" end
  for k, v in pairs(claims) do
    if type(v) == "number" and math.tointeger then claims[k] = math.tointeger(v) or v end
  end
  local header = cjson.decode(coreplus.core.base64url_decode(h) or "")
  return { claims = claims, verified = payload ~= nil, why = err and (err.message or err.kind),
    algorithm = type(header) == "table" and header.alg or nil }
end

-- Seconds of tolerance on nbf and exp: what a server with a few seconds of
-- its own accepts (the bundled mock allows 2; coreplus does not say), plus
-- the second by which a clock learnt from Date may run behind the server's.
-- docs/decisions.md#decode-leeway.
local LEEWAY = 5
_M.LEEWAY = LEEWAY

-- The FAQ's cause for a token out of its time window: a gap of whole hours
-- is local time sent as UTC.
local function time_cause(gap)
  local hours = floor(gap / 3600 + 0.5)
  if hours ~= 0 and math.abs(gap - hours * 3600) <= 120 then
    return format("off by %d h: local time was used instead of UTC (the FAQ's first cause of"
      .. " \"Invalid token\": nbf and exp must be UTC unix seconds)", hours)
  end
  return "the FAQ's first cause of \"Invalid token\": nbf and exp must be UTC unix seconds, from a"
    .. " clock that is right (timedatectl)"
end

--- What is wrong with the claims, as a list of sentences.
local function problems_of(t, o, now)
  local claims, problems = t.claims, {}
  if not t.verified then problems[#problems + 1] = "signature" end
  if type(claims.exp) == "number" and claims.exp + LEEWAY <= now then
    problems[#problems + 1] = format("expired %d s ago (%s)", now - claims.exp, time_cause(claims.exp - now))
  end
  if type(claims.nbf) == "number" and claims.nbf > now + LEEWAY then
    problems[#problems + 1] = format("not valid for another %d s: nbf is in the future (%s)", claims.nbf - now,
      time_cause(claims.nbf - now))
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
  return problems
end

local function print_report(ctx, report)
  local claims, lines = report.claims, {}
  for _, c in ipairs(CLAIMS) do
    local v = claims[c]
    if (c == "nbf" or c == "exp") and type(v) == "number" then
      v = format("%d (%s UTC)", v, os.date("!%Y-%m-%d %H:%M:%S", v))
    end
    if v ~= nil then lines[#lines + 1] = { field = c, value = v } end
  end
  for k, v in pairs(claims) do
    if not KNOWN[k] then lines[#lines + 1] = { field = k, value = v } end
  end
  ctx:lines(output.table_lines(lines, { "field", "value" }))
  ctx:print("signature: " .. report.signature)
  local by = report.clock == "server" and format("by the server's clock, %+d s from this machine's",
    report.clock_offset) or ("by " .. report.clock .. "'s clock")
  if report.seconds_left and report.seconds_left > 0 then
    ctx:print(format("time: valid for another %d s (%s)", report.seconds_left, by))
  else
    ctx:print("time: " .. by)
  end
  for _, pr in ipairs(report.problems) do
    if pr ~= "signature" then ctx:print("problem: " .. pr) end
  end
end

--- The token's text: an argument, or stdin for "-"; spaces and a JwToken
-- prefix (as copied from a header) dropped.
local function token_text(ctx)
  local token = ctx.positional[1]
  if token == "-" then token = (ctx.sys.read_stdin() or "") end
  return (token:gsub("^%s+", ""):gsub("%s+$", ""):gsub("^JwToken%s+", ""))
end

--- What decode reports about an opened token, judged at the server's time
-- (or --now, or this machine's when the server is unknown).
local function report_of(ctx, t, o)
  local now, offset = ctx.flags.now, nil
  if not now then now, offset = server_now(ctx) end
  now = floor(now)
  local claims = t.claims
  local report = { algorithm = t.algorithm, problems = problems_of(t, o, now), now = now,
    clock = ctx.flags.now and "--now" or offset and "server" or "this machine",
    clock_offset = offset and context.whole_seconds(offset) or nil,
    signature = t.verified and "verified with the consumer secret" or
      ("does NOT verify with the given secret (" .. tostring(t.why) .. "): the token was made"
        .. " with another secret or algorithm; check COREPLUS_CONSUMER_SECRET, and the FAQ's cause of"
        .. " \"Invalid token\" after publishing: sandbox credentials used against production (or the"
        .. " other way round)") }
  if type(claims.exp) == "number" then report.seconds_left = claims.exp - now end
  -- The access token is a credential: shown masked, like everywhere else.
  if claims.accessToken then claims.accessToken = context.mask(claims.accessToken) end
  report.claims = claims
  report.valid = #report.problems == 0
  return report
end

local function run_decode(ctx)
  local o = ctx:options()
  local secret = ctx.flags.secret or o.consumer_secret
  if not secret then usage("decode needs the secret: COREPLUS_CONSUMER_SECRET or --secret") end
  local t, bad = open_token(token_text(ctx), secret)
  if not t then return ctx:fail(bad) end
  local report = report_of(ctx, t, o)
  -- A report for people unless JSON is asked for, as with doctor.
  if ctx.flags.json or ctx.flags.jsonl then
    ctx:print(output.json(report))
  else
    print_report(ctx, report)
  end
  if not report.valid then
    ctx.sys.stderr("coreplus: decode: the token fails verification: " .. concat(report.problems, "; ") .. "\n")
    return 1
  end
  return 0
end

function _M.commands()
  return {
    { name = "token", run = run_token, summary = "print a signed token: token --url U [--method M]",
      required = { "url" },
      examples = { "coreplus token --url 'Client/?pageSize=5'",
        "curl -H \"Authorization: JwToken $(coreplus token --url Location/)\" -H 'Content-Type: application/json'"
          .. " -A my-app/1.0 \"$COREPLUS_BASE_URL/API/Core/v2.1/Location/\"" },
      description = "The token is signed with the server's clock, learnt from one cheap request"
        .. " (GET Location/?pageSize=1), unless --now is given.",
      flags = { url = { kind = "string", help = "the URL the token is for (absolute, or a path)" },
        method = { kind = "string", help = "HTTP method (GET)" },
        now = { kind = "number", help = "issue time, unix seconds (default: the server's now)" } } },
    { name = "decode", run = run_decode,
      args = { { name = "token", required = true, help = "the token (a JwToken prefix is fine), or - for stdin" } },
      examples = { "coreplus decode eyJhbGciOi...", "coreplus token --url Location/ | coreplus decode -" },
      summary = "verify a token with the secret, show its claims and seconds left: decode TOKEN|-",
      description = "nbf and exp are checked against the server's clock (one cheap request) when the"
        .. " settings allow it, else against this machine's; --now checks at a given time, offline."
        .. " A few seconds of leeway (" .. LEEWAY .. ") apply, as a server allows.",
      flags = { secret = { kind = "string", help = "the secret (default COREPLUS_CONSUMER_SECRET)" },
        now = { kind = "number", help = "check at this time, unix seconds (no request)" } } },
  }
end

return _M
