--- A stub transport for users' unit tests: no network. It answers registered
-- responses per method and path, records every request, and checks each one
-- as coreplus would (token signature with the expected secret, claims, time
-- window, credentials, User-Agent), so a spec fails when the configuration
-- under test would fail against the real API.
--
--   local stub = require("coreplus.testing").stub{ consumer_secret = "s" }
--   stub:on("GET", "Client/", { body = { clients = {...}, paging = {...} } })
--   local cp = coreplus.new{ ..., transport = stub }
local raise = require("coreplus.misuse").raise
local cjson = require "cjson.safe"
local core = require "coreplus.core"
local jwt = require "coreplus.jwt"

local type = type
local pairs = pairs
local tostring = tostring
local setmetatable = setmetatable
local error = error
local floor = math.floor

local _M = {}
local mt = { __index = _M }

local GENERIC_AGENTS = { "^curl/", "^python%-requests/", "^Mozilla/", "^Wget/", "^Go%-http%-client/",
  "^Java/", "^okhttp/", "^axios/", "^node%-fetch", "^WordPress/" }

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function parse_query(q)
  local out = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k, v = unescape(k), unescape(v)
    local prev = out[k]
    if prev == nil then
      out[k] = v
    elseif type(prev) == "table" then
      prev[#prev + 1] = v
    else
      out[k] = { prev, v }
    end
  end
  return out
end

local function http_date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", floor(t))
end

--- stub{consumer_id=, consumer_secret=, access_token=, skew=, allow_http=}:
-- credentials left out are not checked (any value passes).
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then raise("%s", "bad argument #1 to 'stub' (table expected)") end
  local self = setmetatable({ routes = {}, requests = {}, sleeps = {}, opts = opts,
    skew = opts.skew or 0 }, mt)
  -- The client calls transport.request(opts): bind the stub into closures.
  self.request = function(req) return self:_handle(req) end
  self.request_many = function(list)
    local out = {}
    for i, req in ipairs(list) do
      local res, err = self:_handle(req)
      out[i] = res or { error = err }
    end
    return out
  end
  -- Pages fetched ahead go through a pipeline, as with the C core; the
  -- stub's answers them one at a time, in order.
  self.pipeline = require("coreplus.transport").sequential_pipeline(self.request)
  -- Sleeping is recorded, not done; the stub's clock moves on by what was
  -- slept, so deadlines and waits behave as they would in real time.
  self.slept = 0
  self.sleep = function(s)
    self.sleeps[#self.sleeps + 1] = s
    self.slept = self.slept + s
  end
  self.now = function() return core.now() + self.slept end
  return self
end

local function norm_path(p)
  return (p:lower():gsub("^/+", ""):gsub("/+$", ""))
end

--- stub:on(method, path, response): path is relative to /API/Core/<version>/
-- (case-insensitive, trailing slash optional; "*" matches one segment).
-- response: {status=, body= (table or string), headers=} or a function(req)
-- returning one. Later registrations win.
function _M:on(method, path, response)
  if type(method) ~= "string" then raise("%s", "bad argument #1 to 'on' (method expected)") end
  if type(path) ~= "string" then raise("%s", "bad argument #2 to 'on' (path expected)") end
  local t = type(response)
  if t ~= "table" and t ~= "function" then
    raise("%s", "bad argument #3 to 'on' (response table or function expected)")
  end
  local pattern = "^" .. norm_path(path):gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", "[^/]+") .. "$"
  table.insert(self.routes, 1, { method = method:upper(), pattern = pattern, response = response })
  return self
end

function _M:reset()
  self.requests, self.sleeps = {}, {}
end

local function refuse(status, reason, detail)
  return { status = status, headers = { ["content-type"] = "application/json" },
    body = cjson.encode{ result = { { severity = 2, reason = reason } }, detail = detail }, elapsed = 0 }
end

-- The checks the real API makes, in the order it would make them.
function _M:_check(req, record)
  local o = self.opts
  local c = req.credentials
  if type(c) ~= "table" then return refuse(401, "Invalid token", "request was not signed") end
  for _, k in ipairs({ "consumer_id", "consumer_secret", "access_token" }) do
    if type(c[k]) ~= "string" or c[k] == "" then
      return refuse(401, "Invalid token", "credential " .. k .. " is missing")
    end
  end
  local ua = req.user_agent or "lua-coreplus/" .. core.version
  for _, p in ipairs(GENERIC_AGENTS) do
    if ua == "" or ua:find(p) then return refuse(403, "Forbidden", "generic User-Agent refused") end
  end
  for name, value in pairs(req.headers or {}) do
    if tostring(name):lower() == "authorization" or tostring(name):lower() == "content-type" then
      return refuse(401, "Invalid token", "header " .. name .. " overridden")
    end
    if tostring(value):find("[\r\n]") then error("header value with CR/LF reached the transport", 0) end
  end
  -- Sign exactly as the C core does, then verify as the server would.
  local now = core.now() + (req.now_offset or 0)
  local token = core.sign{ consumer_id = c.consumer_id, consumer_secret = c.consumer_secret,
    access_token = c.access_token, url = req.url, method = req.method,
    issuer = req.issuer, audience = req.audience, now = now }
  local server_now = core.now() + self.skew
  local claims, err = jwt.decode(token, o.consumer_secret or c.consumer_secret, { now = server_now })
  if not claims then return refuse(401, "Invalid token", err.message) end
  record.claims = claims
  if claims.url ~= req.url or claims.httpMethod ~= req.method then
    return refuse(401, "Invalid token", "url or method claim differs")
  end
  if o.consumer_id and claims.consumerId ~= o.consumer_id then
    return refuse(401, "Invalid token", "unknown consumer")
  end
  if o.access_token and claims.accessToken ~= o.access_token then
    return refuse(401, "Invalid token", "unknown access token")
  end
  return nil
end

--- The parts of a multipart request as a spec reads them: {name, filename,
-- type, data (a file part's bytes read from its path), json (data decoded,
-- when it is JSON)}; nil for other requests.
function _M.parts(list)
  if type(list) ~= "table" then return nil end
  local out = {}
  for i, p in ipairs(list) do
    local data = p.data
    if p.path then
      local f = io.open(p.path, "rb")
      data = f and f:read("a")
      if f then f:close() end
    end
    out[i] = { name = p.name, filename = p.filename, type = p.type, data = data,
      json = type(data) == "string" and cjson.decode(data) or nil }
  end
  return out
end

function _M:_handle(req)
  if type(req) ~= "table" or type(req.url) ~= "string" or type(req.method) ~= "string" then
    raise("%s", "stub transport: request table with url and method expected")
  end
  local scheme, rest = req.url:match("^(%a+)://[^/]+(/.*)$")
  if not scheme then raise("%s", "stub transport: absolute URL expected, got " .. req.url) end
  local path, query = rest:match("^([^?]*)%??(.*)$")
  local rel = path:match("^/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/[^/]+/(.*)$") or path
  local record = { method = req.method, url = req.url, path = rel, query = parse_query(query),
    body = req.body and (cjson.decode(req.body) or req.body), raw_body = req.body,
    multipart = _M.parts(req.multipart) }
  self.requests[#self.requests + 1] = record

  local res = self:_check(req, record)
  if not res then
    local route
    for _, r in ipairs(self.routes) do
      if r.method == req.method and norm_path(rel):match(r.pattern) then route = r; break end
    end
    if not route then
      res = refuse(404, "Not found", "no stub registered for " .. req.method .. " " .. rel)
    else
      local answer = route.response
      if type(answer) == "function" then answer = answer(record) end
      if answer == nil then answer = {} end
      if answer.error then return nil, answer.error end
      local body = answer.body
      if type(body) == "table" then body = cjson.encode(body) end
      local headers = { ["content-type"] = "application/json" }
      for k, v in pairs(answer.headers or {}) do headers[k:lower()] = v end
      res = { status = answer.status or 200, headers = headers, body = body or "", elapsed = 0 }
    end
  end
  res.headers.date = res.headers.date or http_date(core.now() + self.skew)
  record.status = res.status
  return res
end

return _M
