--- The rate limiter of the OpenResty transport, shared by all workers of one
-- nginx: a sliding window in a lua_shared_dict, counted from the moment each
-- request really leaves. It also wraps the C core's limiter (shared file)
-- and the Redis one (ngx_redis.lua) behind the same methods.
--
-- The interface every limiter here has (and ngx_redis.lua's too), as the
-- transport uses it; a booking is opaque to the caller:
--
--   reserve(deadline) -> delay, booking | nil, err   books the next slot
--   hold(booking, seconds [, deadline])   renews the lease of a booking that has not left
--   ready(booking [, deadline]) -> delay | nil, err   seconds still to wait (0: go)
--   sent(booking [, deadline]) -> owed | nil, err     it leaves now (after the owed seconds)
--   cancel(booking [, deadline])   it never left and no longer counts
--   rate_limited([deadline]) a request of this key came back 429: its margin
--                            widens (every kind here has it)
--   acquire(deadline) -> waited | nil, err    all of the above, yielding
--   stats(), close()
--
-- `deadline` is ngx.now() seconds (nil: none; the Redis limiter gives each
-- Redis exchange what is left of it, never more); err is {kind = "timeout" |
-- "limiter", message, sent = false}.
local raise = require("coreplus.misuse").raise
local core = require "coreplus.core"
local sleep = require "coreplus.transport.ngx_sleep"

local ngx = ngx
local type, tostring, error, pcall, setmetatable = type, tostring, error, pcall, setmetatable
local format, find, sub = string.format, string.find, string.sub
local floor, max, min, ceil = math.floor, math.max, math.min, math.ceil

local DEFAULTS = core.defaults

local _M = {}

--- Seconds a booking that has not left holds the later ones up without a
-- renewal: the C core's (core.defaults.lease); its owner renews every quarter.
_M.LEASE = DEFAULTS.lease
_M.RENEW = DEFAULTS.lease / 4

local function now()
  ngx.update_time()
  return ngx.now()
end

local function late(fmt, seconds)
  return { kind = "timeout", message = format(fmt, seconds), sent = false }
end

--- wait(limiter, deadline) -> booking | nil, err: books a slot and waits
-- for it, yielding, renewing the booking's lease meanwhile; a wait that
-- would pass the deadline fails at once, unsent, and cancels the booking
-- (the C core's rule). The booking is then sent() or cancel()led.
function _M.wait(lim, deadline)
  local d, booking = lim:reserve(deadline)
  if d == nil then return nil, booking end
  while d > 0 do
    if deadline and now() + d > deadline then
      lim:cancel(booking, deadline)
      return nil, late("the rate limit wait (%.2f s) would pass the deadline", d)
    end
    lim:hold(booking, _M.LEASE, deadline)
    sleep(min(d, _M.RENEW, type(booking) == "table" and booking.look or _M.RENEW))
    local err
    d, err = lim:ready(booking, deadline)
    if not d then return nil, err end
  end
  return booking
end

--- send(limiter, booking, deadline) -> true | nil, err: the booking leaves
-- now, after the seconds it still owes (earlier bookings that left late, or
-- a new slot when its lease had run out); nil when that would pass the
-- deadline (the slot stays counted).
function _M.send(lim, booking, deadline)
  local owed, err = lim:sent(booking, deadline)
  if not owed then return nil, err end
  if deadline and owed > 0 and now() + owed > deadline then
    return nil, late("the rate limit wait (%.2f s) would pass the deadline", owed)
  end
  sleep(owed)
  return true
end

local function acquire(self, deadline)
  local start = now()
  local booking, err = _M.wait(self, deadline)
  if not booking then return nil, err end
  local ok
  ok, err = _M.send(self, booking, deadline)
  if not ok then return nil, err end
  return now() - start
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
-- inside the server's window (docs/decisions.md#slot-counts-from-departure).
--
-- How: bookings are numbered (an atomic counter). Booking n may leave no
-- earlier than per + margin after the rate-th booking before it that still
-- counts, and every one before that (so any rate + 1 consecutive bookings
-- span the window, in whatever order they really left). Each booking's entry holds its departure time once it
-- left, or, negated, the end of its lease while it has not: a pending
-- booking counts as leaving "now" while its lease runs, so later bookings
-- keep polling until it has left or been cancelled, or its lease ran out
-- (its owner was killed, stopped or blocked: it costs the others one lease
-- at most, as in the C core). An owner that finds its lease ran out books
-- again (ready, sent), so a worker that resumes never sends on a slot the
-- others gave up: no burst.
--
-- Entries expire once they cannot matter (their time + per + margin, plus a
-- second), so a key needs about rate * (per + margin + 1) / per entries and
-- one per booking waiting. A 429 widens the key's margin (rate_limited), by
-- the C core's rule and constants (core.defaults.learn_*). Every write is a safe_* one: a full dict evicts
-- nothing, it is said (ngx.log, kind "limiter"), and `dict_size` says how
-- much a set of keys needs.

-- A limit that learns (docs/decisions.md#limit-learns), the C core's rule:
-- a 429 widens the key's margin by learn_step, at most once per window and
-- up to learn_max; the widening wears off by learn_ease seconds per second.
local LEARN_STEP, LEARN_MAX, LEARN_EASE = DEFAULTS.learn_step, DEFAULTS.learn_max, DEFAULTS.learn_ease

local POLL = 0.01            -- seconds between polls while an earlier booking is pending
local COUNTER_TTL = 86400    -- an idle key's counter goes after a day
local LOCK_TTL = 0.5         -- a lock whose holder died is free after this
-- Bytes of one entry: 128 (a 1m dict held 8095 entries with keys of this
-- form), 16 KiB of a dict is its own.
local ENTRY_BYTES, DICT_BASE = 128, 16384
local FULL_LOG_EVERY = 60    -- seconds between two "the dict is full" lines (per worker)

local dict_limiter = {}
dict_limiter.__index = dict_limiter

--- dict_size{keys = 1, rate = 10, per = 1, waiting = 4 * rate} -> bytes: the
-- lua_shared_dict size the limiters of `keys` keys need, each with up to
-- `waiting` calls waiting for a slot at once.
function _M.dict_size(o)
  o = o or {}
  local rate, per = o.rate or DEFAULTS.rate, o.per or DEFAULTS.per
  local keys, waiting = o.keys or 1, o.waiting or 4 * rate
  local margin = o.margin or 2 * DEFAULTS.margin
  -- the counter, the lock, what it learnt (2); the bookings still counted
  local entries = 4 + ceil(rate * (per + margin + LEARN_MAX + 1) / per) + waiting
  return DICT_BASE + keys * entries * ENTRY_BYTES
end

local function kib(bytes)
  return format("%dk", ceil(bytes / 1024))
end

local full_logged = 0

local function full(self)
  self.full = self.full + 1
  local msg = format("lua_shared_dict %s is full (%s): the rate limit cannot book; raise its size in"
    .. " nginx.conf (it needs about %s for %d key%s: coreplus.transport.ngx.dict_size)",
    self.dict_name, kib(self.dict:capacity()), kib(_M.dict_size{ keys = self.keys_seen(), rate = self.rate,
    per = self.per }), self.keys_seen(), self.keys_seen() == 1 and "" or "s")
  local t = now()
  if t - full_logged >= FULL_LOG_EVERY then
    full_logged = t
    ngx.log(ngx.ERR, "coreplus: ", msg)
  end
  return nil, { kind = "limiter", message = msg, sent = false }
end

-- A write that never evicts: expired entries are flushed once when the dict
-- is full. true | nil (full).
local function store(dict, op, key, value, ttl)
  local ok, err = dict[op](dict, key, value, ttl)
  if ok then return true end
  if err ~= "no memory" then return nil, err end
  dict:flush_expired(0)
  ok, err = dict[op](dict, key, value, ttl)
  if ok then return true end
  return nil, err
end

-- A tiny cross-worker mutex: `add` is atomic across workers. Held only
-- around a few dict operations, never across a yield. The wait for it ends
-- by the deadline. fn's results | nil, err.
local function locked(self, deadline, fn, ...)
  local dict, lock_key = self.dict, self.prefix .. "lock"
  for _ = 1, 2000 do
    local ok, err = store(dict, "safe_add", lock_key, true, LOCK_TTL)
    if ok then
      local done, a, b, c = pcall(fn, ...)
      dict:delete(lock_key)
      if not done then error(a, 0) end
      return a, b, c
    end
    if err ~= "exists" then return full(self) end
    if deadline and now() >= deadline then
      return nil, { kind = "timeout", sent = false,
        message = "the wait for the shared limit's lock would pass the deadline" }
    end
    ngx.sleep(0.001)
  end
  return nil, { kind = "limiter", sent = false,
    message = format("lua_shared_dict %s: the limiter's lock stayed taken for 2 s", self.dict_name) }
end

-- The earliest departure allowed to booking n; `t` is the current time.
-- A pending earlier booking counts as leaving at t (it has not left yet),
-- so the answer is only final once no booking in range is pending.
--
-- The third result is the soonest end of a lease among the pending ones: if
-- its owner is gone, the bound may drop then. Numbers below n that no longer
-- count (cancelled, or whose lease ran out and which booked again) are
-- skipped: n waits for the rate-th booking
-- before it that still counts, and looks at 2 * rate more (any of which may
-- have left later than the ones after it: a slow connect), up to 20 * rate
-- numbers back.
function dict_limiter:_bound(n, t)
  local rate = self.rate
  local dict, prefix = self.dict, self.prefix
  local latest, pending, live, lapse = 0, false, 0, nil
  for k = n - 1, max(1, n - 20 * rate), -1 do
    local v = dict:get(prefix .. k)
    if v and (v > 0 or t < -v) then
      live = live + 1
      if live >= rate then
        if v < 0 then
          pending = true
          if t > latest then latest = t end
          if not lapse or -v < lapse then lapse = -v end
        elseif v > latest then
          latest = v
        end
        if live >= 3 * rate then break end
      end
    end
  end
  if latest == 0 then return 0, pending, lapse end
  return latest + self.per + self.margin + self:_learnt(t), pending, lapse
end

-- What the key learnt from 429s, worn off by now: seconds added to the
-- margin. A value that cannot be read counts as the widest (slower, never
-- 429s), as in the C core.
function dict_limiter:_learnt(t)
  local dict, prefix = self.dict, self.prefix
  local learnt = dict:get(prefix .. "learnt")
  if learnt == nil then return 0 end
  local at = dict:get(prefix .. "learnt_at")
  if type(learnt) ~= "number" or type(at) ~= "number" or not (learnt >= 0 and learnt <= LEARN_MAX)
    or at ~= at or at > t + 1 then
    return LEARN_MAX
  end
  return max(0, learnt - LEARN_EASE * (t - at))
end

-- Under the lock: one more lesson, unless this window's 429s taught one
-- already. The learnt margin.
local function dict_learn(self, t)
  local learnt = self:_learnt(t)
  local at = self.dict:get(self.prefix .. "learnt_at")
  if learnt > 0 and type(at) == "number" and t - at < self.per + self.margin + learnt then
    return learnt
  end
  learnt = min(learnt + LEARN_STEP, LEARN_MAX)
  -- kept while it can matter (until it has worn off)
  local ttl = learnt / LEARN_EASE + 1
  store(self.dict, "safe_set", self.prefix .. "learnt", learnt, ttl)
  store(self.dict, "safe_set", self.prefix .. "learnt_at", t, ttl)
  return learnt
end

--- limiter:rate_limited() -> learnt margin: a request of this key came back
-- 429 (the server counted more than the limit allows): its margin widens.
function dict_limiter:rate_limited()
  local learnt = locked(self, nil, dict_learn, self, now())
  return type(learnt) == "number" and learnt or self:_learnt(now())
end

-- Seconds an entry must live: until its time (a departure, or the end of a
-- lease) + per + margin (the widest it can have learnt), and a second more.
function dict_limiter:_ttl(until_, t)
  return max(0.001, until_ - t) + self.per + self.margin + LEARN_MAX + 1
end

-- Under the lock: the next number, the earliest it may leave, and its entry
-- written: pending with a lease, or (sending) as leaving then. A booking that
-- cannot be made takes no number: a number without a live entry is a hole
-- the others must look past. Its wait would pass the deadline: nothing is
-- booked; the dict is full: nothing is booked either. n, at | nil, why.
local function dict_book(self, t, deadline, sending)
  local dict, prefix = self.dict, self.prefix
  local counter = prefix .. "next"
  local last = dict:get(counter)
  if not last then   -- a new key (or one idle for a day): a counter that evicts nothing
    local ok, err = store(dict, "safe_add", counter, 0, COUNTER_TTL)
    if not ok and err ~= "exists" then return nil, "full" end
    last = dict:get(counter) or 0
  end
  local n = last + 1
  local at = self:_bound(n, t)
  if deadline and at > deadline then return nil, "late", at - t end
  local value = sending and max(t, at) or -(t + _M.LEASE)
  local ttl = self:_ttl(sending and value or -value, t)
  if not store(dict, "safe_set", prefix .. n, value, ttl) then return nil, "full" end
  local got = dict:incr(counter, 1)
  if got and got ~= n then
    -- the lock had run out under a holder that was stopped: number n was
    -- taken twice; this booking is `got`, and n's owner finds out on its
    -- next renewal
    n, at = got, self:_bound(got, t)
    value = sending and max(t, at) or value
    if not store(dict, "safe_set", prefix .. n, value, self:_ttl(sending and value or -value, t)) then
      return nil, "full"
    end
  end
  dict:expire(counter, COUNTER_TTL)
  return n, at
end

function dict_limiter:_book(deadline, t, sending)
  local n, at, wait = locked(self, deadline, dict_book, self, t, deadline, sending)
  if n then return n, at end
  if at == "full" then return full(self) end
  if at == "late" then return nil, late("the rate limit wait (%.2f s) would pass the deadline", wait) end
  if type(at) ~= "table" then at = { kind = "limiter", message = tostring(at), sent = false } end
  return nil, at
end

--- limiter:reserve(deadline) -> delay_seconds, booking | nil, err. Books the
-- next slot without blocking; the booking is pending (holding the later ones
-- up while its lease runs) until sent() or cancel(). nil, {kind = "timeout"}
-- when its wait would pass the deadline (then nothing is booked).
function dict_limiter:reserve(deadline)
  local t = now()
  local n, at = self:_book(deadline, t)
  if not n then return nil, at end
  return max(0, at - t), { n = n, deadline = deadline }
end

-- Whether booking b's lease ran out (or its entry is gone).
function dict_limiter:_lost(b, t)
  local v = self.dict:get(self.prefix .. b.n)
  return not v or (v < 0 and t > -v)
end

--- limiter:hold(booking, seconds): renews the booking's lease (seconds, at
-- most the lease) while it waits or connects.
function dict_limiter:hold(b, seconds)
  local t = now()
  local key = self.prefix .. b.n
  local v = self.dict:get(key)
  if v and v < 0 and t <= -v then
    local lease = t + min(seconds or _M.LEASE, _M.LEASE)
    self.dict:set(key, -lease, self:_ttl(lease, t))   -- a number in place of a number: no allocation
  end
end

--- limiter:ready(booking) -> seconds still to wait (0: it may leave now) |
-- nil, err. A booking whose lease ran out (its worker was stopped or
-- blocked) books again, at the back (nil, err: that would pass its deadline,
-- or the dict is full; nothing is booked then).
function dict_limiter:ready(b)
  local t = now()
  if self:_lost(b, t) then
    local n, err = self:_book(b.deadline, t)
    if not n then return nil, err end
    b.n = n
    self.relets = self.relets + 1
  end
  local at, pending, lapse = self:_bound(b.n, t)
  local d = at - t
  if pending and d < POLL then d = POLL end
  -- a pending earlier booking: look again when its lease would run out (its
  -- owner may be gone), not a renewal later
  b.look = pending and max(POLL, lapse - t) or nil
  return max(0, d)
end

--- limiter:sent(booking) -> owed seconds | nil, err: the booking leaves now
-- (plus the owed seconds, which the caller sleeps before writing the
-- request). A booking whose lease ran out books again, counted as leaving at
-- its new slot, and owes the wait for it (nil, err: the dict is full).
function dict_limiter:sent(b)
  local t = now()
  if self:_lost(b, t) then
    self.relets = self.relets + 1
    local n, at = self:_book(nil, t, true)   -- leaving at its slot
    if not n then return nil, at end         -- full: it must not leave uncounted
    b.n = n
    self.last_sent = max(t, at)
    return max(t, at) - t
  end
  local at = self:_bound(b.n, t)
  local leave = max(t, at)
  self.dict:set(self.prefix .. b.n, leave, self:_ttl(leave, t))
  self.last_sent = leave
  return leave - t
end

-- Under the lock: the next number, as having left at `at`.
local function dict_record(self, t, at)
  local dict, prefix = self.dict, self.prefix
  local counter = prefix .. "next"
  if not dict:get(counter) then store(dict, "safe_add", counter, 0, COUNTER_TTL) end
  local n = dict:incr(counter, 1)
  if n then store(dict, "safe_set", prefix .. n, at, self:_ttl(at, t)) end
end

--- limiter:record(at): a request of this key left at `at` under another
-- limit (the Redis one, ngx_redis.lua, whose fall-back this is): counted
-- here too, so that this window knows it should Redis go away.
function dict_limiter:record(at)
  locked(self, nil, dict_record, self, now(), at)
end

--- limiter:cancel(booking): it never left and no longer counts.
function dict_limiter:cancel(b)
  self.dict:delete(self.prefix .. b.n)
end

--- limiter:acquire(deadline) -> waited seconds | nil, err (yields).
dict_limiter.acquire = acquire

function dict_limiter:stats()
  return { rate = self.rate, per = self.per, margin = self.margin, learnt_margin = self:_learnt(now()),
    key = self.key, dict = self.dict_name, granted = self.dict:get(self.prefix .. "next") or 0,
    last_sent = self.last_sent, relets = self.relets, dict_full = self.full }
end

function dict_limiter.close() end

function dict_limiter.__tostring(self)
  return format("coreplus.limiter (%d per %g s, lua_shared_dict %s)", self.rate, self.per, self.dict_name)
end

------------------------------------------------------------------------
-- The C core's limiter (a shared file, or in-process)
------------------------------------------------------------------------
-- Its reserve() already counts bookings as leaving at the booked time, and
-- sent() moves the departure to the real moment.
local core_limiter = {}
core_limiter.__index = core_limiter

function core_limiter:reserve() return self.lim:reserve() end
function core_limiter.ready() return 0 end
function core_limiter.hold() end
function core_limiter:sent(n) return self.lim:sent(n) end
function core_limiter.cancel() end  -- no API: the booking keeps counting (safe)
function core_limiter:stats() return self.lim:stats() end
function core_limiter:rate_limited() return self.lim:rate_limited() end
function core_limiter:close() self.lim:close() end
core_limiter.acquire = acquire
function core_limiter.__tostring(self) return tostring(self.lim) end

------------------------------------------------------------------------
-- Making one
------------------------------------------------------------------------

local warned_single = false
local keys_seen, nkeys = {}, 0   -- the dict limiters' keys made in this worker
local warned_small = false

local function count_key(prefix)
  if not keys_seen[prefix] then
    keys_seen[prefix] = true
    nkeys = nkeys + 1
  end
  return nkeys
end

--- check_dict(dict, name, {keys =, rate =, per =, waiting =}) -> true | nil,
-- why: whether the dict is there and large enough.
function _M.check_dict(dict, name, o)
  if not dict then
    return nil, format("no lua_shared_dict %s (include nginx/coreplus.conf in the http{} block)", name)
  end
  local need, have = _M.dict_size(o), dict:capacity()
  if have < need then
    return nil, format("lua_shared_dict %s is %s; %d key%s at %d per %g s need about %s", name, kib(have),
      o.keys or 1, (o.keys or 1) == 1 and "" or "s", o.rate or DEFAULTS.rate, o.per or DEFAULTS.per, kib(need))
  end
  return true
end

-- A short prefix for a key (a dict entry is 128 bytes while its key is short).
local function prefix_of(key)
  return "l:" .. sub(ngx.md5(tostring(key or "")), 1, 12) .. ":"
end

--- new({rate=10, per=1.0, key=, shared=nil|path|"redis://...", margin=}, config)
-- Default: the lua_shared_dict config.dict_name (all workers). With
-- `shared = path`: the C core's shared file, which other processes (the
-- CLI, a cron job using the curl transport) share too. config carries the
-- transport's tunables (dict_name, margin).
function _M.new(o, config)
  o = o or {}
  local rate, per = o.rate or DEFAULTS.rate, o.per or DEFAULTS.per
  if type(rate) ~= "number" or rate < 1 or rate ~= floor(rate) then
    raise("%s", "bad field 'rate' (a positive integer expected)")
  end
  if type(per) ~= "number" or per ~= per or per <= 0 then
    raise("%s", "bad field 'per' (seconds > 0 expected)")
  end
  local margin = o.margin or config.margin
  if type(o.shared) == "string" and find(o.shared, "^%a[%w+.-]*://") then
    -- one limit for many machines, over cosockets (ngx_redis.lua); while
    -- Redis is down (on_redis_error = "local") this transport's own limiter,
    -- at this nginx's share of the rate (counted in the dict by all workers)
    local lim = require("coreplus.transport.ngx_redis").limiter({ rate = rate, per = per,
      margin = margin, key = o.key, shared = o.shared, on_redis_error = o.on_redis_error,
      redis_timeout = o.redis_timeout, redis_cafile = o.redis_cafile,
      redis_certfile = o.redis_certfile, redis_keyfile = o.redis_keyfile,
      redis_insecure = o.redis_insecure, dict = ngx.shared and ngx.shared[config.dict_name],
      prefix = prefix_of(o.key) },
      function(share) return _M.new({ rate = share, per = per, key = o.key, margin = margin }, config) end)
    lim.acquire = acquire   -- the one wait loop
    return lim
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
  local prefix = prefix_of(o.key)
  local keys = count_key(prefix)
  if not warned_small then
    local ok, why = _M.check_dict(dict, config.dict_name, { keys = keys, rate = rate, per = per })
    if not ok then
      warned_small = true
      ngx.log(ngx.WARN, "coreplus: ", why, ": raise it in nginx.conf, or bookings will fail when it is full")
    end
  end
  return setmetatable({ dict = dict, dict_name = config.dict_name, rate = rate, per = per,
    margin = margin, key = o.key, prefix = prefix, relets = 0, full = 0,
    keys_seen = function() return nkeys end }, dict_limiter)
end

return _M
