--- The OpenResty transport's limiter kept in Redis (`shared_limit =
-- "redis://host:port/db"`): the C core's own script (src/limiter/redis.c,
-- `core._private.redis_limiter_script`) run over a cosocket Redis client (Debian's
-- lua-nginx-redis, `nginx.redis`; `resty.redis` where OpenResty ships it),
-- so a worker waiting for Redis yields instead of blocking. Windows are the
-- same Redis keys the C core uses, so nginx workers, CLI runs and other
-- machines share one limit.
--
-- Interface: the ngx transport's limiter (reserve, hold, ready, sent, cancel,
-- acquire, stats, close). Options: on_redis_error = "local" (default: book in
-- `fallback()`, the transport's own limiter, and log once with ngx.log) or
-- "fail" (reserve returns nil, {kind = "limiter"}); redis_timeout (0.5 s).
-- luacheck: std luajit+ngx_lua
local raise = require("coreplus.misuse").raise
local core = require "coreplus.core"
local sleep = require "coreplus.transport.ngx_sleep"

local ngx = ngx
local type, tostring, tonumber, setmetatable, pcall, require =
  type, tostring, tonumber, setmetatable, pcall, require
local format, match, byte, gsub = string.format, string.match, string.byte, string.gsub
local floor, max = math.floor, math.max
local unpack = unpack

local SCRIPT = core._private.redis_limiter_script
local SHA = gsub(ngx.sha1_bin(SCRIPT), ".", function(c) return format("%02x", byte(c)) end)
local HOLD = 2             -- seconds a fresh booking stays pending without hold()
local POLL = 0.01          -- seconds between polls while an earlier booking is pending
local RETRY = 1            -- seconds between attempts while Redis is down
local KEEPALIVE_MS, POOL_SIZE = 30000, 16

local _M = {}

local redis_client
local function client()
  if not redis_client then
    local ok, m = pcall(require, "resty.redis")
    if not ok then ok, m = pcall(require, "nginx.redis") end
    if not ok then
      error("coreplus: shared_limit = \"redis://...\" in nginx needs a cosocket Redis client: "
        .. "apt-get install lua-nginx-redis", 0)
    end
    redis_client = m
  end
  return redis_client
end

-- The C core's URL reader (src/limiter/redis_url.c): one grammar, one masker.
local function parse(url)
  local u, err = core.redis_url(url)
  if not u then return nil, err.message end
  if u.tls or u.sentinel then return nil, u.shown .. ": TLS and Sentinel are not supported yet" end
  return u
end

local limiter = {}
limiter.__index = limiter

-- One script call: a pooled connection, EVALSHA (EVAL when the server does
-- not know the script yet). Returns n, delay, pending | nil, why.
function limiter:_call(op, n, hold)
  local u = self.u
  local red = client():new()
  red:set_timeout(self.timeout_ms)
  local ok, err = red:connect(u.host, u.port, { pool = self.pool })
  if not ok then return nil, format("%s: cannot connect: %s", u.shown, tostring(err)) end
  if (red:get_reused_times() or 0) == 0 then
    if u.password then
      if u.user then ok, err = red:auth(u.user, u.password) else ok, err = red:auth(u.password) end
      if not ok then red:close(); return nil, format("%s: AUTH refused: %s", u.shown, tostring(err)) end
    end
    if u.db ~= 0 then
      ok, err = red:select(u.db)
      if not ok then red:close(); return nil, format("%s: SELECT refused: %s", u.shown, tostring(err)) end
    end
  end
  local args = { 1, self.wkey, op, tostring(n or 0), tostring(self.rate),
    format("%.6f", self.per), format("%.6f", self.margin), format("%.6f", hold or 0) }
  local res
  res, err = red:evalsha(SHA, unpack(args))
  if not res and err and match(tostring(err), "^NOSCRIPT") then
    res, err = red:eval(SCRIPT, unpack(args))
  end
  if type(res) ~= "table" then
    red:close()   -- a timed-out connection may still hold the late reply
    if err == "timeout" then
      return nil, format("%s: no answer in %g s", u.shown, self.timeout_ms / 1000)
    end
    return nil, format("%s: the limiter script failed: %s", u.shown, tostring(err))
  end
  red:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
  return tonumber(res[1]), tonumber(res[2]) or 0, res[3] == 1, res[4] == 1
end

-- Runs op, or says why not; a failure starts a RETRY-second pause.
function limiter:_op(op, n, hold)
  local t = ngx.now()
  if self.down_until and t < self.down_until then return nil, self.err end
  local m, d, pending, lost = self:_call(op, n, hold)
  if m then
    if self.down_until and self.warned then
      ngx.log(ngx.WARN, "coreplus: the shared limit at ", self.u.shown, " answers again")
    end
    self.down_until, self.warned = nil, false
    return m, d, pending, lost
  end
  self.err, self.down_until, self.errors = d, t + RETRY, self.errors + 1
  if not self.fail and not self.warned then
    self.warned = true   -- once per outage (per worker)
    ngx.log(ngx.WARN, "coreplus: ", d, "; limiting this worker on its own until Redis answers",
      " (on_redis_error = \"local\")")
  end
  return nil, d
end

--- limiter:reserve() -> delay, booking | nil, err (policy "fail").
function limiter:reserve()
  local n, d, pending = self:_op("reserve", 0, HOLD)
  if n then
    self.granted = self.granted + 1
    self.pending[n] = pending or nil
    return max(0, d), n
  end
  if self.fail then
    return nil, { kind = "limiter", message = d, sent = false }
  end
  self.fallback_used = self.fallback_used + 1
  local fb = self:_fallback()
  local fd, fn = fb:reserve()
  return fd, { fallback = fn }
end

function limiter:_fallback()
  if not self.fb then self.fb = self.make_fallback() end
  return self.fb
end

function limiter:hold(n, seconds)
  if type(n) == "table" then return self:_fallback():hold(n.fallback, seconds) end
  self:_op("hold", n, seconds)
end

--- ready(booking) -> seconds still to wait; asks Redis only while an
-- earlier booking was pending when last asked.
function limiter:ready(n)
  if type(n) == "table" then return self:_fallback():ready(n.fallback) end
  if not self.pending[n] then return 0 end
  local m, d, pending = self:_op("ready", n, 0)
  if not m then self.pending[n] = nil; return 0 end
  self.pending[n] = pending or nil
  if pending and d < POLL then d = POLL end
  return max(0, d)
end

function limiter:sent(n)
  if type(n) == "table" then return self:_fallback():sent(n.fallback) end
  self.pending[n] = nil
  local m, owed, _, lost = self:_op("sent", n, 0)
  if m and lost then
    -- The booking's lease ran out (this worker was late): nothing was
    -- recorded, so the request books again, leaving at its new slot.
    local n2, d2 = self:_op("reserve", 0, 0)
    return n2 and max(0, d2) or 0
  end
  return m and max(0, owed) or 0
end

function limiter:cancel(n)
  if type(n) == "table" then return self:_fallback():cancel(n.fallback) end
  self.pending[n] = nil
  self:_op("cancel", n, 0)
end

--- acquire() -> waited seconds | nil, err (yields with ngx.sleep).
function limiter:acquire()
  local start = ngx.now()
  local d, n = self:reserve()
  if d == nil then return nil, n end
  while d > 0 do
    self:hold(n, d + 1)
    sleep(d)
    d = self:ready(n)
  end
  local owed = self:sent(n)
  sleep(owed)
  ngx.update_time()
  return ngx.now() - start
end

function limiter:stats()
  return { rate = self.rate, per = self.per, margin = self.margin, key = self.key,
    shared = self.u.shown, granted = self.granted, redis_errors = self.errors,
    redis_local = self.fallback_used, redis_down = self.down_until ~= nil }
end

function limiter.close() end

function limiter.__tostring(self)
  return format("coreplus.limiter (%d per %g s, shared in Redis)", self.rate, self.per)
end

--- limiter(o, make_fallback): o as the transport's limiter{} (rate, per,
-- margin, key, shared = URL, on_redis_error, redis_timeout); make_fallback()
-- returns the limiter used while Redis is down (policy "local").
function _M.limiter(o, make_fallback)
  local u, why = parse(o.shared)
  if not u then raise("%s", "bad field 'shared' (" .. why .. ")") end
  local policy = o.on_redis_error or "local"
  if policy ~= "local" and policy ~= "fail" then
    raise("%s", "bad field 'on_redis_error' (\"local\" or \"fail\" expected)")
  end
  local timeout = o.redis_timeout or 0.5
  if type(timeout) ~= "number" or not (timeout > 0 and timeout <= 60) then
    raise("%s", "bad field 'redis_timeout' (seconds > 0 and <= 60 expected)")
  end
  return setmetatable({ u = u, rate = o.rate, per = o.per, margin = o.margin, key = o.key,
    wkey = core._private.redis_limiter_key(o.key), fail = policy == "fail",
    timeout_ms = max(1, floor(timeout * 1000)), make_fallback = make_fallback,
    pool = format("coreplus-redis|%s|%d|%d|%s", u.host, u.port, u.db, u.user or ""),
    granted = 0, errors = 0, fallback_used = 0, pending = {}, warned = false }, limiter)
end

return _M
