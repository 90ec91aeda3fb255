--- The request engine: every request of a client goes through here. It owns
-- the attempt loop and the rule for repeating an attempt, which methods are
-- idempotent, mapping responses to errors, and learning the server's clock.
-- The rest of the package (client, resources, pager) uses only this
-- interface:
--
--   engine.new(o, credentials, transport, limiter) -> eng
--   eng:call(method, path, {query=, body=, headers=, version=}) -> decoded, res | nil, err
--   eng:stream() -> s       GETs in flight, fetched ahead (up to `concurrency`)
--     s:add(path, query) -> id     s:next() -> id, decoded | id, nil, err | nil
--     s:pending()  s:capacity()  s:close()
--   eng.concurrency, eng.clock_offset (seconds, server minus local; nil until learnt)
--   engine.IDEMPOTENT       the methods that may be repeated after a failure
local cjson = require "cjson.safe"
local config = require "coreplus.config"
local errors = require "coreplus.errors"
local url = require "coreplus.url"
local dates = require "coreplus.dates"

local type = type
local tostring = tostring
local tonumber = tonumber
local setmetatable = setmetatable
local pairs = pairs
local min = math.min
local max = math.max
local tointeger = math.tointeger

local _M = {}
local mt = { __index = _M }

-- Credentials live here, not in fields of the engine, so that walking a
-- client (inspect, a debugger, tostring) can never reach them.
local secrets = setmetatable({}, { __mode = "k" })

--- Methods whose repetition cannot do twice what was asked. The C core (which
-- opens a fresh connection for the others) and the ngx transport read this
-- same set.
local IDEMPOTENT = config.core.idempotent
_M.IDEMPOTENT = IDEMPOTENT

--- eng = engine.new(o, credentials, transport, limiter): `o` is the checked
-- client options (config.check).
function _M.new(o, credentials, transport, limiter)
  local self = setmetatable({
    base_url = o.base_url, version = o.version,
    issuer = o.issuer, audience = o.audience,
    retries = o.retries, timeout = o.timeout, connect_timeout = o.connect_timeout,
    cafile = o.cafile, capath = o.capath, insecure = o.insecure,
    user_agent = o.user_agent, max_body = o.max_body,
    concurrency = o.concurrency,
    backoff = o.backoff, backoff_max = o.backoff_max,
    on_request = o.on_request,
    transport = transport, limiter = limiter,
    sleep = o.sleep or transport.sleep,
    random = o.random or math.random,
    now = o.now or transport.now,
    clock_offset = nil,
  }, mt)
  secrets[self] = credentials
  return self
end

-- ===== one attempt =====

local function encode_body(body)
  if body == nil or type(body) == "string" then return body end
  if type(body) ~= "table" then
    require("coreplus.misuse").raise("bad argument 'body' (table or string expected, got %s)", type(body))
  end
  local json, err = cjson.encode(body)
  if not json then
    require("coreplus.misuse").raise("bad argument 'body' (%s)", tostring(err))
  end
  return json
end

--- What the transport is given for one attempt: exactly core.request's
-- options, built anew for every attempt so each carries a fresh token.
function _M:request_opts(req)
  return {
    method = req.method, url = req.url, body = req.payload, headers = req.headers,
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
function _M:learn_clock(res, received_at)
  local headers = res.headers
  local server = headers and dates.http_date(headers.date)
  if not server then return end
  local estimate = server - received_at
  local current = self.clock_offset
  if current == nil or estimate > current or current - estimate > 2 then
    self.clock_offset = estimate
  end
end

function _M:notify(info)
  local hook = self.on_request
  if hook then
    local ok, err = pcall(hook, info)
    if not ok and io and io.stderr then
      io.stderr:write("coreplus: on_request hook failed: ", tostring(err), "\n")
    end
  end
end

-- lua-cjson decodes every number as a float under Lua 5.4; ids, counts and
-- durations are integers and should print as such (60, not 60.0).
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
function _M:interpret(method, full_url, res)
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

-- ===== the rule for repeating =====

--- Whether a failed attempt may be repeated, and why (the reason goes to the
-- on_request hook). nil: the failure is final.
function _M:retry_reason(method, res, terr, attempt, err)
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
  if terr.kind == "tls" or terr.kind == "too_large" or terr.kind == "limiter"
    or terr.kind == "stub_missing" then return nil end   -- a test's missing route stays missing
  if IDEMPOTENT[method] then return "transport" end
  if terr.sent == false then return "not_sent" end
  return nil
end

function _M:backoff_delay(attempt, retry_after)
  if retry_after then
    return min(retry_after, self.backoff_max * 4) + self.random() * 0.1
  end
  return self.random() * min(self.backoff_max, self.backoff * 2 ^ (attempt - 1))
end

-- The outcome of one attempt: decoded | nil, err (with err.clock_changed when
-- a refused token met a clock that moved meanwhile).
function _M:outcome(req, res, terr, finished, offset_before)
  if not res then return nil, errors.from_transport(terr, req.method, req.url) end
  self:learn_clock(res, finished)
  local decoded, err = self:interpret(req.method, req.url, res)
  if err and err.kind == "invalid_token" then
    local moved = (self.clock_offset or 0) - (offset_before or 0)
    err.clock_changed = moved >= 5 or moved <= -5
  end
  return decoded, err
end

local function final(err, req, res, terr, attempt)
  err.clock_changed = nil
  err.attempts = attempt
  if not res and not IDEMPOTENT[req.method] and terr and terr.sent ~= false then
    err.outcome = "unknown"
    err.hint = "the request may have reached coreplus, so it was not repeated: check whether it"
      .. " took effect (for a booking, list the appointments of that slot) before trying again"
  end
  return nil, err
end

--- Runs req to its end: sends, and repeats while the rule allows. `first` is
-- an attempt already made elsewhere (a page fetched ahead):
-- {res=, terr=, started=, finished=, offset=}.
function _M:run(req, first)
  local transport = self.transport
  local attempt = 0
  while true do
    attempt = attempt + 1
    local res, terr, started, finished, offset_before
    if first then
      res, terr, started, finished, offset_before = first.res, first.terr, first.started,
        first.finished, first.offset
      first = nil
    else
      offset_before = self.clock_offset
      started = self.now()
      res, terr = transport.request(self:request_opts(req))
      finished = self.now()
    end
    local decoded, err = self:outcome(req, res, terr, finished, offset_before)
    local reason = err and self:retry_reason(req.method, res, terr or {}, attempt, err)
    self:notify{ method = req.method, url = req.url, status = res and res.status, attempt = attempt,
      elapsed = finished - started, error = err and err.kind, retry = reason }
    if not err then return decoded, res end
    if not reason then return final(err, req, res, terr, attempt) end
    local retry_after = res and res.headers and tonumber(res.headers["retry-after"])
    self.sleep(max(0, self:backoff_delay(attempt, retry_after)))
  end
end

-- ===== the interface =====

local function request(self, method, path, opts)
  local base = url.api_base(self.base_url, opts and opts.version or self.version)
  return { method = method, url = url.build(base, path, opts and opts.query),
    payload = encode_body(opts and opts.body), headers = opts and opts.headers }
end

--- eng:call(method, path, {query=, body=, headers=, version=}) -> decoded, res | nil, err
function _M:call(method, path, opts)
  return self:run(request(self, method, path, opts))
end

-- GETs fetched ahead: the transport's pipeline sends them; each outcome then
-- goes through run(), so the rule for repeating is the same as for call().
local stream = {}
stream.__index = stream

--- eng:stream() -> a stream of GETs with up to `concurrency` in flight.
function _M:stream()
  return setmetatable({ engine = self, pipe = self.transport.pipeline{ concurrency = self.concurrency },
    reqs = {} }, stream)
end

function stream:add(path, query)
  local eng = self.engine
  local req = request(eng, "GET", path, { query = query })
  local id = self.pipe:add(eng:request_opts(req))
  self.reqs[id] = { req = req, started = eng.now(), offset = eng.clock_offset }
  return id
end

function stream:next()
  local id, res, terr = self.pipe:next()
  if id == nil then return nil end
  local f = self.reqs[id]
  self.reqs[id] = nil
  local eng = self.engine
  local decoded, err = eng:run(f.req, { res = res, terr = terr, started = f.started,
    finished = eng.now(), offset = f.offset })
  return id, decoded, err
end

function stream:pending() return self.pipe:pending() end
function stream:capacity() return self.pipe:capacity() end

function stream:close()
  if self.pipe then self.pipe:close(); self.pipe = nil end
end

return _M
