--- A request checked against every cause of "Invalid token" the FAQ and
-- the docs name (coreplus.errors.causes, in those words): what
-- `coreplus explain` prints for an integrator's own request, and what
-- `coreplus doctor` checks on the request this library would send.
--
--   check(req, o) -> { {id =, name =, hint =, status = "fail" | "ok" | "skip", detail =}, ... }
--   req: {authorization =, headers = {lower-case} | nil, url =, method =}
--     (coreplus.cli.request_text.parse gives one)
--   o: {secret =, now = (unix seconds), credentials = {{label =, consumer_id =,
--     base_url =}, ...} (whose environment each consumer id belongs to)}
local core = require "coreplus.core"
local cjson = require "cjson.safe"
local errors = require "coreplus.errors"

local type = type
local ipairs = ipairs
local tostring = tostring
local format = string.format
local abs = math.abs
local floor = math.floor

local _M = {}

local WINDOW = 60          -- exp - nbf, as the docs set it
local HOURS_SLACK = 120    -- seconds off a whole number of hours still read as a time zone

--- The environment a base URL names: "local", "sandbox", "production" or
-- "other", and its host.
function _M.host_kind(base_url)
  local host = (type(base_url) == "string" and base_url:match("^%a+://([^/:?#]+)") or ""):lower()
  if host == "127.0.0.1" or host == "localhost" or host == "::1" then return "local", host end
  if host:find("sandbox", 1, true) then return "sandbox", host end
  if host:find("coreplus", 1, true) then return "production", host end
  return "other", host
end

-- The JWT inside an Authorization value: token, the rest around it.
local function token_in(value)
  if type(value) ~= "string" then return nil end
  local glued = value:match("^JwToken([%w_-]+%.[%w_-]+%.[%w_-]*)$")   -- no space: still read it
  if glued then return glued, "JwToken", "" end
  local before, token, after = value:match("^(.-)([%w_-]+%.[%w_-]+%.[%w_-]*)(.-)$")
  return token, before, after
end

local function decode_part(part)
  local raw = part and core.base64url_decode(part)
  return raw and cjson.decode(raw) or nil
end

-- ===== one function per cause: status, detail =====

local checks = {}

function checks.header_format(req)
  local v = req.authorization
  if v == nil then
    if req.headers then return "fail", "no Authorization header is sent" end
    return "skip", "no Authorization value was given"
  end
  if req.kind == "value" and not v:find("%s") and token_in(v) == v then
    return "skip", "a token alone: give the whole header value ('JwToken <token>') to check its form"
  end
  if v:match("^JwToken [%w_-]+%.[%w_-]+%.[%w_-]*$") then return "ok", "'JwToken <token>'" end
  local token, before, after = token_in(v)
  if not token then return "fail", "the value holds no token (three base64url parts joined by dots)" end
  local word = before:match("^(%S*)")
  if word:lower() == "bearer" then return "fail", "it says 'Bearer', not 'JwToken'" end
  if word ~= "JwToken" and word:lower():gsub("[:=]$", "") == "jwtoken" then
    return "fail", format("it says '%s': the word is 'JwToken', written just so, then one space", before)
  end
  if before == "JwToken" then return "fail", "there is no space between 'JwToken' and the token" end
  if before:match("^JwToken%s%s+$") then return "fail", "more than one space after 'JwToken'" end
  if before:match("^JwToken%s[\"']$") or after:match("^[\"']") then return "fail", "the token is in quotes" end
  if after ~= "" then return "fail", format("something follows the token (%q)", after:sub(1, 20)) end
  return "fail", format("it starts %q, not 'JwToken '", before:sub(1, 20))
end

function checks.content_type(req)
  local h = req.headers
  if not h then return "skip", "give the header block or the curl command line to check the headers" end
  local ct = h["content-type"]
  local multipart = req.url and (req.url:lower():find("/file/", 1, true) or req.url:lower():find("/message/", 1, true))
  if ct == nil or ct == "" then return "fail", "no Content-Type header is sent" end
  local media = ct:lower():match("^%s*([^;%s]+)")
  if media == "application/json" or (multipart and media == "multipart/form-data") then return "ok", ct end
  return "fail", format("Content-Type is '%s'", ct)
end

function checks.user_agent(req)
  local h = req.headers
  if not h then return "skip", "give the header block or the curl command line to check the User-Agent" end
  local why = errors.generic_user_agent(h["user-agent"])
  if why then return "fail", why end
  return "ok", h["user-agent"]
end

function checks.utc_times(_, claims, o)
  local nbf, exp = claims.nbf, claims.exp
  if type(nbf) ~= "number" or type(exp) ~= "number" then
    return "fail", format("nbf and exp must be numbers (unix seconds): nbf is %s, exp is %s", type(nbf), type(exp))
  end
  if nbf % 1 ~= 0 or exp % 1 ~= 0 then return "fail", "nbf/exp have fractions: whole seconds are wanted" end
  if nbf > 1e11 then return "fail", format("nbf is %d: milliseconds, not seconds", nbf) end
  local off = nbf - o.now
  local hours = floor(off / 3600 + 0.5)
  if hours ~= 0 and abs(hours) <= 14 and abs(off - hours * 3600) <= HOURS_SLACK then
    return "fail", format("nbf is %+d h from the UTC time now: local time sent as UTC (or a clock set to"
      .. " local time)", hours)
  end
  if exp - nbf ~= WINDOW then return "fail", format("exp is nbf + %d s, not nbf + %d", exp - nbf, WINDOW) end
  if off > HOURS_SLACK then return "fail", format("nbf is %d s in the future: this clock is behind, or"
    .. " the sender's is ahead", off) end
  return "ok", format("nbf %d, exp nbf + %d", nbf, WINDOW)
end

function checks.expired(_, claims, o)
  local exp = claims.exp
  if type(exp) ~= "number" then return "skip", "no exp claim to check" end
  if exp <= o.now then
    return "fail", format("exp was %d s ago (tokens copied from a log expire within a minute: check a fresh one"
      .. " to rule the others out)", floor(o.now - exp))
  end
  return "ok", format("expires in %d s", floor(exp - o.now))
end

function checks.signature(req, _, o)
  local header = decode_part(req.token:match("^([^.]+)"))
  if type(header) ~= "table" or header.alg ~= "HS256" then
    return "fail", format("alg is %s: coreplus takes HS256 only", tostring(type(header) == "table" and header.alg))
  end
  if not o.secret then return "skip", "give --consumer-secret (or COREPLUS_CONSUMER_SECRET) to check it" end
  if core.jwt_decode(req.token, o.secret) then return "ok", "verifies with this consumer secret" end
  local decoded = core.base64url_decode((o.secret:gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" })))
  if decoded and decoded ~= "" and core.jwt_decode(req.token, decoded) then
    return "fail", "it was signed with the secret base64-decoded: the secret is used as-is"
  end
  local trimmed = o.secret:gsub("^%s+", ""):gsub("%s+$", "")
  if trimmed ~= o.secret and core.jwt_decode(req.token, trimmed) then
    return "fail", "the secret given has spaces around it that the signer did not use"
  end
  return "fail", "does not verify with this consumer secret (another secret, or another consumer's)"
end

-- Where two URLs first differ, in words.
local function url_difference(claim, sent)
  local cs, cr = claim:match("^(%a+)://(.*)$")
  local ss, sr = sent:match("^(%a+)://(.*)$")
  if not cs then return "the url claim is not an absolute URL (" .. claim:sub(1, 60) .. ")" end
  if cs:lower() ~= (ss or ""):lower() then return format("the scheme differs (%s, %s)", cs, tostring(ss)) end
  local ch, cp = cr:match("^([^/?#]*)(.*)$")
  local sh, sp = sr:match("^([^/?#]*)(.*)$")
  if ch:lower() ~= sh:lower() then return format("the host differs (%s, %s)", ch, sh) end
  local cpath, cq = cp:match("^([^?]*)%??(.*)$")
  local spath, sq = sp:match("^([^?]*)%??(.*)$")
  if cpath ~= spath then
    if cpath:lower() == spath:lower() then return format("the path's letter case differs (%s, %s)", cpath, spath) end
    return format("the path differs (%s, %s)", cpath, spath)
  end
  if cq == "" and sq ~= "" then return "the url claim has no query string; the request has ?" .. sq end
  if cq ~= "" and sq == "" then return "the request has no query string; the url claim has ?" .. cq end
  local function sorted(q)
    local t = {}
    for p in q:gmatch("[^&]+") do t[#t + 1] = p end
    table.sort(t)
    return table.concat(t, "&")
  end
  if sorted(cq) == sorted(sq) then return "the query's parameters are in another order" end
  return format("the query differs (?%s, ?%s): encoding or values", cq, sq)
end

function checks.url_claim(req, claims)
  if type(claims.url) ~= "string" then return "fail", "the token has no url claim" end
  if not req.url then return "skip", "give the curl command line or the request line to compare the URL" end
  if claims.url == req.url then return "ok", req.url end
  return "fail", url_difference(claims.url, req.url)
end

function checks.method_claim(req, claims)
  if type(claims.httpMethod) ~= "string" then return "fail", "the token has no httpMethod claim" end
  if not req.method then return "skip", "give the curl command line or the request line to compare the method" end
  if claims.httpMethod == req.method then return "ok", req.method end
  return "fail", format("httpMethod is '%s', the request is %s", claims.httpMethod, req.method)
end

function checks.environment(req, claims, o)
  local target = req.url or claims.url
  local where = _M.host_kind(target)
  if where ~= "sandbox" and where ~= "production" then
    return "skip", "the URL names neither the sandbox nor production"
  end
  for _, c in ipairs(o.credentials or {}) do
    if c.consumer_id and c.consumer_id == claims.consumerId then
      local theirs = _M.host_kind(c.base_url)
      if (theirs == "sandbox" or theirs == "production") and theirs ~= where then
        return "fail", format("consumerId %s is the one of %s (%s), and the request goes to %s (%s)",
          claims.consumerId, c.label, theirs, where, select(2, _M.host_kind(target)))
      end
      if theirs == where then
        return "ok", format("consumerId is the one of %s (%s), as the URL's", c.label, theirs)
      end
    end
  end
  return "skip", "no setting or profile names this consumerId with a base URL: nothing to compare"
end

-- The causes that need the token's claims.
local NEEDS_CLAIMS = { utc_times = true, expired = true, signature = true, url_claim = true, method_claim = true,
  environment = true }

--- Checks `req` against every cause (see the top of this file).
function _M.check(req, o)
  local token = token_in(req.authorization)
  local claims = token and decode_part(token:match("^[^.]+%.([^.]+)"))
  req.token = token
  local out = {}
  for _, cause in ipairs(errors.causes) do
    local status, detail
    if NEEDS_CLAIMS[cause.id] and type(claims) ~= "table" then
      status, detail = "skip", token and "the token's payload is not base64url JSON" or "no token to read"
    else
      status, detail = checks[cause.id](req, claims, o)
    end
    out[#out + 1] = { id = cause.id, name = cause.name, hint = cause.hint, status = status, detail = detail }
  end
  return out, claims
end

return _M
