--- The client: options, URL building, the call pipeline (sign and send through
-- the transport, retry, learn the server's clock, decode, map errors).
local cjson = require "cjson.safe"
local core = require "coreplus.core"
local errors = require "coreplus.errors"
local url = require "coreplus.url"
local dates = require "coreplus.dates"
local resources = require "coreplus.catalogue"
local resource = require "coreplus.resource"
local transports = require "coreplus.transport"

local type = type
local pairs = pairs
local tostring = tostring
local tonumber = tonumber
local setmetatable = setmetatable
local error = error
local min = math.min
local max = math.max
local floor = math.floor

local _M = { _VERSION = core.version }
local mt = { __index = _M }

-- Credentials live here, not in fields of the client, so that dumping or
-- printing a client can never show them.
local secrets = setmetatable({}, { __mode = "k" })

local DEFAULTS = {
  version = "v2.1",
  audience = "https://coreplus.com.au",
  issuer = "lua-coreplus",
  rate = 10, per = 1.0,
  retries = 3, timeout = 45, connect_timeout = 10,
  concurrency = 4,
  max_body = 16 * 1024 * 1024,
  backoff = 0.5, backoff_max = 8,
}

-- name -> expected type; anything else is refused by name.
local OPTIONS = {
  base_url = "string", version = "string",
  consumer_id = "string", consumer_secret = "string", access_token = "string",
  issuer = "string", audience = "string",
  rate = "number", per = "number", shared_limit = "string",
  on_redis_error = "string", redis_timeout = "number",   -- shared_limit = "redis://..."
  retries = "number", timeout = "number", connect_timeout = "number",
  cafile = "string", capath = "string", insecure = "boolean", user_agent = "string",
  concurrency = "number", transport = "any", on_request = "function",
  allow_http = "boolean", max_body = "number",
  backoff = "number", backoff_max = "number",
  sleep = "function", random = "function", now = "function",
}

local MAX_OPTION_LEN = 64 * 1024

local function check_option(name, value)
  local want = OPTIONS[name]
  if want == nil then
    error(("coreplus.new: unknown option '%s'"):format(tostring(name)), 4)
  end
  if want ~= "any" and type(value) ~= want then
    error(("coreplus.new: option '%s' must be a %s (got %s)"):format(name, want, type(value)), 4)
  end
  if type(value) == "string" and value:find("[\r\n%z]") then
    error(("coreplus.new: option '%s' contains a control character"):format(name), 4)
  end
  -- Far above any real value; a bigger one would otherwise fail later, deep
  -- in signing, with a message that does not say which option is wrong.
  if type(value) == "string" and #value > MAX_OPTION_LEN then
    error(("coreplus.new: option '%s' is longer than %d bytes"):format(name, MAX_OPTION_LEN), 4)
  end
end

local function positive(opts, name, allow_zero)
  local v = opts[name]
  if v ~= v or v < 0 or (v == 0 and not allow_zero) or v == math.huge then
    error(("coreplus.new: option '%s' must be a positive number"):format(name), 4)
  end
end

-- A key that tells customers apart in the limiter without carrying the
-- access token itself (limiter stats are printable).
local function limiter_key(base_url, consumer_id, access_token)
  local digest = core.jwt_encode(access_token, "lua-coreplus limiter key"):match("([^.]+)$")
  return base_url .. " " .. consumer_id .. " " .. digest:sub(1, 16)
end

--- coreplus.new{...}: see README "Configuration".
function _M.new(opts)
  if type(opts) ~= "table" then
    error("coreplus.new: options table expected, got " .. type(opts), 2)
  end
  for k, v in pairs(opts) do check_option(k, v) end
  local o = {}
  for k, v in pairs(DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end

  for _, name in ipairs({ "base_url", "consumer_id", "consumer_secret", "access_token" }) do
    if o[name] == nil or o[name] == "" then
      error(("coreplus.new: option '%s' is required"):format(name), 2)
    end
  end
  local scheme = o.base_url:match("^(%a[%w+.-]*)://[^/]")
  if scheme ~= "https" and not (scheme == "http" and o.allow_http) then
    error("coreplus.new: option 'base_url' must be an https:// URL (http only with allow_http = true)", 2)
  end
  for _, name in ipairs({ "rate", "per", "timeout", "connect_timeout", "concurrency", "max_body" }) do
    positive(o, name)
  end
  positive(o, "retries", true)
  -- floored below; the C core's pipeline holds at most 256 requests
  if floor(o.concurrency) < 1 or o.concurrency > 256 then
    error("coreplus.new: option 'concurrency' must be a number from 1 to 256", 2)
  end
  if o.version:find("[^%w._-]") then
    error("coreplus.new: option 'version' must look like v2.1", 2)
  end

  local transport = transports.resolve(o.transport)
  local base_url = o.base_url:gsub("/+$", "")
  local self = setmetatable({
    base_url = base_url,
    version = o.version,
    base = base_url .. "/API/Core/" .. o.version .. "/",
    consumer_id = o.consumer_id,
    issuer = o.issuer, audience = o.audience,
    retries = floor(o.retries), timeout = o.timeout, connect_timeout = o.connect_timeout,
    cafile = o.cafile, capath = o.capath, insecure = o.insecure or false,
    user_agent = o.user_agent, max_body = o.max_body,
    concurrency = floor(o.concurrency),
    backoff = o.backoff, backoff_max = o.backoff_max,
    on_request = o.on_request,
    transport = transport,
    sleep = o.sleep or transport.sleep or core.sleep,
    random = o.random or math.random,
    now = o.now or transport.now or core.now,
    clock_offset = nil,       -- server minus local, learnt from Date headers
  }, mt)
  secrets[self] = { consumer_id = o.consumer_id, consumer_secret = o.consumer_secret,
    access_token = o.access_token }
  if transport.limiter then
    local ok, lim = pcall(transport.limiter, { rate = o.rate, per = o.per, shared = o.shared_limit,
      on_redis_error = o.on_redis_error, redis_timeout = o.redis_timeout,
      key = limiter_key(base_url, o.consumer_id, o.access_token) })
    if not ok then
      -- the limiter names its own fields; say the client's option instead
      local msg = tostring(lim):gsub("^.-bad field '([%w_]+)'", function(f)
        return "coreplus.new: option '" .. (f == "shared" and "shared_limit" or f) .. "'"
      end)
      error(msg, 2)
    end
    self.limiter = lim
  end
  for name, row in pairs(resources) do
    self[name] = resource.new(self, name, row)
  end
  return self
end

function mt.__tostring(self)
  return ("coreplus client %s (consumer %s)"):format(self.base, self.consumer_id)
end

-- ===== the call pipeline =====

local IDEMPOTENT = { GET = true, HEAD = true, DELETE = true, OPTIONS = true }

local function encode_body(body)
  if body == nil then return nil end
  if type(body) == "string" then return body end
  if type(body) ~= "table" then
    error("bad argument 'body' (table or string expected, got " .. type(body) .. ")", 4)
  end
  local json, err = cjson.encode(body)
  if not json then
    error("bad argument 'body' (" .. tostring(err) .. ")", 4)
  end
  return json
end

--- The options table for one send: exactly what core.request takes. Built
-- anew for every attempt so each one carries a fresh token.
function _M:_request_opts(method, full_url, payload)
  return {
    method = method, url = full_url, body = payload,
    credentials = secrets[self],
    issuer = self.issuer, audience = self.audience,
    now_offset = self.clock_offset or 0,
    timeout = self.timeout, connect_timeout = self.connect_timeout,
    cafile = self.cafile, capath = self.capath, insecure = self.insecure,
    user_agent = self.user_agent, limiter = self.limiter, max_body = self.max_body,
  }
end

-- The Date header says the server's time to the second, truncated, so the
-- estimate is never ahead of the server: nbf is never in the server's future.
function _M:_learn_clock(res, received_at)
  local headers = res.headers
  local server = headers and dates.http_date(headers.date)
  if not server then return end
  local estimate = server - received_at
  local current = self.clock_offset
  if current == nil or estimate > current or current - estimate > 2 then
    self.clock_offset = estimate
  end
end

function _M:_notify(info)
  local hook = self.on_request
  if hook then
    local ok, err = pcall(hook, info)
    if not ok and io and io.stderr then
      io.stderr:write("coreplus: on_request hook failed: ", tostring(err), "\n")
    end
  end
end

local function header(res, name)
  return res.headers and res.headers[name]
end

function _M:_backoff(attempt, retry_after)
  if retry_after then
    return min(retry_after, self.backoff_max * 4) + self.random() * 0.1
  end
  return self.random() * min(self.backoff_max, self.backoff * 2 ^ (attempt - 1))
end

-- lua-cjson decodes every number as a float under Lua 5.4; ids, counts and
-- durations are integers and should print as such (60, not 60.0).
local tointeger = math.tointeger
local function integers(t, depth)
  if depth > 64 then return end
  for k, v in pairs(t) do
    local tv = type(v)
    if tv == "number" then
      local i = tointeger(v)
      if i then t[k] = i end
    elseif tv == "table" then
      integers(v, depth + 1)
    end
  end
end

--- Turns a transport response into decoded or (nil, err).
function _M:_interpret(method, full_url, res)
  local decoded, decode_error
  local body = res.body
  if body ~= nil and body ~= "" then
    decoded, decode_error = cjson.decode(body)
    if decoded == nil then
      decode_error = decode_error or "invalid JSON"
    elseif tointeger and type(decoded) == "table" then
      integers(decoded, 0)
    end
  elseif res.status >= 200 and res.status < 300 then
    decoded = {}
  end
  local err = errors.from_response{ status = res.status, body = decoded, raw = body,
    decode_error = decode_error, method = method, url = full_url,
    clock_offset = self.clock_offset }
  if err then return nil, err end
  if type(decoded) ~= "table" then
    return nil, errors.new{ kind = "bad_response", status = res.status, method = method,
      url = full_url, message = "response body is not a JSON object or array" }
  end
  return decoded
end

-- Decides whether a failed attempt may be repeated, and why (for the hook).
function _M:_retry_reason(method, res, terr, attempt, err)
  if attempt > self.retries then return nil end
  if res then
    if res.status == 429 then return "rate_limited" end
    if res.status == 503 and IDEMPOTENT[method] then return "unavailable" end
    -- A refused token was not processed; one more try with the clock just
    -- learnt from this response fixes a skewed local clock.
    if err and err.kind == "invalid_token" and attempt == 1 and err.clock_changed then
      return "clock_skew"
    end
    return nil
  end
  if terr.kind == "tls" or terr.kind == "too_large" or terr.kind == "limiter" then return nil end
  if IDEMPOTENT[method] then return "transport" end
  if terr.sent == false then return "not_sent" end
  return nil
end

--- Sends one request with retries. Returns decoded, res | nil, err.
function _M:_call(method, path, query, body)
  local full_url = url.build(self.base, path, query)
  local payload = encode_body(body)
  local transport = self.transport
  local attempt = 0
  while true do
    attempt = attempt + 1
    local offset_before = self.clock_offset
    local started = self.now()
    local res, terr = transport.request(self:_request_opts(method, full_url, payload))
    local finished = self.now()
    local decoded, err
    if res then
      self:_learn_clock(res, finished)
      decoded, err = self:_interpret(method, full_url, res)
      if err and err.kind == "invalid_token" then
        err.clock_changed = (self.clock_offset or 0) - (offset_before or 0) >= 5
          or (self.clock_offset or 0) - (offset_before or 0) <= -5
      end
    else
      err = errors.from_transport(terr, method, full_url)
    end
    local reason = err and self:_retry_reason(method, res, terr or {}, attempt, err)
    self:_notify{ method = method, url = full_url, status = res and res.status, attempt = attempt,
      elapsed = finished - started, error = err and err.kind, retry = reason }
    if not err then return decoded, res end
    if not reason then
      err.clock_changed = nil
      err.attempts = attempt
      if not res and not IDEMPOTENT[method] and terr and terr.sent ~= false then
        err.outcome = "unknown"
        err.hint = "the request may have reached coreplus, so it was not repeated: check whether it"
          .. " took effect (for a booking, list the appointments of that slot) before trying again"
      end
      return nil, err
    end
    local retry_after = res and tonumber(header(res, "retry-after"))
    self.sleep(max(0, self:_backoff(attempt, retry_after)))
  end
end

--- The escape hatch: cp:request(method, path, {query=, body=}) for endpoints
-- the catalogue does not have yet. `path` is relative to /API/Core/<version>/.
function _M:request(method, path, opts)
  if type(method) ~= "string" or not method:match("^%a+$") then
    error("bad argument #1 to 'request' (HTTP method expected)", 2)
  end
  if type(path) ~= "string" or path:find("[%c ?#]") or path:find("%.%.") then
    error("bad argument #2 to 'request' (path without spaces, '?', '#' or '..' expected)", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #3 to 'request' (table expected, got " .. type(opts) .. ")", 2)
  end
  opts = opts or {}
  return self:_call(method:upper(), path:gsub("^/+", ""), opts.query, opts.body)
end

--- The GET options for path + query (pages fetched ahead build these).
function _M:_get_opts(path, query)
  return self:_request_opts("GET", url.build(self.base, path, query))
end

--- Finishes a GET that was sent outside _call (fetched ahead): decoded on
-- success; otherwise the request goes through _call's retry policy alone.
function _M:_finish_get(opts, res, terr, path, query)
  local err
  if res then
    self:_learn_clock(res, self.now())
    local decoded
    decoded, err = self:_interpret("GET", opts.url, res)
    self:_notify{ method = "GET", url = opts.url, status = res.status, attempt = 1,
      elapsed = res.elapsed, error = err and err.kind }
    if decoded then return decoded end
  else
    err = errors.from_transport(terr, "GET", opts.url)
    self:_notify{ method = "GET", url = opts.url, attempt = 1, error = terr and terr.kind }
  end
  -- A failure _call would not repeat (4xx, retries = 0) is final; a refused
  -- token gets one more try with the clock learnt meanwhile.
  local reason = self:_retry_reason("GET", res, terr or {}, 1, err)
  if not reason and not (err.kind == "invalid_token" and self.retries > 0) then
    err.attempts = 1
    return nil, err
  end
  if reason then
    self.sleep(max(0, self:_backoff(1, res and tonumber(header(res, "retry-after")))))
  end
  return self:_call("GET", path, query)
end

--- Sends several GETs at once. list[i] = {path=, query=}; returns
-- results[i] = {decoded} or {nil, err}, in order.
function _M:_get_many(list)
  local transport = self.transport
  local reqs = {}
  for i, item in ipairs(list) do reqs[i] = self:_get_opts(item.path, item.query) end
  local results
  if transport.request_many and #reqs > 1 then
    results = transport.request_many(reqs, { concurrency = self.concurrency })
  else
    results = {}
    for i, r in ipairs(reqs) do
      local res, err = transport.request(r)
      results[i] = res or { error = err }
    end
  end
  local out = {}
  for i, r in ipairs(results) do
    local res = not r.error and r or nil
    out[i] = { self:_finish_get(reqs[i], res, r.error, list[i].path, list[i].query) }
  end
  return out
end

return _M
