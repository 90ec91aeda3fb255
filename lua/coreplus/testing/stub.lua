--- A stub transport for unit tests: no network, no server.
--
-- It answers the responses you register per method and path, records every
-- request, and checks each one as coreplus would (the token's signature with
-- the expected secret, its claims and time window, the credentials, the
-- User-Agent), so a spec fails when the configuration under test would fail
-- against the real API. It keeps the transport contract (coreplus.transport):
-- a request whose `deadline` has passed fails unsent; results carry the
-- contract's fields. A request that no registered route matches fails with
-- error kind `stub_missing` (the stub's own kind, with `final = true`: the
-- client never repeats it, since a missing route stays missing), never with a
-- made-up 404. With `testing` the module coreplus.testing, as your spec
-- loads it:
--
--     local stub = testing.stub{ consumer_secret = "s", now = 1700000000 }
--     stub:on("GET", "Client/", { body = { clients = {}, paging = { totalRows = 0 } } })
--     stub:on("GET", "Location/", { responses = { { status = 429 }, { status = 429 },
--       { body = { locations = {} } } } })
--     local cp = coreplus.new{ ..., consumer_secret = "s", transport = stub }
--     ...
--     assert.equal(3, stub:calls("GET", "Location/"))
--     stub:assert_all_used()
--
-- See also `coreplus.testing.busted` for `assert.coreplus_requested`.
-- @module coreplus.testing.stub
local raise = require("coreplus.misuse").raise
local callable = require("coreplus.config").callable
local cjson = require "cjson.safe"
local core = require "coreplus.core"
local jwt = require "coreplus.jwt"
local errors = require "coreplus.errors"
local token = require "coreplus.transport.token"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local setmetatable = setmetatable
local error = error
local floor = math.floor
local min = math.min
local concat = table.concat
local format = string.format

local _M = {}
local mt = { __index = _M }

local GENERIC_AGENTS = { "^curl/", "^python%-requests/", "^Mozilla/", "^Wget/", "^Go%-http%-client/",
  "^Java/", "^okhttp/", "^axios/", "^node%-fetch", "^WordPress/" }

-- stub{...} options and what each must be.
local OPTIONS = {
  consumer_id = "string", consumer_secret = "string", access_token = "string",
  skew = "number", now = "clock", rate_limit = "limit",
  allow_http = "boolean",   -- accepted for older specs; the client decides on http://
}

-- Fields of a response table, and of a route given to stub:on.
local RESPONSE_FIELDS = { status = true, body = true, headers = true, error = true }
local ROUTE_FIELDS = { responses = true, times = true }

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

local function check_options(opts)
  if type(opts) ~= "table" then raise("bad argument #1 to 'stub' (table expected, got %s)", type(opts)) end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if want == nil then raise("testing.stub: unknown option '%s'", tostring(k)) end
    local ok
    if want == "clock" then ok = type(v) == "number" or callable(v)
    elseif want == "limit" then ok = v == false or (type(v) == "number" and v >= 1)
    else ok = type(v) == want end
    if not ok then
      local what = want == "clock" and "a number (a frozen clock) or a callable"
        or want == "limit" and "a number of requests per second, or false" or "a " .. want
      raise("testing.stub: option '%s' must be %s (got %s)", k, what, type(v))
    end
  end
end

--- Makes a stub transport: `testing.stub{...}` (the same as `stub.new{...}`).
-- Pass it to `coreplus.new{..., transport = stub}`.
-- @tparam[opt] table opts
--  - `consumer_id`, `consumer_secret`, `access_token` (strings): what the
--   "server" expects; a credential left out is not checked (any value
--   passes), except that the token must verify with the client's own secret.
--  - `skew` (number, default 0): seconds the server's clock is ahead of the
--   client's; it reaches the token check and the `Date` header.
--  - `now` (number or callable): the client's clock. A number freezes it at
--   that Unix time: signing, verification, `Date` and the rate limit all
--   use it, and it moves only when the client sleeps through the stub (its
--   backoff), so retries see time pass without waiting. A callable is called
--   for the time (a clock your spec moves). Default: the real clock.
--  - `rate_limit` (number or false, default false): refuse with 429 the
--   requests of an access token beyond this many within any second of the
--   stub's clock, as coreplus does (refused requests do not count).
--  - `allow_http`: accepted for older specs, and without effect (the client's
--   own `allow_http` decides on `http://`)
-- @treturn stub the transport, with fields `requests` (every request seen,
--  in order: see `stub:on` for a record's fields) and `sleeps` (the delays
--  the client slept through the stub, in seconds)
function _M.new(opts)
  opts = opts or {}
  check_options(opts)
  local self = setmetatable({ routes = {}, requests = {}, sleeps = {}, opts = opts,
    skew = opts.skew or 0, arrivals = {} }, mt)
  -- The engine calls transport.request(opts): bind the stub into closures.
  self.request = function(req) return self:_handle(req) end
  -- Pages fetched ahead go through a pipeline, as with the C core; the
  -- stub's answers them one at a time, in order.
  self.pipeline = require("coreplus.transport").sequential_pipeline(self.request)
  -- Sleeping is recorded, not done; the stub's clock (frozen at `now =`, or
  -- the real one) moves on by what was slept, so deadlines and waits behave
  -- as they would in real time.
  local frozen = type(opts.now) == "number" and opts.now or nil
  self.slept = 0
  self.sleep = function(s)
    self.sleeps[#self.sleeps + 1] = s
    self.slept = self.slept + s
    if frozen then frozen = frozen + s end
  end
  if frozen then
    self.now = function() return frozen end
  elseif opts.now then
    local clock = opts.now
    self.now = function() return clock() end
  else
    self.now = function() return core.now() + self.slept end
  end
  return self
end

--- A stub transport (from `new`). Besides the methods below it has:
--
-- - `requests`: every request seen, in order (`stub:on` lists a record's fields)
-- - `sleeps`: the delays, in seconds, the client slept through the stub (its backoff)
-- @type stub

local function norm_path(p)
  return (p:lower():gsub("^/+", ""):gsub("/+$", ""))
end

local function path_pattern(path)
  return "^" .. norm_path(path):gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", "[^/]+") .. "$"
end

local function check_response(r, where)
  if callable(r) then return end
  if type(r) ~= "table" then
    raise("bad argument #3 to 'on' (%s: response table or callable expected, got %s)", where, type(r))
  end
  if r[1] ~= nil then
    raise("bad argument #3 to 'on' (%s: a list of responses goes in {responses = {...}})", where)
  end
  for k in pairs(r) do
    if not RESPONSE_FIELDS[k] and not (where == "response" and ROUTE_FIELDS[k]) then
      raise("bad argument #3 to 'on' (%s: unknown field '%s')", where, tostring(k))
    end
  end
end

--- Registers what the stub answers to `method path`.
--
-- A response is `{status = 200, body = table or string, headers = {...}}`
-- (all optional; a table body is sent as JSON), or
-- `{error = {kind = "network", sent = false, message = ...}}` to simulate a
-- transport failure, or a callable `fn(req)` returning one (a function or
-- anything callable, such as a luassert spy).
--
--     stub:on("GET", "Client/", { body = { clients = {}, paging = { totalRows = 0 } } })
--     stub:on("GET", "Client/*", function(req) return { body = { client = { clientId = req.path } } } end)
--     stub:on("GET", "Location/", { responses = { { status = 429 }, { body = { locations = {} } } } })
--     stub:on("POST", "Appointment/", { status = 503, times = 1 })   -- once, then older routes answer
--
-- `responses` plays its entries in order, one per request; the last one
-- repeats for every later request unless `times` is given. `times` is how
-- many requests the route answers in all; after that it is used up and the
-- request goes to an older registration of the same path (or fails with
-- `stub_missing`). Later registrations win over older ones.
--
-- A callable gets the recorded request: `req.method`, `req.url`, `req.path`
-- (relative to `/API/Core/<version>/`), `req.query` (decoded; repeated keys
-- become lists), `req.body` (decoded JSON, or the raw string), `req.raw_body`,
-- `req.claims` (the verified token's claims) and, once answered,
-- `req.status` or `req.error`. These records are also `stub.requests`.
-- @tparam string method `"GET"`, `"POST"`, ... (any case)
-- @tparam string path relative to `/API/Core/<version>/`: case-insensitive,
--  trailing slash optional, `\*` matches one segment (`"Client/\*"`)
-- @tparam table|function response a response, a callable, or
--  `{responses = {...}, times = n}`
-- @treturn stub the stub itself (calls can be chained)
function _M:on(method, path, response)
  if type(method) ~= "string" then raise("bad argument #1 to 'on' (method string expected, got %s)", type(method)) end
  if type(path) ~= "string" then raise("bad argument #2 to 'on' (path string expected, got %s)", type(path)) end
  check_response(response, "response")
  local list, times = { response }, nil
  if not callable(response) then
    times = response.times
    if times ~= nil and (type(times) ~= "number" or times < 1 or times % 1 ~= 0) then
      raise("bad argument #3 to 'on' (times must be a positive integer)")
    end
    if response.responses ~= nil then
      list = response.responses
      if type(list) ~= "table" or list[1] == nil then
        raise("bad argument #3 to 'on' (responses must be a non-empty list)")
      end
      for k in pairs(response) do
        if not ROUTE_FIELDS[k] then
          raise("bad argument #3 to 'on' (field '%s' belongs in each of responses, not beside them)", tostring(k))
        end
      end
      for i, r in ipairs(list) do check_response(r, "responses[" .. i .. "]") end
    end
  end
  table.insert(self.routes, 1, { method = method:upper(), path = path, pattern = path_pattern(path),
    responses = list, times = times, used = 0 })
  return self
end

--- Forgets the requests, sleeps and rate-limit window seen so far, and
-- rewinds every route's responses and `times`; the routes stay registered.
function _M:reset()
  self.requests, self.sleeps, self.arrivals = {}, {}, {}
  for _, r in ipairs(self.routes) do r.used = 0 end
end

local function matches(method, pattern, record)
  return (method == nil or record.method == method) and (pattern == nil or norm_path(record.path):match(pattern))
end

--- How many requests matched `method` and `path` so far (retries count one
-- each; refused requests count too).
-- @tparam[opt] string method any case; nil counts every method
-- @tparam[opt] string path as for `stub:on` (`\*` matches a segment); nil counts every path
-- @treturn integer
function _M:calls(method, path)
  if method ~= nil and type(method) ~= "string" then
    raise("bad argument #1 to 'calls' (method string expected, got %s)", type(method))
  end
  if path ~= nil and type(path) ~= "string" then
    raise("bad argument #2 to 'calls' (path string expected, got %s)", type(path))
  end
  local m, pattern = method and method:upper(), path and path_pattern(path)
  local n = 0
  for _, record in ipairs(self.requests) do
    if matches(m, pattern, record) then n = n + 1 end
  end
  return n
end

--- The requests that matched `method` and `path`, in order (the records of
-- `stub.requests`; see `stub:on`).
-- @tparam[opt] string method
-- @tparam[opt] string path
-- @treturn {table,...}
function _M:requests_for(method, path)
  local m, pattern = method and method:upper(), path and path_pattern(path)
  local out = {}
  for _, record in ipairs(self.requests) do
    if matches(m, pattern, record) then out[#out + 1] = record end
  end
  return out
end

local function route_name(r)
  return r.method .. " " .. r.path
end

--- Raises (an assertion failure) unless every registered route was used as
-- registered: called at least once, every entry of `responses` played, and
-- `times` reached. The message names each route that was not.
function _M:assert_all_used()
  local unused = {}
  for i = #self.routes, 1, -1 do
    local r = self.routes[i]
    local want = r.times or #r.responses
    if r.used < want then
      unused[#unused + 1] = format("%s (answered %d of %d)", route_name(r), r.used, want)
    end
  end
  if #unused > 0 then
    error("stub: registered but not used as expected: " .. concat(unused, "; "), 2)
  end
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
  local signed = token.sign(req, self.now())
  local server_now = self.now() + self.skew
  local claims, err = jwt.decode(signed, o.consumer_secret or c.consumer_secret, { now = server_now })
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

-- At most `rate_limit` arrivals per access token in any second of the
-- stub's clock; refused arrivals do not count (as the mock does).
function _M:_rate_limited(access_token)
  local limit = self.opts.rate_limit
  if not limit then return nil end
  local now = self.now() + self.skew
  local seen = self.arrivals[access_token] or {}
  local kept = {}
  for _, t in ipairs(seen) do
    if now - t < 1 then kept[#kept + 1] = t end
  end
  self.arrivals[access_token] = kept
  if #kept >= limit then
    return refuse(429, "Too Many Requests", "more than " .. limit .. " requests in one second")
  end
  kept[#kept + 1] = now
  return nil
end

function _M:_route(record)
  local path = norm_path(record.path)
  for _, r in ipairs(self.routes) do
    if r.method == record.method and path:match(r.pattern) and not (r.times and r.used >= r.times) then
      return r
    end
  end
  return nil
end

function _M:_missing(record)
  local known = {}
  for i = #self.routes, 1, -1 do
    local r = self.routes[i]
    known[#known + 1] = route_name(r) .. ((r.times and r.used >= r.times) and " (used up)" or "")
  end
  local what = record.method .. " " .. record.path
  return errors.new{ kind = "stub_missing", method = record.method, url = record.url, sent = false,
    final = true, message = "no stub route for " .. what .. "; registered: "
      .. (#known > 0 and concat(known, ", ") or "none"),
    hint = format("register one: stub:on(%q, %q, { body = ... })", record.method, record.path) }
end

local function answer_of(route, record)
  route.used = route.used + 1
  local answer = route.responses[min(route.used, #route.responses)]
  if callable(answer) then answer = answer(record) end
  if answer == nil then answer = {} end
  if type(answer) ~= "table" then
    error(format("stub: the callable for %s returned %s, not a response table", route_name(route),
      type(answer)), 0)
  end
  return answer
end

function _M:_handle(req)
  if type(req) ~= "table" or type(req.url) ~= "string" or (req.method ~= nil and type(req.method) ~= "string") then
    raise("stub transport: request table with url (and method) expected")
  end
  if req.method == nil or req.method ~= req.method:upper() then   -- "GET" by default, as the transports
    local copy = {}
    for k, v in pairs(req) do copy[k] = v end
    copy.method = (req.method or "GET"):upper()
    req = copy
  end
  local scheme, rest = req.url:match("^(%a+)://[^/]+(/.*)$")
  if not (scheme == "http" or scheme == "https") then
    raise("stub transport: an absolute http(s) URL expected, got %s", req.url)
  end
  if req.body ~= nil and type(req.body) ~= "string" then
    raise("stub transport: bad field 'body' (string expected, got %s)", type(req.body))
  end
  if req.deadline and self.now() >= req.deadline then   -- nothing leaves: nothing is recorded
    return nil, { kind = "timeout", sent = false, method = req.method, url = req.url, elapsed = 0, waited = 0,
      message = format("the deadline had passed (%.2f s ago) before the request could start",
        self.now() - req.deadline) }
  end
  local path, query = rest:match("^([^?]*)%??(.*)$")
  local rel = path:match("^/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/[^/]+/(.*)$") or path
  local record = { method = req.method, url = req.url, path = rel, query = parse_query(query),
    body = req.body and (cjson.decode(req.body) or req.body), raw_body = req.body,
    multipart = _M.parts(req.multipart) }
  self.requests[#self.requests + 1] = record

  local res = self:_check(req, record) or self:_rate_limited(req.credentials.access_token)
  if not res then
    local route = self:_route(record)
    if not route then
      local err = self:_missing(record)
      record.error = err.kind
      return nil, err
    end
    local answer = answer_of(route, record)
    if answer.error then
      local err = answer.error
      record.error = err.kind
      if type(err) == "table" then
        err.method, err.url = err.method or req.method, err.url or req.url
        err.elapsed, err.waited = err.elapsed or 0, err.waited or 0
      end
      return nil, err
    end
    local body = answer.body
    if type(body) == "table" then body = cjson.encode(body) end
    local headers = { ["content-type"] = "application/json" }
    for k, v in pairs(answer.headers or {}) do headers[k:lower()] = v end
    res = { status = answer.status or 200, headers = headers, body = body or "" }
  end
  res.headers.date = res.headers.date or http_date(self.now() + self.skew)
  res.sent, res.elapsed, res.waited, res.new_connection = true, 0, 0, false
  record.status = res.status
  return res
end

return _M
