--- The rate limiter of the OpenResty transport, shared by all workers of one
-- nginx: a sliding window in a lua_shared_dict, counted from the moment each
-- request really leaves. It also wraps the C core's limiter (shared file)
-- and the Redis one (ngx_redis.lua) behind the same methods: reserve, hold,
-- ready, sent, cancel, acquire, stats, close.
local raise = require("coreplus.misuse").raise
local core = require "coreplus.core"
local sleep = require "coreplus.transport.ngx_sleep"

local ngx = ngx
local type, tostring, error, pcall, setmetatable = type, tostring, error, pcall, setmetatable
local format, find = string.format, string.find
local floor, max = math.floor, math.max

local _M = {}

local function now()
  ngx.update_time()
  return ngx.now()
end

------------------------------------------------------------------------
-- The limiter shared by all workers (lua_shared_dict)
------------------------------------------------------------------------
--
-- What it guarantees: among the departures of one key, any rate + 1 of them
-- span at least per + margin seconds, whichever worker sent them. A
-- departure is the moment the request bytes are written, after the TCP and
-- TLS set-up: a request whose connection is slow to open arrives late, and
-- counting from before the connect would let a later request overtake it
-- inside the server's window (docs/decisions.md #21).
--
-- How: bookings are numbered (an atomic counter). Booking n may leave no
-- earlier than per + margin after every booking numbered n - rate or lower
-- (so any rate + 1 consecutive bookings span the window, in whatever order
-- they really left). Each booking's entry holds its departure time once it
-- left, or, negated, the deadline by which its owner promises to send or
-- cancel it while it is still pending. A pending booking is taken to leave
-- "now", so later bookings keep polling until it has left, or been
-- cancelled (its connect failed), or missed its deadline (its light thread
-- was killed: it must not hold everyone up for long). The owner moves the
-- deadline with hold() before each wait and before connecting.
-- Entries expire after a minute; a missing one is long gone.

local HOLD = 2              -- seconds a fresh booking stays pending without hold()
local ENTRY_TTL = 60
local POLL = 0.01           -- seconds between polls while an earlier booking is pending

local dict_limiter = {}
dict_limiter.__index = dict_limiter

-- A tiny cross-worker mutex: `add` is atomic across workers. Held only
-- around two dict operations, never across a yield.
local function locked(dict, lock_key, fn, ...)
  for _ = 1, 2000 do
    if dict:add(lock_key, true, 0.5) then
      local ok, a, b = pcall(fn, ...)
      dict:delete(lock_key)
      if not ok then error(a, 0) end
      return a, b
    end
    ngx.sleep(0.001)
  end
  error("coreplus: limiter lock '" .. lock_key .. "' not acquired in 2 s", 0)
end

-- The earliest departure allowed to booking n; `t` is the current time.
-- A pending earlier booking counts as leaving at t (it has not left yet),
-- so the answer is only final once no booking in range is pending.
function dict_limiter:_bound(n, t)
  local rate = self.rate
  if n <= rate then return 0, false end
  local dict, prefix = self.dict, self.prefix
  local latest, pending = 0, false
  -- Look back 2 * rate bookings below n - rate: enough for any booking that
  -- left later than the ones after it (a slow connect).
  local lowest = max(1, n - 3 * rate + 1)
  for k = n - rate, lowest, -1 do
    local v = dict:get(prefix .. k)
    if v then
      if v < 0 then
        if t < -v then
          pending = true
          if t > latest then latest = t end
        end
      elseif v > latest then
        latest = v
      end
    end
  end
  if latest == 0 then return 0, pending end
  return latest + self.per + self.margin, pending
end

local function dict_reserve(self, t)
  local n = self.dict:incr(self.prefix .. "next", 1, 0)
  self.dict:set(self.prefix .. n, -(t + HOLD), ENTRY_TTL)
  return n
end

--- limiter:reserve() -> delay_seconds, booking. Books the next slot without
-- blocking; the booking stays pending until sent() or cancel().
function dict_limiter:reserve()
  local t = now()
  local n = locked(self.dict, self.prefix .. "lock", dict_reserve, self, t)
  local at = self:_bound(n, t)
  return max(0, at - t), n
end

--- limiter:hold(booking, seconds): the booking stays pending (blocking
-- later ones) for up to `seconds` more; past that it is taken as dead.
function dict_limiter:hold(n, seconds)
  local key = self.prefix .. n
  local v = self.dict:get(key)
  if v and v < 0 then self.dict:set(key, -(now() + seconds), ENTRY_TTL) end
end

--- limiter:ready(booking) -> seconds still to wait (0: it may leave now).
function dict_limiter:ready(n)
  local t = now()
  local at, pending = self:_bound(n, t)
  local d = at - t
  if pending and d < POLL then d = POLL end
  return max(0, d)
end

--- limiter:sent(booking) -> owed seconds: the booking leaves now (plus the
-- owed seconds, which the caller sleeps before writing the request).
function dict_limiter:sent(n)
  local t = now()
  local at = self:_bound(n, t)
  local leave = max(t, at)
  self.dict:set(self.prefix .. n, leave, ENTRY_TTL)
  self.dict:set(self.prefix .. "last_sent", leave, ENTRY_TTL)
  return leave - t
end

--- limiter:cancel(booking): it never left and no longer counts.
function dict_limiter:cancel(n)
  self.dict:delete(self.prefix .. n)
end

--- limiter:acquire() -> waited seconds (yields with ngx.sleep).
function dict_limiter:acquire()
  local start = now()
  local _, n = self:reserve()
  local d = self:ready(n)
  while d > 0 do
    sleep(d)
    d = self:ready(n)
  end
  local owed = self:sent(n)
  sleep(owed)
  return now() - start
end

function dict_limiter:stats()
  local dict, prefix = self.dict, self.prefix
  return { rate = self.rate, per = self.per, margin = self.margin, key = self.key,
    dict = self.dict_name, granted = dict:get(prefix .. "next") or 0,
    last_sent = dict:get(prefix .. "last_sent") }
end

function dict_limiter.close() end

function dict_limiter.__tostring(self)
  return format("coreplus.limiter (%d per %g s, lua_shared_dict %s)", self.rate, self.per, self.dict_name)
end

-- The C core's limiter (a shared file, or in-process) with the same
-- interface: its reserve() already counts bookings as leaving at the booked
-- time, and sent() moves the departure to the real moment.
local core_limiter = {}
core_limiter.__index = core_limiter

function core_limiter:reserve() return self.lim:reserve() end
function core_limiter.ready() return 0 end
function core_limiter.hold() end
function core_limiter:sent(n) return self.lim:sent(n) end
function core_limiter.cancel() end  -- no API: the booking keeps counting (safe)
function core_limiter:stats() return self.lim:stats() end
function core_limiter:close() self.lim:close() end
function core_limiter:acquire()
  local start = now()
  local d, n = self.lim:reserve()
  sleep(d)
  local owed = self.lim:sent(n)
  sleep(owed)
  return now() - start
end
function core_limiter.__tostring(self) return tostring(self.lim) end

local warned_single = false

--- new({rate=10, per=1.0, key=, shared=nil|path, margin=}, config)
-- Default: the lua_shared_dict config.dict_name (all workers). With
-- `shared = path`: the C core's shared file, which other processes (the
-- CLI, a cron job using the curl transport) share too. config carries the
-- transport's tunables (dict_name, margin).
function _M.new(o, config)
  o = o or {}
  local rate, per = o.rate or 10, o.per or 1.0
  if type(rate) ~= "number" or rate < 1 or rate ~= floor(rate) then
    raise("%s", "bad field 'rate' (a positive integer expected)")
  end
  if type(per) ~= "number" or per ~= per or per <= 0 then
    raise("%s", "bad field 'per' (seconds > 0 expected)")
  end
  local margin = o.margin or config.margin
  if type(o.shared) == "string" and find(o.shared, "^%a[%w+.-]*://") then
    -- one limit for many machines, over cosockets (ngx_redis.lua); while
    -- Redis is down (on_redis_error = "local") this transport's own limiter
    return require("coreplus.transport.ngx_redis").limiter({ rate = rate, per = per,
      margin = margin, key = o.key, shared = o.shared, on_redis_error = o.on_redis_error,
      redis_timeout = o.redis_timeout, redis_cafile = o.redis_cafile,
      redis_certfile = o.redis_certfile, redis_keyfile = o.redis_keyfile,
      redis_insecure = o.redis_insecure },
      function() return _M.new({ rate = rate, per = per, key = o.key, margin = margin }, config) end)
  end
  if o.shared then
    return setmetatable({ lim = core.limiter{ rate = rate, per = per, key = o.key, shared = o.shared,
      margin = margin } }, core_limiter)
  end
  local dict = ngx.shared and ngx.shared[config.dict_name]
  if not dict then
    local workers = ngx.worker and ngx.worker.count and ngx.worker.count() or 1
    if workers > 1 then
      raise("%s", format("coreplus: the ngx transport shares its rate limit between workers through " ..
        "`lua_shared_dict %s 1m;` (include nginx/coreplus.conf in the http{} block), or pass " ..
        "shared_limit = <file path>", config.dict_name))
    end
    if not warned_single then
      warned_single = true
      ngx.log(ngx.WARN, "coreplus: no lua_shared_dict ", config.dict_name,
        "; the rate limit is this worker's only (fine with worker_processes 1)")
    end
    return setmetatable({ lim = core.limiter{ rate = rate, per = per, key = o.key, margin = margin } },
      core_limiter)
  end
  return setmetatable({ dict = dict, dict_name = config.dict_name, rate = rate, per = per,
    margin = margin, key = o.key,
    prefix = "l:" .. tostring(o.key or "") .. ":" }, dict_limiter)
end

return _M
