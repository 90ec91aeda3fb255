--- The OpenResty transport's limiter kept in Redis (`shared_limit =` a Redis
-- URL, read by the C core's `core.redis_url`): the C core's own script
-- (src/limiter/redis_script.c, `core._private.redis_limiter_script`) run
-- over cosockets (ngx_redis_link.lua: TLS, Cluster, Sentinel), so a worker
-- waiting for Redis yields instead of blocking. Windows are the same Redis
-- keys the C core uses, so nginx workers, CLI runs and other machines share
-- one limit.
--
-- Interface: the ngx transport's limiter (transport/ngx_limiter.lua, whose
-- wait loop gives it `acquire`): reserve, hold, ready, sent, cancel,
-- rate_limited, stats, close; each method takes an optional last `deadline`
-- (ngx.now() seconds) that no Redis exchange runs past. A booking is a table
-- (its number and owner tag may change: a booking whose lease ran out is
-- booked again by `ready`). Options: on_redis_error = "local" (default: book
-- in `make_fallback(rate)`, the transport's own limiter, at this nginx's
-- recent share of the rate, and log once with ngx.log) or "fail" (reserve
-- returns nil, {kind = "limiter"}); redis_timeout (0.5 s:
-- each exchange, at most); redis_certfile, redis_keyfile (mutual TLS);
-- redis_insecure (the certificate is not checked; said once); redis_cafile
-- does not apply (nginx verifies with lua_ssl_trusted_certificate; said once).
-- luacheck: std luajit+ngx_lua
local raise = require("coreplus.misuse").raise
local core = require "coreplus.core"
local links = require "coreplus.transport.ngx_redis_link"

local ngx = ngx
local type, tostring, tonumber, setmetatable = type, tostring, tonumber, setmetatable
local format, byte, gsub = string.format, string.byte, string.gsub
local max, min, floor = math.max, math.min, math.floor

local SCRIPT = core._private.redis_limiter_script
local SHA = gsub(ngx.sha1_bin(SCRIPT), ".", function(c) return format("%02x", byte(c)) end)
local LEASE = core.defaults.lease   -- seconds a pending booking holds the others up (the core's)
local RENEW = LEASE / 4    -- renewed this often while its owner waits
local POLL = 0.01          -- seconds between polls while an earlier booking is pending
-- a 429's lesson, as the C core's (core.defaults): the margin Redis keeps for every process
local LEARN = { format("%.6f", core.defaults.learn_step), format("%.6f", core.defaults.learn_max),
  format("%.6f", core.defaults.learn_ease) }

local _M = {}

local said = {}            -- per worker: what was said once
local function say_once(what, ...)
  if said[what] then return end
  said[what] = true
  ngx.log(ngx.WARN, ...)
end

local limiter = {}
limiter.__index = limiter

local function now()
  ngx.update_time()
  return ngx.now()
end

-- One script call: { n, delay, pending, lost } | nil, why.
function limiter:_call(op, b, hold, deadline)
  local args = { 1, self.wkey, op, tostring(b and b.n or 0), tostring(self.rate),
    format("%.6f", self.per), format("%.6f", self.margin), format("%.6f", hold or 0),
    b and b.tag or "0", LEARN[1], LEARN[2], LEARN[3] }
  local res, err = self.link:script(SHA, SCRIPT, self.slot, args, self.timeout, deadline)
  if not res then return nil, self.link.u.shown .. ": " .. tostring(err) end
  local n, d = tonumber(res[1]), tonumber(res[2])
  if not (n and d and d >= 0 and #res == 5) then
    return nil, self.link.u.shown .. ": unexpected reply from the limiter script"
  end
  self.repairs = self.repairs + (tonumber(res[5]) or 0)
  return { n = n, delay = d, pending = res[3] == 1, lost = res[4] == 1 }
end

-- Runs op, or says why not (once per outage, with policy "local"). A
-- failure because the call's own time ran out says nothing of Redis: it is
-- not said (the C core's rule), and the call goes on under the fall-back.
function limiter:_op(op, b, hold, deadline)
  if deadline and now() >= deadline then   -- nothing to ask Redis, nothing to say
    return nil, self.link.u.shown .. ": the call's deadline had passed"
  end
  local r, err = self:_call(op, b, hold, deadline)
  if r then
    if self.outage then
      self.outage = false
      if not self.fail then
        ngx.log(ngx.WARN, "coreplus: the shared limit at ", self.link.u.shown, " answers again")
      end
    end
    return r
  end
  self.err, self.errors = err, self.errors + 1
  if deadline and now() >= deadline - 0.001 then return nil, err end
  if not self.outage then
    self.outage = true   -- said once per outage (per worker and limiter)
    if not self.fail then
      ngx.log(ngx.WARN, "coreplus: ", err, "; limiting this nginx on its own, at its recent share of ",
        "the limit, until Redis answers (on_redis_error = \"local\")")
    end
  end
  return nil, err
end

------------------------------------------------------------------------
-- This nginx's share, and the fall-back
------------------------------------------------------------------------
-- The C core's rule (src/limiter/redis.c, thr_redis_count_share): while
-- Redis is away, each machine keeps to its part of the window's recent
-- bookings, so that machines falling back together stay near the limit
-- (8 that shared it evenly keep to 1 a second each, at least 1). An nginx
-- is one machine: its workers count their bookings together, in the
-- lua_shared_dict when there is one.
local SHARE_TTL = 3600     -- an idle limit's count goes after an hour

-- Where the count lives without a shared dict (one worker): the dict's
-- methods that it uses, on a table.
local counts = {}
counts.__index = counts
function counts:get(k) return self.v[k] end
function counts:safe_set(k, v) self.v[k] = v; return true end
function counts:delete(k) self.v[k] = nil end
function counts:incr(k, by) self.v[k] = (self.v[k] or 0) + by; return self.v[k] end

-- A booking of this nginx got number n in the window: counted. The count
-- starts again every 8 x rate numbers, and when the numbers went back by
-- more than a window (the window restarted, its numbering with it).
function limiter:_count_share(n)
  local d, p, rate = self.counts, self.sprefix, self.rate
  local n0, last = d:get(p .. "n0"), d:get(p .. "last")
  if not n0 or n < n0 or (last and n + rate < last) or n - n0 >= 8 * rate then
    -- (safe_*: a full dict evicts no booking for this; the share stays)
    d:safe_set(p .. "n0", n, SHARE_TTL)
    d:safe_set(p .. "mine", 0, SHARE_TTL)
    n0 = n
  end
  if not last or n > last or n + rate < last then d:safe_set(p .. "last", n, SHARE_TTL) end
  local mine = d:incr(p .. "mine", 1)
  if mine and n - n0 + 1 >= rate then d:safe_set(p .. "share", min(1, mine / (n - n0 + 1)), SHARE_TTL) end
end

-- The count starts again from the next booking: for each booking made while
-- unsure, so that the worker that comes back first after an outage, booking
-- alone in Redis while the others still limit themselves, takes no one
-- else's part (the C core's thr_redis_share_restart).
function limiter:_restart_share()
  self.counts:delete(self.sprefix .. "n0")
end

-- The rate this nginx keeps to while Redis is away: its share, at least 1.
function limiter:share_rate()
  local share = self.counts:get(self.sprefix .. "share")
  if type(share) ~= "number" or not (share > 0 and share <= 1) then share = 1 end
  return max(1, min(self.rate, floor(self.rate * share)))
end

-- The fall-back limiter at the current share (one per rate, made once).
function limiter:_fallback()
  local rate = self:share_rate()
  local fb = self.fbs[rate]
  if not fb then
    fb = self.make_fallback(rate)
    self.fbs[rate] = fb
  end
  return fb
end

-- While Redis is away, and for a window after the last departure it
-- cannot know of (made on the fall-back alone), this nginx is "unsure":
-- its bookings in Redis are made in the fall-back's window too and leave
-- when both allow. That window knows every recent departure of this nginx
-- (those under Redis too: sent() records them there), so switching either
-- way sends no more than this nginx's share, whatever its workers each
-- believe of Redis at that moment (docs/decisions.md#redis-switch).
function limiter:_unsure()
  if self.dict then return self.dict:get(self.sprefix .. "unsure") ~= nil end
  return now() < self.unsure_until
end

function limiter:_set_unsure()
  if self.fail then return end
  local span = self.per + self.margin + core.defaults.learn_max + LEASE
  if self.dict then self.dict:safe_set(self.sprefix .. "unsure", true, span)
  else self.unsure_until = now() + span end
end

-- Books in Redis: the booking, its delay | nil, err.
function limiter:_book(hold, deadline)
  local b = { tag = hold > 0 and core._private.redis_tag() or "0", renewed = now() }
  local r, err = self:_op("reserve", b, hold, deadline)
  if not r then return nil, err end
  b.n, b.pending, b.at = r.n, r.pending, now() + r.delay
  self.granted = self.granted + 1
  self:_count_share(r.n)
  return b, r.delay
end

-- Books b in the fall-back: alone (Redis is away), or `also` (unsure). The
-- fall-back's delay | nil, err (its wait would pass the deadline).
function limiter:_book_fallback(b, also, deadline)
  local fb = self:_fallback()
  local d, fn = fb:reserve(deadline)
  if d == nil then return nil, fn end
  b.fb = fb
  if also then b.also = fn else b.fallback = fn; self.fallback_used = self.fallback_used + 1 end
  return d
end

--- limiter:reserve([deadline]) -> delay, booking | nil, err (policy "fail").
-- The delay is at most RENEW: the caller sleeps it and asks `ready`, which
-- renews the booking's lease, until `ready` says 0.
function limiter:reserve(deadline)
  local b, d = self:_book(LEASE, deadline)
  if not b then
    if self.fail then return nil, { kind = "limiter", message = d, sent = false } end
    self:_set_unsure()
    b = {}
    local fd, err = self:_book_fallback(b, false, deadline)
    if fd == nil then return nil, err end
    return fd, b
  end
  if self:_unsure() then
    self:_restart_share()
    local fd, err = self:_book_fallback(b, true, deadline)
    if fd == nil then
      self:_op("cancel", b, 0, deadline)
      return nil, err
    end
    d = max(d, fd)
  end
  return max(0, min(d, RENEW)), b
end

--- hold(booking, seconds [, deadline]): renews its lease (at most LEASE:
-- a longer wait renews again, through ready).
function limiter:hold(b, seconds, deadline)
  if b.fallback then return b.fb:hold(b.fallback, seconds) end
  if b.also then b.fb:hold(b.also, seconds) end
  local r = self:_op("hold", b, min(seconds or LEASE, LEASE), deadline)
  if r then b.renewed = now() end
  b.lost = r and r.lost or nil
end

-- ready() for the booking in Redis: seconds | nil (Redis is gone).
function limiter:_ready_redis(b, deadline)
  local t = now()
  local renew = t - b.renewed >= RENEW
  if not b.pending and not renew and not b.lost then return max(0, min(b.at - t, RENEW)) end
  local r = self:_op("ready", b, renew and LEASE or 0, deadline)
  if not r then return nil end
  if r.lost or b.lost then
    self.relets = self.relets + 1
    local nb, d = self:_book(LEASE, deadline)
    if not nb then return nil end
    b.n, b.tag, b.pending, b.renewed, b.at, b.lost = nb.n, nb.tag, nb.pending, nb.renewed, nb.at, nil
    return max(0, min(d, RENEW))
  end
  if renew then b.renewed = now() end
  b.pending, b.at = r.pending, now() + r.delay
  local d = r.delay
  if r.pending and d < POLL then d = POLL end
  return max(0, min(d, RENEW))
end

--- ready(booking [, deadline]) -> seconds to sleep before asking again (0:
-- it may leave now; at most RENEW) | nil, err. Renews the lease when due; a
-- booking whose lease ran out (this worker was stopped) is booked again, at
-- the back. When Redis is gone the booking moves to the fall-back.
function limiter:ready(b, deadline)
  if b.fallback then return b.fb:ready(b.fallback) end
  local d = self:_ready_redis(b, deadline)
  if not d then
    if self.fail then   -- go by the booked slot
      b.pending = false
      return max(0, min(b.at - now(), RENEW))
    end
    self:_set_unsure()
    if b.also then
      b.fallback, b.also = b.also, nil
      return b.fb:ready(b.fallback)
    end
    return self:_book_fallback(b, false, deadline)
  end
  if b.also then
    local fd, err = b.fb:ready(b.also)
    if not fd then return nil, err end
    d = max(d, fd)
  end
  return d
end

-- A departure at `at`, counted in the fall-back's window too (when it has
-- one: the shared dict), so that the window knows this nginx's recent
-- departures should Redis go away.
function limiter:_mirror(at)
  if self.fail then return end
  local fb = self:_fallback()
  if fb.record then fb:record(at) end
end

--- sent(booking [, deadline]) -> owed seconds | nil, err: the booking leaves
-- now (after the owed seconds).
function limiter:sent(b, deadline)
  if b.fallback then
    self:_set_unsure()   -- a departure Redis will not know of
    return b.fb:sent(b.fallback)
  end
  b.pending = false
  local r = self:_op("sent", b, 0, deadline)
  local owed = r and max(0, r.delay) or 0
  if r and r.lost then
    -- The booking's lease ran out (this worker was late): nothing was
    -- recorded, so the request books again, leaving at its new slot.
    self.relets = self.relets + 1
    local nb, d = self:_book(0, deadline)
    owed = nb and max(0, d) or 0
  end
  if b.also then
    local fo, err = b.fb:sent(b.also)
    if not fo then return nil, err end
    return max(owed, fo)
  end
  self:_mirror(now() + owed)
  return owed
end

function limiter:cancel(b, deadline)
  if b.fallback then return b.fb:cancel(b.fallback) end
  if b.also then b.fb:cancel(b.also) end
  b.pending = false
  self:_op("cancel", b, 0, deadline)
end

--- rate_limited([deadline]) -> learnt margin: a request of this limit came
-- back 429. The margin widens in Redis, for every machine (the script's
-- "learn", the C core's rule: docs/decisions.md#limit-learns); while Redis
-- cannot be used, the fall-back's.
function limiter:rate_limited(deadline)
  local r = self:_op("learn", nil, 0, deadline)
  if r then return r.delay end
  local fb = self:_fallback()
  return fb.rate_limited and fb:rate_limited() or 0
end

function limiter:stats()
  return { rate = self.rate, per = self.per, margin = self.margin, key = self.key,
    shared = self.link.u.shown, granted = self.granted, relets = self.relets,
    redis_errors = self.errors, redis_local = self.fallback_used, redis_repairs = self.repairs,
    redis_share_rate = self:share_rate() }
end

function limiter.close() end

function limiter.__tostring(self)
  return format("coreplus.limiter (%d per %g s, shared in Redis)", self.rate, self.per)
end

local function file_option(o, name)
  local v = o[name]
  if v ~= nil and (type(v) ~= "string" or v == "") then
    raise("%s", "bad field '" .. name .. "' (a file path expected)")
  end
  return v
end

--- limiter(o, make_fallback): o as the transport's limiter{} (rate, per,
-- margin, key, shared = URL, on_redis_error, redis_timeout, redis_cafile,
-- redis_certfile, redis_keyfile, redis_insecure; dict, prefix: the
-- lua_shared_dict where the workers count this nginx's share, and the
-- key's prefix there); make_fallback(rate) returns the limiter used while
-- Redis is down (policy "local"), keeping to rate.
function _M.limiter(o, make_fallback)
  local policy = o.on_redis_error or "local"
  if policy ~= "local" and policy ~= "fail" then
    raise("%s", "bad field 'on_redis_error' (\"local\" or \"fail\" expected)")
  end
  local timeout = o.redis_timeout or core.defaults.redis_timeout
  if type(timeout) ~= "number" or not (timeout > 0 and timeout <= 60) then
    raise("%s", "bad field 'redis_timeout' (seconds > 0 and <= 60 expected)")
  end
  if o.redis_insecure ~= nil and type(o.redis_insecure) ~= "boolean" then
    raise("%s", "bad field 'redis_insecure' (boolean expected)")
  end
  local tls = { certfile = file_option(o, "redis_certfile"), keyfile = file_option(o, "redis_keyfile"),
    insecure = o.redis_insecure == true }
  file_option(o, "redis_cafile")
  local link, why = links.get(o.shared, tls)
  if not link then raise("%s", "bad field 'shared' (" .. core.mask_url(why) .. ")") end
  if link.u.tls and tls.insecure then
    say_once("insecure " .. link.u.shown, "coreplus: redis_insecure = true: the certificate of ",
      link.u.shown, " is not checked")
  end
  if o.redis_cafile then
    say_once("cafile", "coreplus: redis_cafile does not apply to the ngx transport; nginx ",
      "verifies Redis with lua_ssl_trusted_certificate (see nginx/coreplus.conf)")
  end
  local wkey = core._private.redis_limiter_key(o.key)
  return setmetatable({ link = link, rate = o.rate, per = o.per, margin = o.margin, key = o.key,
    wkey = wkey, slot = core._private.redis_limiter_slot(wkey), fail = policy == "fail",
    timeout = timeout, make_fallback = make_fallback, fbs = {}, unsure_until = 0, outage = false,
    granted = 0, errors = 0, relets = 0, repairs = 0, fallback_used = 0, dict = o.dict,
    counts = o.dict or setmetatable({ v = {} }, counts), sprefix = (o.prefix or "") .. "share:" }, limiter)
end

return _M
