--- The OpenResty transport (`transport = "ngx"`): coreplus requests on nginx
-- cosockets, so that a request waiting for coreplus (or for the rate limit)
-- yields to the worker's event loop instead of freezing every other request
-- of that worker.
--
-- It keeps the transport contract (coreplus.transport): `request(opts)`,
-- `pipeline{concurrency =}`, `limiter{rate =, per =, key =, shared =}`,
-- `sleep(seconds)`, `now()` (ngx.now: opts.deadline is on this clock).
--
-- Known limits, each forced by cosockets (see docs/openresty.md):
--
-- * TLS trust comes from nginx.conf (`lua_ssl_trusted_certificate`,
--   `lua_ssl_verify_depth`); `cafile` and `capath` cannot be chosen per
--   request and are ignored here.
-- * Host names are resolved by nginx's `resolver` directive, not
--   /etc/hosts; an IP-literal base URL needs none.
-- * With an IP-literal base URL the certificate chain is verified but not
--   the IP address in it: nginx's host check knows DNS names only.
-- * Cosockets exist in the rewrite, access, content and timer phases (and
--   ssl_cert/ssl_session_fetch); elsewhere use the curl transport.
--
-- Requests are HTTP/1.1 written here, to the extent coreplus needs: a
-- request line, headers and a body out; a status line, headers and a
-- Content-Length, chunked or close-delimited body in. Connections are kept
-- alive in a per-worker pool and TLS sessions are resumed; a request that is
-- not idempotent always opens a connection of its own (as the C core does),
-- so a pooled connection the server had closed can never leave its outcome
-- unknown.
local raise = require("coreplus.misuse").raise
local core = require "coreplus.core"
local ngx_limiter = require "coreplus.transport.ngx_limiter"
local sleep = require "coreplus.transport.ngx_sleep"
local multipart = require "coreplus.transport.ngx_multipart"
local token = require "coreplus.transport.token"
local tls = require "coreplus.transport.ngx_tls"

local ngx = ngx
local type, pairs, ipairs, tostring, tonumber, error, pcall, setmetatable =
  type, pairs, ipairs, tostring, tonumber, error, pcall, setmetatable
local DEFAULTS = core.defaults
local concat = table.concat
local lower, upper, format, find, sub, match, gsub =
  string.lower, string.upper, string.format, string.find, string.sub, string.match, string.gsub
local floor, max, min = math.floor, math.max, math.min

local _M = { _VERSION = core.version, name = "ngx" }

-- Tunables (set them on the module before the first request).

--- The `lua_shared_dict` of the limiter shared by the workers (`"coreplus_limit"`).
_M.dict_name = "coreplus_limit"       -- the lua_shared_dict of the shared limiter

--- Seconds an idle connection stays pooled (30).
_M.keepalive_timeout = 30             -- seconds an idle connection stays pooled

--- Pooled connections per worker and host (32).
_M.pool_size = 32                     -- pooled connections per worker and host

--- Bytes of response headers accepted (core.defaults.max_head, 256 KiB).
_M.max_head = DEFAULTS.max_head

--- Seconds added to `per` between departures (twice core.defaults.margin,
-- 0.05; see `limiter`).
_M.margin = 2 * DEFAULTS.margin

local USER_AGENT = format("lua-coreplus/%s (ngx_lua/%s; nginx/%s)", tostring(core.version),
  tostring(ngx.config and ngx.config.ngx_lua_version), tostring(ngx.config and ngx.config.nginx_version))
_M.user_agent = USER_AGENT   -- what a client's user_agent is followed by

local function now()
  ngx.update_time()
  return ngx.now()
end
_M.now = now
_M.sleep = sleep

--- The limiter, `limiter{rate = 10, per = 1.0, key =, shared = nil | path | "redis://...", margin = 0.05}`
-- (transport/ngx_limiter.lua): the lua_shared_dict limiter of all workers
-- by default; the tunables dict_name and margin above apply. The margin is
-- twice the C core's: a departure is stamped from the worker's event loop,
-- which a busy worker serves late (one run of the 40-request spec on a loaded
-- 2-core machine saw 11 arrivals in a window with 25 ms).
-- @tparam table o `{rate =, per =, key =, shared =, margin =}`
-- @return a limiter (`reserve`, `hold`, `ready`, `sent`, `cancel`, `acquire`, `stats`; see transport/ngx_limiter.lua)
function _M.limiter(o)
  return ngx_limiter.new(o, _M)
end

--- The size the shared dict needs: `dict_size{keys = 1, rate = 10, per = 1,
-- waiting = 4 * rate}` -> bytes (keys: clients with their own access token;
-- waiting: calls of one key waiting for a slot at once).
_M.dict_size = ngx_limiter.dict_size

--- Checks the shared dict at start-up (init_by_lua or init_worker_by_lua):
-- `check_dict{keys =, rate =, per =, waiting =}` raises when the dict is
-- missing or smaller than `dict_size` says those keys need.
function _M.check_dict(o)
  local ok, why = ngx_limiter.check_dict(ngx.shared and ngx.shared[_M.dict_name], _M.dict_name, o or {})
  if not ok then raise("coreplus: %s", why) end
  return true
end

-- ===== HTTP/1.1 on a cosocket =====

-- core.defaults' set (docs/decisions.md#no-connection-reuse-for-writes):
-- these may share a pooled connection; the others (PUT too) go on a
-- connection of their own.
local IDEMPOTENT = DEFAULTS.idempotent
local tls_sessions = {}   -- pool name -> the last TLS session (resumption)

-- url -> scheme, host (as written), connect host, port, target
local function parse_url(url)
  local scheme, authority, target = match(url, "^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return nil end
  local host, port = match(authority, "^(%[[^%]]+%])$")
  if not host then host, port = match(authority, "^(%[[^%]]+%]):(%d+)$") end
  if not host then host, port = match(authority, "^([^:@]+):(%d+)$") end
  if not host then host = match(authority, "^([^:@]+)$") end
  if not host then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil end
  target = gsub(target, "#.*$", "")
  if target == "" then target = "/" elseif sub(target, 1, 1) == "?" then target = "/" .. target end
  local connect_host = match(host, "^%[(.*)%]$") or host
  return scheme, authority, connect_host, port, target
end

local function is_ip(host)
  return match(host, "^%d+%.%d+%.%d+%.%d+$") ~= nil or find(host, ":", 1, true) ~= nil
end

local function check_field(name, v)
  if type(v) ~= "string" then
    raise("%s", format("bad field '%s' (string expected, got %s)", name, type(v)))
  end
  if find(v, "[\r\n%z]") then
    raise("%s", format("bad field '%s' (contains CR, LF or NUL)", name))
  end
end

-- Raises on bad headers, before any booking is made.
local function check_headers(headers)
  if headers == nil then return end
  if type(headers) ~= "table" then
    raise("%s", "bad field 'headers' (table expected, got " .. type(headers) .. ")")
  end
  for k, v in pairs(headers) do
    if type(k) ~= "string" or not match(k, "^[!#$%%&'*+%-.^_`|~%w]+$") then
      raise("%s", "bad field 'headers' (invalid header name)")
    end
    check_field("headers", v)
  end
end

-- The request head, with the token made now (so that a wait for the limiter
-- never ages it).
local function build_head(opts, method, authority, target, form)
  local lines = { method .. " " .. target .. " HTTP/1.1" }
  local given = {}
  if opts.headers then
    for k in pairs(opts.headers) do given[lower(k)] = true end
  end
  lines[#lines + 1] = "Host: " .. authority
  if opts.credentials and not given.authorization then
    lines[#lines + 1] = "Authorization: JwToken " .. token.sign(opts, ngx.now())
  end
  if not given["user-agent"] then lines[#lines + 1] = "User-Agent: " .. (opts.user_agent or USER_AGENT) end
  if not given["content-type"] then
    lines[#lines + 1] = "Content-Type: " .. (form and form.content_type or "application/json")
  end
  if not given.accept then lines[#lines + 1] = "Accept: application/json" end
  if opts.headers then
    for k, v in pairs(opts.headers) do
      local lk = lower(k)
      if lk ~= "host" and lk ~= "content-length" and lk ~= "transfer-encoding" and lk ~= "connection" then
        lines[#lines + 1] = k .. ": " .. v
      end
    end
  end
  local body = opts.body
  if form then
    lines[#lines + 1] = "Content-Length: " .. form.length
  elseif body ~= nil or method == "POST" or method == "PUT" then
    lines[#lines + 1] = "Content-Length: " .. #(body or "")
  end
  lines[#lines + 1] = "Connection: keep-alive"
  return concat(lines, "\r\n") .. "\r\n\r\n"
end

local function io_kind(err)
  return err == "timeout" and "timeout" or "network"
end

-- Reads the body; returns body | nil, kind, message.
local function read_body(sock, headers, method, status, max_body)
  if method == "HEAD" or status == 204 or status == 304 or (status >= 100 and status < 200) then
    return ""
  end
  local te = headers["transfer-encoding"]
  if te and find(lower(te), "chunked", 1, true) then
    local parts, total = {}, 0
    while true do
      local line, err = sock:receive("*l")
      if not line then return nil, io_kind(err), "reading a chunk size: " .. tostring(err) end
      local hex = match(line, "^%s*(%x+)")
      local size = hex and tonumber(hex, 16)
      if not size then return nil, "network", "bad chunk size line" end
      if size == 0 then
        repeat   -- trailers, until the empty line
          line, err = sock:receive("*l")
          if not line then return nil, io_kind(err), "reading trailers: " .. tostring(err) end
        until line == ""
        break
      end
      total = total + size
      if total > max_body then
        return nil, "too_large", format("response larger than max_body (%d bytes)", max_body)
      end
      local data
      data, err = sock:receive(size)
      if not data then return nil, io_kind(err), "reading a chunk: " .. tostring(err) end
      parts[#parts + 1] = data
      line, err = sock:receive("*l")
      if not line then return nil, io_kind(err), "reading a chunk end: " .. tostring(err) end
    end
    return concat(parts)
  end
  local cl = headers["content-length"]
  if cl then
    local n = tonumber(match(cl, "^%s*(%d+)%s*$"))
    if not n then return nil, "network", "bad Content-Length" end
    if n > max_body then
      return nil, "too_large", format("response larger than max_body (%d bytes)", max_body)
    end
    if n == 0 then return "" end
    local data, err = sock:receive(n)
    if not data then return nil, io_kind(err), "reading the body: " .. tostring(err) end
    return data
  end
  -- Delimited by the server closing the connection.
  local parts, total = {}, 0
  while true do
    local data, err = sock:receiveany(65536)
    if not data then
      if err == "closed" then break end
      return nil, io_kind(err), "reading the body: " .. tostring(err)
    end
    total = total + #data
    if total > max_body then
      return nil, "too_large", format("response larger than max_body (%d bytes)", max_body)
    end
    parts[#parts + 1] = data
  end
  return concat(parts), "closed"
end

-- Reads one response; returns res | nil, kind, message, got_any_byte.
local function read_response(sock, method, max_body)
  local line, err, status, version
  repeat   -- 1xx interim responses are skipped
    line, err = sock:receive("*l")
    if not line then return nil, io_kind(err), "reading the status line: " .. tostring(err), false end
    version, status = match(line, "^HTTP/(%d%.%d) (%d%d%d)")
    if not status then return nil, "network", "bad status line", true end
    status = tonumber(status)
    local headers, size = {}, 0
    while true do
      local h
      h, err = sock:receive("*l")
      if not h then return nil, io_kind(err), "reading headers: " .. tostring(err), true end
      if h == "" then break end
      size = size + #h + 2
      if size > _M.max_head then
        return nil, "too_large", "response headers larger than " .. _M.max_head .. " bytes", true
      end
      local name, value = match(h, "^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = lower(name)
        local old = headers[name]
        headers[name] = old and (old .. ", " .. value) or value
      end
    end
    if status >= 200 or status == 101 then
      local body, kind, msg = read_body(sock, headers, method, status, max_body)
      if not body then return nil, kind, msg, true end
      local conn = lower(headers.connection or "")
      local reusable = kind ~= "closed" and status ~= 101
        and ((version == "1.1" and not find(conn, "close", 1, true))
          or (version == "1.0" and find(conn, "keep-alive", 1, true) ~= nil))
      return { status = status, headers = headers, body = body, http_version = version }, reusable
    end
    -- an interim response has no body: read the next status line
  until false
end

local ms = function(s) return max(1, floor(s * 1000)) end

local function late(fmt, seconds)
  return { kind = "timeout", message = format(fmt, seconds), sent = false }
end

-- Connects (or takes a pooled connection) and shakes hands for TLS, within
-- connect_timeout. A request that is not idempotent gets a connection of its
-- own (pool "...|own", never kept). Returns sock, reused | nil, err (never sent).
local function connect(opts, u, method, connect_timeout)
  local scheme, host, port = u[1], u[3], u[4]
  local verify = not opts.insecure
  local pool = format("coreplus|%s|%s|%d|%s", scheme, host, port, verify and "v" or "nv")
  local own = not IDEMPOTENT[method]
  local sock = ngx.socket.tcp()
  sock:settimeouts(ms(connect_timeout), ms(connect_timeout), ms(connect_timeout))
  local ok, err = sock:connect(host, port, { pool = own and pool .. "|own" or pool, pool_size = _M.pool_size })
  if not ok then
    return nil, { kind = io_kind(err), message = format("connect to %s:%d failed: %s", host, port, err),
      sent = false }
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  if scheme ~= "https" or reused then return sock, reused end
  local session
  session, err = tls.handshake(sock, tls_sessions[pool], (not is_ip(host)) and host or nil, verify)
  if not session then
    sock:close()
    return nil, { kind = err == "timeout" and "timeout" or "tls",
      message = format("TLS handshake with %s:%d failed: %s", host, port, tostring(err)), sent = false }
  end
  if type(session) ~= "boolean" then tls_sessions[pool] = session end
  return sock, false
end

-- connect() while a light thread renews the booking's lease (a connect may
-- outlast it; a worker stopped meanwhile renews nothing, so the others go on).
-- The renewals end with connect_timeout at the latest, killed or not.
local function connect_holding(limiter, booking, opts, u, method, connect_timeout)
  if not booking then return connect(opts, u, method, connect_timeout) end
  local until_ = now() + connect_timeout
  local keeper = ngx.thread.spawn(function()
    while now() < until_ do
      sleep(ngx_limiter.RENEW)
      limiter:hold(booking, ngx_limiter.LEASE, until_)
    end
  end)
  local sock, reused = connect(opts, u, method, connect_timeout)
  ngx.thread.kill(keeper)
  return sock, reused
end

-- Sends head (+ body) and reads the answer within `remaining` seconds.
-- Returns res | nil, err.
local function exchange(sock, opts, method, head, remaining, own, form)
  sock:settimeouts(ms(remaining), ms(remaining), ms(remaining))
  local bytes, err = sock:send(opts.body and { head, opts.body } or head)
  if bytes and form then bytes, err = multipart.send(sock, form.pieces) end
  if not bytes then
    sock:close()
    return nil, { kind = io_kind(err), message = "sending the request: " .. tostring(err) }
  end
  local res, reusable_or_kind, msg = read_response(sock, method, opts.max_body or DEFAULTS.max_body)
  if not res then
    sock:close()
    return nil, { kind = reusable_or_kind, message = msg }
  end
  if reusable_or_kind and not own then
    sock:setkeepalive(_M.keepalive_timeout * 1000, _M.pool_size)
  else
    sock:close()
  end
  return res
end

-- One attempt, over by the deadline: the limiter's slot, the connection,
-- the token (made now, so that a wait never ages it), the exchange. Returns
-- res | nil, err, connect_started.
local function attempt(opts, method, u, deadline)
  local limiter = opts.limiter
  local booking, err
  if limiter then
    booking, err = ngx_limiter.wait(limiter, deadline)
    if not booking then return nil, err end
  end
  local started = now()
  if started >= deadline then
    if booking then limiter:cancel(booking, deadline) end
    return nil, late("the deadline had passed (%.2f s ago) before the request could start", started - deadline),
      started
  end
  local timeout = opts.timeout or DEFAULTS.timeout
  local connect_timeout = min(opts.connect_timeout or DEFAULTS.connect_timeout, timeout, deadline - started)
  local sock, reused = connect_holding(limiter, booking, opts, u, method, connect_timeout)
  if not sock then
    if booking then limiter:cancel(booking, deadline) end
    return nil, reused, started
  end
  local built, head = pcall(build_head, opts, method, u[2], u[5], u.form)
  if not built then   -- core.sign refused the credentials: nothing leaves
    if booking then limiter:cancel(booking, deadline) end
    sock:close()
    error(head, 0)
  end
  -- The request leaves now: this is when the limiter's slot starts.
  if booking then
    local ok
    ok, err = ngx_limiter.send(limiter, booking, deadline)
    if not ok then
      sock:close()
      return nil, err, started
    end
  end
  local remaining = min(timeout - (now() - started), deadline - now())
  if remaining <= 0 then
    sock:close()
    return nil, { kind = "timeout", message = "timed out before sending", sent = false }, started
  end
  local res
  res, err = exchange(sock, opts, method, head, remaining, not IDEMPOTENT[method], u.form)
  if not res then return nil, err, started end
  -- the server counted more than the limit allows: the limit learns (the C
  -- core does the same in http_finish)
  if res.status == 429 and limiter and limiter.rate_limited then limiter:rate_limited(deadline) end
  res.new_connection = not reused
  return res, nil, started
end
local warned_cafile = false

-- Checks opts (raising at the caller's line, coreplus.misuse) and
-- returns what perform() needs.
local function prepare(opts)
  if type(opts) ~= "table" then raise("%s", "bad argument #1 (request options table expected)") end
  local method = upper(opts.method or "GET")
  if not match(method, "^%u+$") then raise("%s", "bad field 'method' (an HTTP method expected)") end
  check_field("url", opts.url)
  if opts.user_agent ~= nil then check_field("user_agent", opts.user_agent) end
  check_headers(opts.headers)
  local scheme, authority, host, port, target = parse_url(opts.url)
  if not scheme then raise("%s", "bad field 'url' (an absolute http(s) URL expected)") end
  if opts.body ~= nil and type(opts.body) ~= "string" then
    raise("%s", "bad field 'body' (string expected, got " .. type(opts.body) .. ")")
  end
  local limiter = opts.limiter
  if limiter ~= nil and (type(limiter) ~= "table" or type(limiter.reserve) ~= "function") then
    raise("%s", "bad field 'limiter' (a limiter from transport.limiter expected)")
  end
  local form
  if opts.multipart ~= nil then
    if type(opts.multipart) ~= "table" or opts.body ~= nil then
      raise("bad field 'multipart' (a list of parts, and no body, expected)")
    end
    local ctype, length, pieces = multipart.encode(opts.multipart)
    if not ctype then raise("bad field 'multipart' (%s)", length) end
    form = { content_type = ctype, length = length, pieces = pieces }
  end
  if (opts.cafile or opts.capath) and not warned_cafile then
    warned_cafile = true
    ngx.log(ngx.WARN, "coreplus: cafile/capath do not apply to the ngx transport; ",
      "nginx verifies with lua_ssl_trusted_certificate (see nginx/coreplus.conf)")
  end
  return method, { scheme, authority, host, port, target, form = form }
end

-- Runs opts to its end: one attempt, never repeated here (retry.lua decides
-- that). res | nil, err, with the contract's fields.
local function perform(opts, method, u)
  local called = now()
  -- opts.deadline (this transport's clock) bounds everything, the limiter's
  -- wait included; timeout bounds the exchange from its connect on
  local res, err, started = attempt(opts, method, u, opts.deadline or math.huge)
  local finished = now()
  started = started or finished
  if not res then
    err.method, err.url = method, opts.url
    err.elapsed, err.waited = finished - started, started - called
    if err.sent == nil then err.sent = true end
    return nil, err
  end
  res.sent = true
  res.elapsed, res.waited = finished - started, started - called
  return res
end

--- Sends one request, yielding while it waits: the transport contract's
-- options and results (coreplus.transport).
-- @tparam table opts
-- @return res, or nil and err
function _M.request(opts)
  return perform(opts, prepare(opts))
end

-- ===== Pipelines: requests in flight as a stream (the pager's fetch-ahead) =====

local unpack = unpack or table.unpack   -- luacheck: ignore 143

local pipeline = {}
pipeline.__index = pipeline

--- Requests in flight as a stream, as `coreplus.core.pipeline`.
-- Each request is sent from a light thread of its own:
--
--     local p = pipeline{ concurrency = 4 }
--     local id = p:add(opts)          -- raises on bad opts, or when full
--     local id, res, err = p:next()   -- waits, yielding, for the first to finish; nil when empty
--     p:pending()  p:capacity()  p:close()
--
-- Each request books its limiter slot when
-- added (a thread runs until its first yield on spawn), so slots follow the
-- order of add().
-- @tparam[opt] table o `{concurrency = core.defaults.concurrency}`
-- @return a pipeline
function _M.pipeline(o)
  local cap = o and o.concurrency or DEFAULTS.concurrency
  if type(cap) ~= "number" or cap < 1 then raise("%s", "bad field 'concurrency' (a positive number expected)") end
  return setmetatable({ cap = floor(cap), threads = {}, ids = {}, last_id = 0 }, pipeline)
end

function pipeline:add(opts)
  if self.closed then raise("%s", "pipeline is closed") end
  if #self.threads >= self.cap then
    raise("%s", format("pipeline full (%d in flight): take a result with next() first", self.cap))
  end
  local method, u = prepare(opts)
  self.last_id = self.last_id + 1
  local id = self.last_id
  local th = ngx.thread.spawn(function()
    local ok, res, err = pcall(perform, opts, method, u)
    if not ok then return id, nil, { kind = "network", message = tostring(res) } end
    return id, res, err
  end)
  self.threads[#self.threads + 1] = th
  self.ids[th] = id
  return id
end

function pipeline:next()
  if self.closed then raise("%s", "pipeline is closed") end
  local threads = self.threads
  if #threads == 0 then return nil end
  local ok, id, res, err = ngx.thread.wait(unpack(threads))
  for i = 1, #threads do
    if self.ids[threads[i]] == id then
      self.ids[threads[i]] = nil
      table.remove(threads, i)
      break
    end
  end
  if not ok then error(id, 2) end
  return id, res, err
end

function pipeline:pending() return #self.threads end
function pipeline:capacity() return self.cap end

--- Abandons the requests in flight. A killed request that was
-- waiting for its slot stops holding the limiter at its hold deadline.
function pipeline:close()
  if self.closed then return end
  self.closed = true
  for _, th in ipairs(self.threads) do ngx.thread.kill(th) end
  self.threads, self.ids = {}, {}
end

return _M
