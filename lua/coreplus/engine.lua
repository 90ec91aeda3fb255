--- The request engine: every request of a client goes through here. It owns
-- the attempt loop and the rule for repeating an attempt (coreplus.retry),
-- which methods are idempotent, mapping responses to errors, the call's
-- deadline, and learning the server's clock. The rest of the package
-- (client, resources, pager) uses only this interface:
--
--   engine.new(o, credentials, transport, limiter, bind) -> eng
--     bind(eng, name, row) makes the resource of a catalogue row (the client
--     passes coreplus.resource's constructor: this module stays below it)
--   eng:resource(name) -> the resource of catalogue row `name` (made once), or nil
--   eng:call(method, path, {query=, body=, headers=, version=, route=, multipart=, expect=, operation=})
--     -> decoded, res | nil, err
--     multipart = { {name=, data= | path=, filename=, type=}, ... } (then no body)
--     route = {key=, version=, versions=}: a catalogue operation (resource:route)
--     operation: the metrics' label when there is no route (default "request")
--   eng:stream() -> s       GETs in flight, fetched ahead (up to `concurrency`)
--     s:add(path, query, route) -> id     s:next() -> id, decoded | id, nil, err | nil
--     s:pending()  s:capacity()  s:close()
--   eng:warn(key, message)  a warning, said once per engine (log option + on_request)
--   eng.found_versions      operation key -> the API version found to answer it
--   eng.on_version_found    nil, or fn(key, version) called when one is found
--   eng.concurrency, eng.clock_offset (seconds, server minus local; nil until learnt)
--   eng.metrics     the client's recorder (coreplus.metrics), told of every attempt
--   engine.IDEMPOTENT       the methods that may be repeated after a failure
local cjson = require "cjson.safe"
local config = require "coreplus.config"
local errors = require "coreplus.errors"
local retry = require "coreplus.retry"
local url = require "coreplus.url"
local dates = require "coreplus.dates"
local catalogue = require "coreplus.catalogue"

local type = type
local ipairs = ipairs
local tostring = tostring
local setmetatable = setmetatable
local min = math.min
local max = math.max
local abs = math.abs
local format = string.format

local _M = {}
local mt = { __index = _M }

--- Methods whose repetition cannot do twice what was asked. The C core (which
-- opens a fresh connection for the others) and the ngx transport read this
-- same set.
local IDEMPOTENT = config.core.idempotent
_M.IDEMPOTENT = IDEMPOTENT

-- A Date header further than this from the local clock is not believed: a
-- machine's clock can be wrong by minutes or hours, not by days.
local MAX_CLOCK_OFFSET = 86400

-- Credentials live here, not in fields of the engine, so that walking a
-- client (inspect, a debugger, tostring) can never reach them.
local secrets = setmetatable({}, { __mode = "k" })

-- Where warnings go without a `log` option: nginx's error log inside
-- OpenResty, else standard error.
local function default_log(message)
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.log) == "function" and ngx.WARN then
    ngx.log(ngx.WARN, "coreplus: ", message)
  elseif io and io.stderr then
    io.stderr:write("coreplus: warning: ", message, "\n")
  end
end

-- The User-Agent: the app's name first, then the library's own (the
-- transport's default), as "app/1.2 lua-coreplus/0.1.0 (libcurl/...)".
-- coreplus may block generic and library-default agents (FAQ).
local function user_agent(app, transport)
  if app == nil then return nil end
  local lib = transport.user_agent or ("lua-coreplus/" .. tostring(require("coreplus.core").version))
  if app:find("lua-coreplus/", 1, true) then return app end
  return app .. " " .. lib
end

--- eng = engine.new(o, credentials, transport, limiter, bind): `o` is the
-- checked client options (config.check).
function _M.new(o, credentials, transport, limiter, bind)
  local self = setmetatable({
    bind = bind, resources = {},
    found_versions = {}, on_version_found = nil,
    base_url = o.base_url, version = o.version,
    issuer = o.issuer, audience = o.audience,
    retries = o.retries, timeout = o.timeout, connect_timeout = o.connect_timeout,
    cafile = o.cafile, capath = o.capath, insecure = o.insecure,
    user_agent = user_agent(o.user_agent, transport), max_body = o.max_body, max_upload = o.max_upload,
    concurrency = o.concurrency,
    policy = retry.new(o),
    on_request = o.on_request, log = o.log or default_log,
    warned = {},
    transport = transport, limiter = limiter,
    sleep = o.sleep or transport.sleep,
    now = o.now or transport.now,
    clock_offset = o.clock_offset,   -- a start (remembered); the first Date corrects it
  }, mt)
  secrets[self] = credentials
  return self
end

--- eng:resource(name) -> the resource of catalogue row `name`, made on first
-- use and kept (a process holding many clients pays only for the resources
-- it uses), or nil when the catalogue has no such row. Operations reach
-- their sibling resources this way (next_free reads Location/).
function _M:resource(name)
  local r = self.resources[name]
  if r == nil and type(name) == "string" and self.bind then
    local row = catalogue[name]
    if row == nil then return nil end
    r = self.bind(self, name, row)
    self.resources[name] = r
  end
  return r
end

--- eng:warn(key, message): says message once per engine, to the `log`
-- option, log(message, key) (else standard error / nginx's log), and to the
-- on_request hook: the next attempt's info carries warnings = {{key =,
-- message =}, ...} (the hook is still called once per attempt).
function _M:warn(key, message)
  if self.warned[key] then return end
  self.warned[key] = true
  pcall(self.log, message, key)
  local pending = self.pending_warnings or {}
  pending[#pending + 1] = { key = key, message = message }
  self.pending_warnings = pending
end

-- ===== one attempt =====

-- A transport raises only on misuse, before sending (the transport
-- contract): a wrong header or multipart part the caller gave. Raised again
-- at the caller's line rather than here (an error that is not a message,
-- such as a stub callable's failed assertion, goes on as it is).
local function handing(ok, ...)
  if ok then return ... end
  local err = ...
  if type(err) ~= "string" then error(err, 0) end
  require("coreplus.misuse").raise("%s", (err:gsub("^[^\n]-:%d+: ", "", 1)))
end

local function encode_body(body)
  if body == nil or type(body) == "string" then return body end
  local misuse = require "coreplus.misuse"
  if type(body) ~= "table" then
    misuse.raise("bad argument 'body' (table or string expected, got %s)", type(body))
  end
  local json, err = cjson.encode(body)
  if not json then misuse.raise("bad argument 'body' (%s)", tostring(err)) end
  return json
end

--- What the transport is given for one attempt: exactly core.request's
-- options, built anew for every attempt so each carries a fresh token. The
-- attempt may use what is left of the call's deadline, no more.
function _M:request_opts(req, deadline)
  local left = deadline and deadline - self.now() or self.timeout
  return {
    method = req.method, url = req.url, body = req.payload, headers = req.headers,
    multipart = req.multipart,
    credentials = secrets[self],
    issuer = self.issuer, audience = self.audience,
    now_offset = self.clock_offset or 0,
    timeout = max(0.001, min(self.timeout, left)), deadline = deadline,
    connect_timeout = max(0.001, min(self.connect_timeout, left)),
    cafile = self.cafile, capath = self.capath, insecure = self.insecure,
    user_agent = self.user_agent, limiter = self.limiter, max_body = self.max_body,
  }
end

-- The Date header says the server's time to the second, truncated, so the
-- estimate is never ahead of the server: nbf is never in the server's future.
-- A Date that cannot be read, or that is days away from the local clock, is
-- not believed (said once), so it can never poison signing.
function _M:learn_clock(res, received_at)
  local text = res.headers and res.headers.date
  if text == nil then return end
  -- Date changes once a second: most responses repeat the one just read.
  local server
  if text == self.date_text then
    server = self.date_epoch
  else
    server = dates.http_date(text)
    self.date_text, self.date_epoch = text, server
  end
  local estimate = server and server - received_at
  if not estimate or abs(estimate) > MAX_CLOCK_OFFSET then
    self:warn("bad_date", format("ignored a Date header that is %s (%q); signing keeps the clock"
      .. " it had", server and "more than a day from this machine's clock" or "not an HTTP date",
      tostring(text):sub(1, 64)))
    return
  end
  local current = self.clock_offset
  if current == nil or estimate > current or current - estimate > 2 then
    self.clock_offset = estimate
  end
end

function _M:notify(info)
  local hook = self.on_request
  info.warnings, self.pending_warnings = self.pending_warnings, nil
  if hook then
    local ok, err = pcall(hook, info)
    if not ok and io and io.stderr then
      io.stderr:write("coreplus: on_request hook failed: ", tostring(err), "\n")
    end
  end
end

-- Response bodies go through the C core's decoder (core.json_decode, libyajl):
-- it builds the same values as lua-cjson, except that integers stay integers
-- under Lua 5.4 (60, not 60.0) without a second pass over the result, and it
-- is faster than cjson.decode alone (bench/RESULTS.md). cjson itself is left
-- as it is, for users who call it.
local decode_json = require("coreplus.core").json_decode

-- Whether a decoded answer carries `field`, at its top or in its envelope.
local function carries(decoded, field)
  if decoded[field] ~= nil then return true end
  for _, v in pairs(decoded) do
    if type(v) == "table" and v[field] ~= nil then return true end
  end
  return false
end

--- Turns a transport response into decoded or (nil, err). `expect`: a field
-- a success must carry (a booking's id): without it the answer is
-- bad_response, so a request that is not idempotent says outcome "unknown".
function _M:interpret(method, full_url, res, expect)
  local decoded, decode_error
  local body = res.body
  if body ~= nil and body ~= "" then
    decoded, decode_error = decode_json(body)
    if decoded == nil then decode_error = decode_error or "invalid JSON" end
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
  if expect and not carries(decoded, expect) then
    return nil, errors.new{ kind = "bad_response", status = res.status, method = method,
      url = full_url, message = "the answer carries no " .. expect }
  end
  return decoded
end

-- The outcome of one attempt: decoded | nil, err (with err.clock_changed when
-- a refused token met a clock that moved meanwhile).
function _M:outcome(req, res, terr, finished, offset_before)
  if not res then return nil, errors.from_transport(terr, req.method, req.url) end
  self:learn_clock(res, finished)
  local decoded, err = self:interpret(req.method, req.url, res, req.expect)
  if err and err.kind == "invalid_token" then
    local moved = (self.clock_offset or 0) - (offset_before or 0)
    err.clock_changed = moved >= 5 or moved <= -5
  end
  return decoded, err
end

-- (a stub is not coreplus: no warning for unit tests)
local function check_user_agent(self)
  local name = self.transport.name
  if self.user_agent == nil and (name == "curl" or name == "ngx") then
    self:warn("default_user_agent", "no user_agent is set: coreplus may block library defaults;"
      .. " name your app, e.g. user_agent = \"my-practice-sync/1.0\"")
  end
end

-- A call in progress: its request, its deadline (`timeout` counted from its
-- first attempt) and how many attempts it has had.
local function new_call(self, req)
  check_user_agent(self)
  local began = self.now()
  return { req = req, began = began, deadline = began + self.timeout, attempt = 0 }
end

--- Judges one attempt of a call: true, decoded, res (success) | true, nil,
-- err (the end: the rule allows no other attempt) | false, delay (another
-- attempt, after `delay` seconds counted from `finished`).
function _M:judge(call, res, terr, started, finished, offset_before)
  local req = call.req
  call.attempt = call.attempt + 1
  local decoded, err = self:outcome(req, res, terr, finished, offset_before)
  local reason, delay
  if err then
    reason, delay = self.policy:decide{ idempotent = IDEMPOTENT[req.method], res = res, terr = terr or {},
      err = err, attempt = call.attempt, left = call.deadline - finished }
  end
  self:notify{ method = req.method, url = req.url, status = res and res.status, attempt = call.attempt,
    elapsed = finished - started, error = err and err.kind, retry = reason }
  local metrics = self.metrics   -- coreplus.metrics: the client's recorder, or nil
  if metrics then metrics:attempt(req, res, terr, err, finished - started, reason, self.clock_offset) end
  if not err then return true, decoded, res end
  if not reason then
    err = retry.final(err, { idempotent = IDEMPOTENT[req.method], res = res, terr = terr,
      attempt = call.attempt, timeout = self.timeout, began = call.began, now = finished })
    if metrics then metrics:failed(req, err) end
    return true, nil, err
  end
  return false, delay
end

--- Runs req to its end: sends, and repeats while the rule allows and the
-- call's deadline leaves time.
function _M:run(req)
  local call = new_call(self, req)
  while true do
    local offset_before, started = self.clock_offset, self.now()
    local res, terr = handing(pcall(self.transport.request, self:request_opts(req, call.deadline)))
    local done, a, b = self:judge(call, res, terr, started, self.now(), offset_before)
    if done then return a, b end
    self.sleep(a)
  end
end

-- ===== the interface =====

local function request(self, method, path, opts, version)
  local base = url.api_base(self.base_url, version)
  return { method = method, url = url.build(base, path, opts and opts.query),
    payload = encode_body(opts and opts.body), headers = opts and opts.headers, expect = opts and opts.expect,
    multipart = opts and opts.multipart,
    operation = opts and (opts.route and opts.route.key or opts.operation) }
end

--- The API version a call goes under: the one found to answer its
-- operation, else the one it asks for, else the client's.
function _M:version_of(opts)
  local route = opts and opts.route
  return route and self.found_versions[route.key] or opts and opts.version or route and route.version
    or self.version
end

-- The version to try when `tried` has no route: another the operation is
-- known under, or nil.
local function other_version(route, tried)
  for _, v in ipairs(route.versions or { route.version }) do
    if v ~= tried then return v end
  end
  return nil
end

-- The operation answers under `version`: remembered for this client (and
-- handed to on_version_found), and said once (once for operations that
-- share a method and path: booking and cancelling both POST Appointment/).
function _M:found_version(route, version, tried, method, path)
  self.found_versions[route.key] = version
  if self.on_version_found then pcall(self.on_version_found, route.key, version) end
  self:warn(format("version %s %s %s", method, path, version),
    format("%s %s has no route under API version %s at %s; %s answers and is used from now on"
      .. " (pin it: the client's version = %q, coreplus CLI --api-version %s)",
    method, path, tried, self.base_url, version, version, version))
end

--- eng:call(method, path, {query=, body=, headers=, version=, route=}) -> decoded, res | nil, err
-- A catalogue operation (`route`) whose version answers route-not-found
-- is tried once under the other version the catalogue names for it: that
-- answer proves the first request was not processed, so a write too.
function _M:call(method, path, opts)
  local version = self:version_of(opts)
  local decoded, res = self:run(request(self, method, path, opts, version))
  if decoded ~= nil then return decoded, res end
  local err, route = res, opts and opts.route
  local other = err.no_route and route and other_version(route, version)
  if not other then return nil, err end
  decoded, res = self:run(request(self, method, path, opts, other))
  if decoded ~= nil or not res.no_route then
    self:found_version(route, other, version, method, path)
  else
    res.hint = format("neither %s nor %s has a route for %s at this server: check base_url (the API URL shown"
      .. " with the add-on)", version, other, path)
  end
  return decoded, res
end

-- GETs fetched ahead: the transport's pipeline sends them and each
-- attempt is judged as call() judges it (judge: the same rule for repeating).
-- An attempt to repeat waits outside the pipeline, which keeps the other
-- pages moving meanwhile, and goes back in when its wait is over: after a
-- burst of 429s the waits run side by side, not one after another.
local stream = {}
stream.__index = stream

--- eng:stream() -> a stream of GETs with up to `concurrency` in flight.
function _M:stream()
  return setmetatable({ engine = self, pipe = self.transport.pipeline{ concurrency = self.concurrency },
    calls = {},      -- pipeline id -> the call it is an attempt of
    waiting = {},    -- calls waiting to be repeated: {at =, call =}, in no order
    last_id = 0 }, stream)
end

-- Puts an attempt of `call` in the pipeline.
function stream:send(call)
  local eng = self.engine
  call.started, call.offset = eng.now(), eng.clock_offset
  self.calls[handing(pcall(self.pipe.add, self.pipe, eng:request_opts(call.req, call.deadline)))] = call
end

function stream:add(path, query, route)
  local eng = self.engine
  local opts = { query = query, route = route }
  local call = new_call(eng, request(eng, "GET", path, opts, eng:version_of(opts)))
  self.last_id = self.last_id + 1
  call.id = self.last_id
  self:send(call)
  return call.id
end

-- Sends the waiting calls whose wait is over; the soonest wait left, or nil.
function stream:resend(now)
  local soonest
  for i = #self.waiting, 1, -1 do
    local w = self.waiting[i]
    if w.at <= now then
      table.remove(self.waiting, i)
      self:send(w.call)
    elseif soonest == nil or w.at < soonest then
      soonest = w.at
    end
  end
  return soonest
end

--- s:next() -> id, decoded | id, nil, err | nil (nothing added is left).
function stream:next()
  local eng = self.engine
  local soonest = self:resend(eng.now())
  while true do
    if self.pipe:pending() == 0 then
      if soonest == nil then return nil end
      eng.sleep(max(0, soonest - eng.now()))
      -- (the wait is over even by a clock that did not move with it)
      soonest = self:resend(max(eng.now(), soonest))
    else
      local pid, res, terr = self.pipe:next()
      if pid == nil then return nil end
      local call = self.calls[pid]
      self.calls[pid] = nil
      local finished = eng.now()
      local done, a, b = eng:judge(call, res, terr, call.started, finished, call.offset)
      if done then return call.id, a, b end
      self.waiting[#self.waiting + 1] = { at = finished + a, call = call }
      soonest = self:resend(eng.now())
    end
  end
end

function stream:pending() return self.pipe:pending() + #self.waiting end
function stream:capacity() return self.pipe:capacity() end

function stream:close()
  if self.pipe then self.pipe:close(); self.pipe = nil end
  self.waiting = {}
end

return _M
