/* redis_script.c -- the Lua script that keeps a window inside Redis
 * (see redis.c for the hash it works on). Its own unit: the
 * OpenResty transport runs the same text over cosockets, with or without
 * hiredis in the C core. */
#include "redis.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* KEYS[1] the window; ARGV: op, n, rate, per, margin, hold, tag.
 * Returns { n, delay (string, seconds), pending (0/1), lost (0/1), mended }.
 * Numbers travel as strings with microseconds: Redis turns a Lua number
 * reply into an integer.
 *
 * An entry is "t" (booking n left, or leaves, at t) or "t d tag" (pending
 * under a lease until d, owned by the booking whose random tag it names:
 * after Redis restarts and numbers start again, an old ticket's tag does
 * not match the new booking of its number, so it cannot take it over; a
 * lease runs at most 2 s past now, THR_REDIS_LEASE_CAP).
 *
 * Every value is checked where it is read and, when it cannot be right,
 * written back corrected ("mended"), so that it costs at most one window
 * once and never again: a time that is not a number, or lies beyond the
 * horizon, a lease beyond the cap, an entry of another shape ("x y",
 * "inf inf", garbage), or a departure more than a window ahead and further
 * than the bookings before it allow, becomes a departure at now (the owner
 * of a booking so mended books again): one window, once. A pending slot
 * that lies further ahead than the bookings before it allow (they may have
 * been cancelled) moves back to what they allow (a made-up one costs at
 * most two windows, once). A bad or huge `next`, or a key of another type,
 * restarts the window full as of now. A booking whose lease ran out (its owner died or stopped) counts
 * as having left at its slot, or when its lease ended if that came first
 * (nobody holds it any more); its owner, if alive, books again. Old entries
 * are trimmed once they no longer count.
 *
 * Every operation reads the whole hash (HGETALL): departures older than a
 * window are trimmed, so it holds the last window's departures and the
 * bookings still pending, and a booking that waits long (many after it were
 * cancelled) is never out of sight. */
const char thr_redis_script[] =
    "-- coreplus sliding-window limiter (lua-coreplus src/limiter/redis_script.c)\n"
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local key, op, tag = KEYS[1], ARGV[1], ARGV[7] or ''\n"
    "local n, rate = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local per, margin, hold = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "if not (n and rate and per and margin and hold) or rate < 1 or rate > 512 or per <= 0\n"
    "    or margin < 0 or hold < 0 or not string.find(tag, '^%x*$') then\n"
    "  return redis.error_reply('coreplus limiter: bad arguments')\n"
    "end\n"
    "local untagged = not string.find(tag, '[1-9a-fA-F]')\n"
    "local LEASE = 2\n"
    "if hold > LEASE then hold = LEASE end\n"
    "local step, lmax, ease = tonumber(ARGV[8]) or 0, tonumber(ARGV[9]) or 0, tonumber(ARGV[10]) or 0\n"
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) + tonumber(tm[2]) * 1e-6\n"
    "local mended = 0\n"
    "local function f(x) return string.format('%.6f', x) end\n"
    "local function restart()\n"
    "  redis.call('DEL', key)\n"
    "  for k = 1, rate do redis.call('HSET', key, k, f(now)) end\n"
    "  redis.call('HSET', key, 'next', rate)\n"
    "  mended = mended + 1\n"
    "end\n"
    "local ty = redis.call('TYPE', key)\n"
    "if type(ty) == 'table' then ty = ty.ok end\n"
    "if ty ~= 'hash' and ty ~= 'none' then restart() end\n"
    "-- The margin learnt from 429s, shared by every process: widened by step at\n"
    "-- most once a window, worn off by ease a second; one that cannot be right\n"
    "-- counts as the widest (written back).\n"
    "local lv = redis.call('HMGET', key, 'learnt', 'learnt_at')\n"
    "local learnt, learnt_at = tonumber(lv[1]), tonumber(lv[2])\n"
    "if lv[1] or lv[2] then\n"
    "  if not (learnt and learnt_at and learnt == learnt and learnt >= 0 and learnt <= lmax\n"
    "      and learnt_at == learnt_at and learnt_at > now - 1e9 and learnt_at <= now + 1) then\n"
    "    learnt, learnt_at = lmax, now\n"
    "    redis.call('HSET', key, 'learnt', f(learnt), 'learnt_at', f(now))\n"
    "    mended = mended + 1\n"
    "  end\n"
    "else\n"
    "  learnt, learnt_at = 0, now\n"
    "end\n"
    "local worn = math.max(0, learnt - ease * (now - learnt_at))\n"
    "local span = per + margin + worn\n"
    "local ttl = math.ceil((3 * span + LEASE + 60) * 1000)\n"
    "local horizon = now + (1024 / rate + 1) * span + LEASE\n"
    "local function time(s)\n"
    "  local x = tonumber(s)\n"
    "  if x and x == x and x > now - 1e9 and x <= horizon then return x end\n"
    "end\n"
    "-- An entry: t (left, or leaves, at t); or t, d, g (pending: a lease until d\n"
    "-- owned by tag g). Anything else is written back as a departure at now.\n"
    "local function read(k, v)\n"
    "  local a, d, g = string.match(v, '^(%S+) (%S+) (%x+)$')\n"
    "  local t\n"
    "  if a then\n"
    "    t, d = time(a), tonumber(d)\n"
    "    if t and d and d == d and d > now - 86400 and d <= now + LEASE then\n"
    "      if d <= now then return math.min(t, d) end\n"
    "      return t, d, g\n"
    "    end\n"
    "  else\n"
    "    t = time(v)\n"
    "    if t then return t end\n"
    "  end\n"
    "  redis.call('HSET', key, k, f(now))\n"
    "  mended = mended + 1\n"
    "  return now\n"
    "end\n"
    "-- Every booking the window still holds, in order: { k, t, d, g, raw }.\n"
    "-- Departures older than a window no longer hold anyone up: trimmed.\n"
    "local function entries()\n"
    "  local all, list = redis.call('HGETALL', key), {}\n"
    "  for i = 1, #all, 2 do\n"
    "    local k = tonumber(all[i])\n"
    "    if k and k >= 1 and k == math.floor(k) then\n"
    "      local t, d, g = read(k, all[i + 1])\n"
    "      if d or t >= now - span then\n"
    "        list[#list + 1] = { k, t, d, g, all[i + 1] }\n"
    "      else\n"
    "        redis.call('HDEL', key, all[i])\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  table.sort(list, function(x, y) return x[1] < y[1] end)\n"
    "  return list\n"
    "end\n"
    "-- When booking m may leave: per + margin after the rate-th latest of the\n"
    "-- bookings before it (numbered lower; a pending one counts as leaving now),\n"
    "-- so that no per + margin ever holds more than rate departures, whatever\n"
    "-- was cancelled; and whether one of those rate is still pending. On the\n"
    "-- way, a slot more than a window ahead and further than the bookings before\n"
    "-- it allow cannot be right: a pending one moves back to what they allow\n"
    "-- (some may have been cancelled), a departure to now.\n"
    "local function bound(m)\n"
    "  local list = entries()\n"
    "  local top = {}                 -- the rate latest so far: { time, pending }, earliest first\n"
    "  local function add(t, p)\n"
    "    if #top == rate then\n"
    "      if t <= top[1][1] then return end\n"
    "      table.remove(top, 1)\n"
    "    end\n"
    "    local i = #top + 1\n"
    "    while i > 1 and top[i - 1][1] > t do i = i - 1 end\n"
    "    table.insert(top, i, { t, p })\n"
    "  end\n"
    "  for _, e in ipairs(list) do\n"
    "    if e[1] >= m then break end\n"
    "    local allowed = #top == rate and math.max(now, top[1][1] + span) or now\n"
    "    if e[2] > now + span and e[2] > allowed + 0.001 then\n"
    "      if not e[3] then allowed = now end\n"
    "      e[2] = allowed\n"
    "      redis.call('HSET', key, e[1], e[3] and (f(allowed) .. ' ' .. f(e[3]) .. ' ' .. e[4]) or f(allowed))\n"
    "      mended = mended + 1\n"
    "    end\n"
    "    -- (pending: a booking whose slot has come and that has not left yet,\n"
    "    -- connecting: it may leave any moment, so whoever waits on it asks\n"
    "    -- again soon; one whose slot is ahead is taken at its slot)\n"
    "    if e[3] then add(math.max(e[2], now), e[2] <= now and 1 or 0) else add(e[2], 0) end\n"
    "  end\n"
    "  if #top < rate then return 0, 0 end\n"
    "  local pending = 0\n"
    "  for _, x in ipairs(top) do if x[2] == 1 then pending = 1 end end\n"
    "  return top[1][1] + span, pending\n"
    "end\n"
    "local function mine(m)\n"
    "  local v = redis.call('HGET', key, m)\n"
    "  if not v then return nil end\n"
    "  local t, d, g = read(m, v)\n"
    "  if d and g == tag then return t, d end\n"
    "end\n"
    "local function renew(m, at)\n"
    "  local t = mine(m)\n"
    "  if not t then return nil end\n"
    "  if at and at < t then t = math.max(at, now) end\n"
    "  redis.call('HSET', key, m, f(t) .. ' ' .. f(now + hold) .. ' ' .. tag)\n"
    "  return t\n"
    "end\n"
    "local function reply(m, delay, pending, lost)\n"
    "  return { m, f(delay), pending, lost, mended }\n"
    "end\n"
    "if op == 'reserve' then\n"
    "  n = redis.pcall('HINCRBY', key, 'next', 1)\n"
    "  if type(n) ~= 'number' or n < 1 or n > 1e15 then\n"
    "    restart()\n"
    "    n = redis.call('HINCRBY', key, 'next', 1)\n"
    "  end\n"
    "  local at, p = bound(n)\n"
    "  if at < now then at = now end\n"
    "  if hold > 0 and not untagged then\n"
    "    redis.call('HSET', key, n, f(at) .. ' ' .. f(now + hold) .. ' ' .. tag)\n"
    "  else\n"
    "    redis.call('HSET', key, n, f(at))\n"
    "  end\n"
    "  redis.call('PEXPIRE', key, ttl)\n"
    "  return reply(n, at - now, p, 0)\n"
    "elseif op == 'ready' then\n"
    "  local at, p = bound(n)\n"
    "  if hold > 0 then\n"
    "    local t = renew(n, at)\n"
    "    if not t then return reply(n, 0, p, 1) end\n"
    "    at = math.max(at, t)\n"
    "  end\n"
    "  return reply(n, math.max(0, at - now), p, 0)\n"
    "elseif op == 'hold' then\n"
    "  return reply(n, 0, 0, renew(n) and 0 or 1)\n"
    "elseif op == 'sent' then\n"
    "  local v = redis.call('HGET', key, n)\n"
    "  local t, d, g\n"
    "  if v then t, d, g = read(n, v) end\n"
    "  if (d and g ~= tag) or not (d or (t and untagged)) then return reply(n, 0, 0, 1) end\n"
    "  local at = bound(n)\n"
    "  if at < now then at = now end\n"
    "  redis.call('HSET', key, n, f(at))\n"
    "  redis.call('PEXPIRE', key, ttl)\n"
    "  return reply(n, at - now, 0, 0)\n"
    "elseif op == 'cancel' then\n"
    "  if mine(n) then redis.call('HDEL', key, n) end\n"
    "  return reply(n, 0, 0, 0)\n"
    "elseif op == 'learn' then\n"
    "  if not (worn > 0 and now - learnt_at < per + margin + worn) then\n"
    "    worn = math.min(lmax, worn + step)\n"
    "    redis.call('HSET', key, 'learnt', f(worn), 'learnt_at', f(now))\n"
    "    redis.call('PEXPIRE', key, ttl)\n"
    "  end\n"
    "  return reply(1, worn, 0, 0)\n"
    "end\n"
    "return redis.error_reply('coreplus limiter: unknown operation ' .. tostring(op))\n";

/* ===== the window's name, its Cluster slot, owner tags ===== */

/* CRC16-CCITT (XMODEM), as Redis Cluster hashes keys. */
static unsigned thr_redis_crc16(const char *s, size_t n)
{
    unsigned crc = 0;
    size_t i;
    int b;
    for (i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (b = 0; b < 8; b++)
            crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

int thr_redis_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;
    if (open != NULL && (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) != NULL
        && close > open + 1)
        return (int)(thr_redis_crc16(open + 1, (size_t)(close - open - 1)) % 16384);
    return (int)(thr_redis_crc16(key, len) % 16384);
}

uint64_t thr_redis_new_tag(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t count;
    uint64_t t = 0;
    if (RAND_bytes((unsigned char *)&t, sizeof t) != 1) {
        pthread_mutex_lock(&mu);   /* no randomness: still unique in this process */
        t = ++count ^ ((uint64_t)getpid() << 40);
        pthread_mutex_unlock(&mu);
    }
    return t ? t : 1;
}

void thr_redis_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int thr_redis_window_name(const char *key, size_t keylen, char out[64])
{
    unsigned char d[32];
    unsigned int dn = 0;
    if (EVP_Digest(key ? key : "", key ? keylen : 0, d, &dn, EVP_sha256(), NULL) != 1
        || dn != 32)
        return -1;
    /* the braces are a Cluster hash tag: every key of one limit in one slot */
    memcpy(out, "coreplus:limit:{", 16);
    thr_redis_hex(d, 16, out + 16);
    memcpy(out + 48, "}", 2);
    return 0;
}
