--- Error objects: what went wrong (`err.kind`), what the server said
-- (`err.reasons`) and what to do about it (`err.hint`).
--
-- Expected failures (the server refused, the network failed) come back as
-- `nil, err`; misuse (a wrong argument) raises instead, at the caller's line.
-- An error object is a table with these fields (those that apply):
--
--  - `kind`: one of `kinds` below
--  - `status`: the HTTP status, when there was a response
--  - `message`: what happened, in words
--  - `reasons`: the texts of the body's `result[]` / `statusMessages` entries (see `reasons` below)
--  - `hint`: what to do about it
--  - `method`, `url`: the request (URLs carry no credentials)
--  - `attempts`: how many attempts were made
--  - `outcome = "unknown"`: a POST that may have been processed, so it was not repeated
--  - `sent = false`: the request provably never left
--  - `final = true`: repeating cannot help, so it was not repeated
--  - `no_route = true`: a 404 that says the server has no route for the
--   URL (under this API version), not that a record is missing
--
-- `tostring(err)` is one readable line that never contains a token or secret.
--
--     local page, err = cp.clients:list{}
--     if not page then print(err.kind, err.hint) end
-- @module coreplus.errors
local setmetatable = setmetatable
local getmetatable = getmetatable
local concat = table.concat
local type = type
local tostring = tostring
local tonumber = tonumber
local ceil = math.ceil

local _M = {}

local KINDS = {
  network = true, timeout = true, tls = true, too_large = true, invalid_token = true,
  forbidden = true, not_found = true, conflict = true, validation = true,
  rate_limited = true, server = true, bad_response = true,
  limiter = true, blocked_user_agent = true,
  database = true, locked = true, interrupted = true,   -- coreplus.sync
}
--- The kinds of error, as a set: `errors.kinds[kind]` is true for each of
-- these, and `err.kind` is always one of them.
--
--  - `invalid_token`: a 401 "Invalid token" (or any other 401); the hint
--   lists the documented causes and the clock offset seen
--  - `forbidden`: a 401 "Not authorized for ..." or a 403; the hint names the
--   permission and says to disable and re-enable the add-on
--  - `conflict`: a 409, or a 2xx whose `result[]` says the time is taken
--  - `validation`: a 400 or 422, or a 2xx with `result[]` severity 2 or more
--  - `not_found`: a 404
--  - `blocked_user_agent`: a 403 that speaks of the User-Agent; the hint says
--    to set `user_agent` to the app's own name
--  - `rate_limited`: a 429 after the call's timeout ran out waiting it out
--  - `server`: a 5xx
--  - `bad_response`: a body that is not JSON, or an unexpected status
--  - `network`: the connection failed or broke (refused, reset, DNS)
--  - `timeout`: `timeout` or `connect_timeout` passed
--  - `tls`: the server's certificate did not verify
--  - `too_large`: a body over `max_body`
--  - `limiter`: a Redis `shared_limit` is unreachable and `on_redis_error = "fail"`,
--    or OpenResty's shared dict is full
--  - `database`: `coreplus.sync` could not open, migrate or write its database
--  - `locked`: `coreplus.sync`: another sync of the practice holds its lock
--  - `interrupted`: `coreplus.sync`: stopped (SIGTERM, SIGINT) before the end
--
-- A test double may return kinds of its own (`coreplus.testing.stub`'s
-- `stub_missing`), as error objects made with `errors.new`.
-- @table kinds
_M.kinds = KINDS

local mt = {}
mt.__index = mt

local function one_line(s)
  return (tostring(s):gsub("[%c]+", " "))
end

function mt.__tostring(e)
  local head = "coreplus " .. tostring(e.kind)
  if e.status then head = head .. " (HTTP " .. tostring(e.status) .. ")" end
  if e.method and e.url then head = head .. " on " .. e.method .. " " .. e.url end
  local text = head
  if e.message then text = text .. ": " .. tostring(e.message) end
  if type(e.reasons) == "table" and #e.reasons > 0 then
    local r = {}
    for i = 1, #e.reasons do r[i] = tostring(e.reasons[i]) end
    text = text .. " [" .. concat(r, "; ") .. "]"
  end
  if e.hint then text = text .. ". Hint: " .. tostring(e.hint) end
  return one_line(text)
end

--- Makes an error object from a table of fields.
-- @tparam table fields `kind` (required) and any of the fields above
-- @return the same table, now an error object (with `__tostring`)
function _M.new(fields)
  return setmetatable(fields, mt)
end

--- Whether a value is an error object made by this module.
-- @param v any value
-- @treturn boolean
function _M.is_error(v)
  return type(v) == "table" and getmetatable(v) == mt
end

--- The metatable of error objects.
-- @table metatable
_M.metatable = mt

-- ===== mapping responses to errors =====

local UA_HINT = "coreplus blocks missing or generic User-Agents (a CMS's, a tool's or a library's default):"
  .. " set `user_agent` to your app's own name, e.g. \"my-practice-sync/1.2\" (coreplus CLI: --user-agent,"
  .. " COREPLUS_USER_AGENT or the profile's user_agent)"

local CAUSES = {
  { id = "utc_times", name = "nbf/exp are not UTC unix seconds, or exp is not nbf + 60",
    hint = "set nbf to the current UTC unix time in whole seconds and exp to nbf + 60; a clock or a"
      .. " time zone set to local time makes them hours off (sync the clock with NTP)" },
  { id = "content_type", name = "the Content-Type header is missing or not application/json",
    hint = "send 'Content-Type: application/json' with every request (multipart/form-data for File/ and"
      .. " Message/)" },
  { id = "header_format", name = "the Authorization header is not 'JwToken', one space, then the token",
    hint = "send exactly 'Authorization: JwToken <token>': the word JwToken as written, one space, the"
      .. " token with no quotes or spaces" },
  { id = "environment", name = "sandbox credentials are used against the production URL (or the other way round)",
    hint = "credentials belong to one server: use the consumer id, secret and access token shown with the"
      .. " add-on on the server the URL names" },
  { id = "url_claim", name = "the url claim is not the exact URL requested, query string included",
    hint = "build the URL once, query string and all, and put that exact string in the url claim and in the"
      .. " request" },
  { id = "method_claim", name = "the httpMethod claim is not the request's method",
    hint = "set httpMethod to the request's method in upper case (GET, POST, ...), one token per request" },
  { id = "signature", name = "the signature is not made with this consumer secret (HS256)",
    hint = "sign with HS256 and the consumer secret exactly as shown with the add-on (used as-is, not"
      .. " base64-decoded)" },
  { id = "expired", name = "the token has expired",
    hint = "a token lives 60 s: make a new one for every request, just before sending it" },
  { id = "user_agent", name = "the User-Agent is missing or generic", hint = UA_HINT },
}
--- The causes of "Invalid token" the FAQ and the docs name (and the
-- User-Agent a WAF refuses), each `{id =, name =, hint =}`: `name` says what
-- is wrong, `hint` what to do. The `invalid_token` hint lists them;
-- `coreplus doctor` and `coreplus explain` name them in these words.
--
--  - `utc_times`: nbf/exp not UTC unix seconds, or exp not nbf + 60
--  - `content_type`: Content-Type missing or not application/json
--  - `header_format`: the Authorization value not `JwToken` + one space + the token
--  - `environment`: sandbox credentials against the production URL, or the other way round
--  - `url_claim`: the url claim not the exact URL requested, query string included
--  - `method_claim`: the httpMethod claim not the request's method
--  - `signature`: the signature not made with this consumer secret (HS256)
--  - `expired`: exp in the past
--  - `user_agent`: a missing or generic User-Agent
-- @table causes
_M.causes = CAUSES
for _, c in ipairs(CAUSES) do CAUSES[c.id] = c end

local TOKEN_CAUSES
do
  local names = {}
  for i = 1, #CAUSES - 1 do names[i] = CAUSES[i].name end
  TOKEN_CAUSES = "the usual causes of 'Invalid token' are: " .. concat(names, "; ")
    .. " (`coreplus explain` checks a request your own program sends)"
end

-- User-Agents a WAF takes for generic: tool, library and CMS defaults and
-- browsers, matched as prefixes ignoring case.
local GENERIC_AGENTS = { "curl/", "wget/", "python-requests/", "python-urllib/", "python/", "aiohttp/",
  "httpx/", "go-http-client/", "java/", "okhttp/", "apache-httpclient/", "axios/", "node-fetch/", "node/",
  "undici", "postmanruntime/", "insomnia/", "httpie/", "guzzlehttp/", "wordpress/", "mozilla/",
  "lua-resty-http/", "luasocket", "libcurl/", "ruby", "faraday", "dart:io", "php/", "restsharp/" }

--- Why a User-Agent is the kind coreplus may block, or nil: missing, or a
-- tool's, library's, CMS's or browser's default.
-- @tparam string|nil ua the User-Agent header
-- @treturn string|nil the reason
function _M.generic_user_agent(ua)
  if type(ua) ~= "string" or not ua:find("%S") then return "no User-Agent is sent" end
  local l = ua:lower():gsub("^%s+", "")
  for _, p in ipairs(GENERIC_AGENTS) do
    if l:sub(1, #p) == p then return "'" .. ua .. "' is a generic User-Agent" end
  end
  return nil
end

-- The FAQ names VIEW_CLIENTLIST; other permissions follow the reason's words.
local PERMISSIONS = {
  ["client list"] = "VIEW_CLIENTLIST",
}

local function permission_hint(reason)
  local what = reason and reason:match("[Nn]ot authori[sz]ed for ([%w%s]+)")
  what = what and what:gsub("^viewing%s+", ""):gsub("%s+$", "")
  local perm = what and PERMISSIONS[what:lower()]
  local name = perm and ("the " .. perm .. " permission")
    or (what and ("the permission for " .. what) or "the missing permission")
  return "the practice must grant " .. name .. " to this add-on in coreplus, then disable and"
    .. " re-enable the add-on (Setup > Add-Ons) before the change takes effect"
end

-- Where reasons are, and which field of an entry says it (in that order).
local REASON_LISTS = { "result", "statusMessages" }
local REASON_FIELDS = { "reason", "message", "description" }

--- The `result[]` / `statusMessages` entries of a decoded body, as strings,
-- and the highest severity seen.
-- @param body a decoded response body
-- @treturn {string,...} the texts (`reason`, `message` or `description` of each entry)
-- @treturn number the highest `severity` (0 when none)
function _M.reasons(body)
  local out, severity = {}, 0
  if type(body) ~= "table" then return out, severity end
  for _, key in ipairs(REASON_LISTS) do
    local list = body[key]
    if type(list) == "table" then
      for _, r in ipairs(list) do
        if type(r) == "table" then
          local text   -- the first that is text: JSON null decodes to a userdata
          for _, field in ipairs(REASON_FIELDS) do
            local v = r[field]
            if type(v) == "string" or type(v) == "number" then text = v; break end
          end
          if text ~= nil then out[#out + 1] = tostring(text) end
          local sev = tonumber(r.severity)
          if sev and sev > severity then severity = sev end
        elseif type(r) == "string" then
          out[#out + 1] = r
        end
      end
    end
  end
  return out, severity
end

-- coreplus may block missing or generic User-Agents (the FAQ: a CMS's
-- default) with a 403 before reading the request; the body or reason then
-- speaks of the user agent. A permission is a 401, so this is not one.

local function user_agent_block(status, reasons, raw)
  if status ~= 403 then return false end
  local text = (concat(reasons, " ") .. " " .. (type(raw) == "string" and raw:sub(1, 2000) or "")):lower()
  return text:find("user[%- ]agent") ~= nil
end

-- A 404 from the server's routing, not from a handler: nothing ran, so the
-- request was not processed (whatever its method). ASP.NET Web API, which
-- coreplus answers with, says so in these words; the mock too.
local NO_ROUTE = { "no http resource was found that matches the request uri",
  "no type was found that matches the controller", "no route data was found" }

local function no_route(status, reasons, raw)
  if status ~= 404 then return false end
  local text = (concat(reasons, " ") .. " " .. (type(raw) == "string" and raw:sub(1, 2000) or "")):lower()
  for _, words in ipairs(NO_ROUTE) do
    if text:find(words, 1, true) then return true end
  end
  return false
end

local function status_kind(status)
  if status == 400 or status == 422 then return "validation" end
  if status == 403 then return "forbidden" end
  if status == 404 then return "not_found" end
  if status == 409 then return "conflict" end
  if status == 429 then return "rate_limited" end
  if status >= 500 then return "server" end
  return "bad_response"
end

--- Maps an HTTP outcome to nil (success) or an error object: the rules of
-- `kinds` above, with their hints.
-- @tparam table ctx `status`, `body` (decoded, or nil), `raw` (the body's
--  text), `decode_error`, `method`, `url`, `clock_offset` (seconds, server minus local)
-- @return nil for a success, else an error object
function _M.from_response(ctx)
  local status = ctx.status
  local body = ctx.body
  local reasons, severity = _M.reasons(body)
  local e = { status = status, method = ctx.method, url = ctx.url, reasons = reasons }

  if status >= 200 and status < 300 then
    if severity >= 2 then
      local text = concat(reasons, " "):lower()
      if text:find("not available", 1, true) or text:find("already", 1, true)
        or text:find("conflict", 1, true) or text:find("clash", 1, true) then
        e.kind = "conflict"
        e.hint = "the time is taken: list availability slots again and pick another"
      else
        e.kind = "validation"
      end
      e.message = "the request was refused"
      return _M.new(e)
    end
    if ctx.decode_error then
      e.kind = "bad_response"
      e.message = "response body is not JSON (" .. ctx.decode_error .. ")"
      return _M.new(e)
    end
    return nil
  end

  if status == 401 then
    local text = concat(reasons, " ")
    if text:lower():find("not authori[sz]ed") then
      e.kind = "forbidden"
      e.message = "the access token lacks a permission"
      e.hint = permission_hint(text)
    else
      e.kind = "invalid_token"
      e.message = "coreplus refused the token"
      -- The learnt offset is up to 1 s low (Date truncates to whole seconds):
      -- the true one lies in [offset, offset + 1), whose whole second is the
      -- ceiling; clocks in step (offset in (-1, 0]) say 0 s, not -1 s.
      local offset = ctx.clock_offset
      local seen = offset
        and (" The clock offset seen (server minus this machine) is %d s."):format(ceil(offset)) or ""
      e.hint = TOKEN_CAUSES .. "." .. seen
    end
    return _M.new(e)
  end

  e.kind = status_kind(status)
  if user_agent_block(status, reasons, ctx.raw) then
    e.kind = "blocked_user_agent"
    e.message = "coreplus refused the request's User-Agent"
    e.hint = UA_HINT
  elseif e.kind == "rate_limited" then
    e.message = "over coreplus's limit of 10 requests per second"
    e.hint = "retries were used up; lower `rate` or share one limit between processes (`shared_limit`)"
  elseif e.kind == "not_found" and no_route(status, reasons, ctx.raw) then
    local version = type(ctx.url) == "string" and ctx.url:match("/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/([^/]+)/")
    e.no_route = true
    e.message = "the server has no route for this URL" .. (version and (" under API version " .. version) or "")
    e.hint = "another API version may serve it: catalogue operations try the other version the docs name"
      .. " by themselves; with cp:request pass `version =` (coreplus CLI: --api-version)"
  elseif e.kind == "not_found" then
    e.message = "no such resource"
  elseif e.kind == "server" then
    e.message = "coreplus had a server error"
  elseif e.kind == "bad_response" then
    e.message = "unexpected HTTP status"
  else
    e.message = "the request was refused"
  end
  if body == nil and ctx.raw and #ctx.raw > 0 and #reasons == 0 then
    e.body_excerpt = ctx.raw:sub(1, 200)
  end
  return _M.new(e)
end

--- Wraps a transport failure as an error object; an unknown kind becomes `network`.
-- @param err the transport's error (`{kind =, message =, ...}`, an error object, or a string)
-- @tparam string method
-- @tparam string url
-- @return an error object
function _M.from_transport(err, method, url)
  if _M.is_error(err) then
    err.method, err.url = err.method or method, err.url or url
    return err
  end
  local e = { method = method, url = url }
  if type(err) == "table" then
    for k, v in pairs(err) do e[k] = v end
  else
    e.message = tostring(err)
  end
  e.kind = KINDS[e.kind] and e.kind or "network"
  if e.kind == "tls" and not e.hint then
    e.hint = "the server's certificate did not verify: set `cafile` to the CA that signed it"
      .. " (never `insecure` in production)"
  elseif e.kind == "timeout" and not e.hint then
    e.hint = "raise `timeout` or check the network path to coreplus"
  elseif e.kind == "limiter" and not e.hint then
    e.hint = "nothing was sent: check the shared limit (for Redis: that it answers, and the URL, password and"
      .. " `redis_cafile`), or set `on_redis_error = \"local\"` to carry on under this process's own limit"
  end
  return _M.new(e)
end

return _M
