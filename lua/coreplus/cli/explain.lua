--- `coreplus explain`: what is wrong with a request your own program sends
-- (Python, PHP, a shell script) when coreplus answers "Invalid token". Give
-- it what the program sends: an Authorization header value, a whole header
-- block, or a curl command line (as an argument, or `-` for stdin), and the
-- consumer secret (--consumer-secret, COREPLUS_CONSUMER_SECRET or the
-- profile's). It names each cause the FAQ and the docs give that applies
-- (coreplus.errors.causes, in the words doctor uses) and what to do.
--
-- Exit status 1 when a cause applies, 0 when none does (a check that needs
-- more than was given is skipped, and says what it needs).
local request_text = require "coreplus.cli.request_text"
local request_check = require "coreplus.cli.request_check"
local doctor = require "coreplus.cli.doctor"
local profile = require "coreplus.profile"
local args = require "coreplus.cli.args"

local type = type
local pairs = pairs
local ipairs = ipairs
local format = string.format
local concat = table.concat

local _M = {}

-- Which consumer id belongs to which server: the settings in use and every
-- profile of the config file.
local function credentials(ctx, o)
  local list = {}
  if o.consumer_id and o.base_url then
    list[#list + 1] = { label = "your settings", consumer_id = o.consumer_id, base_url = o.base_url }
  end
  local path = profile.path(ctx.sys.getenv)
  local cfg = path and profile.load(path)
  for name, section in pairs(type(cfg) == "table" and cfg.sections or {}) do
    if section.consumer_id and section.base_url then
      list[#list + 1] = { label = "profile " .. name, consumer_id = section.consumer_id, base_url = section.base_url }
    end
  end
  return list
end

local function what_was_read(req)
  local kinds = { curl = "a curl command line", headers = "a header block", value = "an Authorization value" }
  local parts = { kinds[req.kind] }
  if req.method or req.url then parts[#parts + 1] = (req.method or "?") .. " " .. (req.url or "(no URL)") end
  if req.headers then
    local names = {}
    for k in pairs(req.headers) do names[#names + 1] = k end
    table.sort(names)
    parts[#parts + 1] = "headers: " .. concat(names, ", ")
  end
  for _, n in ipairs(req.notes or {}) do parts[#parts + 1] = n end
  return concat(parts, "; ")
end

local function run(ctx)
  local input = ctx.positional[1]
  if input == nil then
    args.usage("explain needs what your program sends: a header value, a header block or a curl command line"
      .. " (or - to read it from stdin)")
  end
  if input == "-" then input = ctx.sys.read_stdin() or "" end
  local req, why = request_text.parse(input)
  if not req then args.usage(why) end
  local o = ctx:options()
  local now = ctx.flags.now or ctx.sys.now()
  local found = request_check.check(req, { secret = o.consumer_secret, now = now,
    credentials = credentials(ctx, o) })
  local checks = { { check = "read", status = "ok", detail = what_was_read(req) } }
  for _, f in ipairs(found) do
    local fail = f.status == "fail"
    checks[#checks + 1] = { check = f.id, status = f.status,
      detail = fail and format("%s: %s", f.name, f.detail) or f.detail, cause = fail and f.hint or nil }
  end
  return doctor.report(ctx, checks, "explain")
end

function _M.commands()
  return {
    { name = "explain", run = run,
      args = { { name = "request", required = true,
        help = "an Authorization value, a header block or a curl command line; - reads stdin" } },
      summary = "name the causes of 'Invalid token' in a request your own program sends: explain REQUEST|-",
      description = "Checks each cause the coreplus FAQ and docs name: nbf/exp in UTC seconds and 60 s apart,"
        .. " Content-Type, 'JwToken <token>', sandbox credentials on production (from your settings and"
        .. " profiles), the url and httpMethod claims against the request, the signature (with"
        .. " --consumer-secret), expiry and the User-Agent. Exit status 1 when one applies.",
      flags = { now = { kind = "number", help = "check at this time, unix seconds (default: now)" } },
      examples = { "coreplus explain \"JwToken $TOKEN\"",
        "coreplus explain - < request.txt    # a header block, e.g. from curl -v",
        "coreplus --consumer-secret \"$SECRET\" explain \"curl -H 'Authorization: JwToken ...' https://...\"" } },
  }
end

return _M
