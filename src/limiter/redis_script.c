/* redis_script.c -- the Lua script that keeps a window inside Redis
 * (see redis.c for the hash it works on). Its own unit: the
 * OpenResty transport runs the same text over cosockets, with or without
 * hiredis in the C core. */
#include "redis.h"

#include <string.h>

#include <openssl/evp.h>

/* KEYS[1] the window; ARGV: op, n, rate, per, margin, hold.
 * Returns { n, delay (string, seconds), pending (0/1), lost (0/1) }. Numbers
 * travel as strings with microseconds: Redis turns a Lua number reply into
 * an integer. Values read back are checked as the file's are (ring.c):
 * a bad time counts as now, a bad lease as run out, a bad or huge `next` or a
 * key of another type restarts the window full as of now. */
const char thr_redis_script[] =
    "-- coreplus sliding-window limiter (lua-coreplus src/limiter/redis.c)\n"
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local key, op = KEYS[1], ARGV[1]\n"
    "local n, rate = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local per, margin, hold = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) + tonumber(tm[2]) * 1e-6\n"
    "local ttl = math.ceil((3 * (per + margin) + hold + 60) * 1000)\n"
    "local horizon = (1024 / rate + 1) * (per + margin) + hold + 1\n"
    "local function f(x) return string.format('%.6f', x) end\n"
    "local function time(s)\n"
    "  local x = tonumber(s)\n"
    "  if x and x == x and x > now - 1e9 and x < now + horizon then return x end\n"
    "end\n"
    "local function restart()\n"
    "  redis.call('DEL', key)\n"
    "  for k = 1, rate do redis.call('HSET', key, k, f(now)) end\n"
    "  redis.call('HSET', key, 'next', rate)\n"
    "end\n"
    "local ty = redis.call('TYPE', key)\n"
    "if type(ty) == 'table' then ty = ty.ok end\n"
    "if ty ~= 'hash' and ty ~= 'none' then restart() end\n"
    "local function entry(v)\n"
    "  if not v then return nil end\n"
    "  local a, d = string.match(v, '^(%S+) (%S+)$')\n"
    "  if not a then return time(v) or now, nil end\n"
    "  d = time(d)\n"
    "  if d and now < d then return time(a) or now, d end\n"
    "  return nil, nil, true\n"
    "end\n"
    "local function bound(m)\n"
    "  if m <= rate then return 0, 0 end\n"
    "  local ks, j = {}, 0\n"
    "  for k = m - rate, math.max(1, m - 3 * rate + 1), -1 do j = j + 1; ks[j] = k end\n"
    "  local vs = redis.call('HMGET', key, unpack(ks))\n"
    "  local latest, pending = nil, 0\n"
    "  for i = 1, j do\n"
    "    local t, d = entry(vs[i])\n"
    "    if t then\n"
    "      if d then\n"
    "        pending = 1\n"
    "        if now > t then t = now end\n"
    "      end\n"
    "      if latest == nil or t > latest then latest = t end\n"
    "    end\n"
    "  end\n"
    "  if latest == nil then return 0, pending end\n"
    "  return latest + per + margin, pending\n"
    "end\n"
    "local function renew(m, at)\n"
    "  local t, d = entry(redis.call('HGET', key, m))\n"
    "  if not d then return nil end\n"
    "  if at and at < t then t = math.max(at, now) end\n"
    "  redis.call('HSET', key, m, f(t) .. ' ' .. f(now + hold))\n"
    "  return t\n"
    "end\n"
    "if op == 'reserve' then\n"
    "  n = redis.pcall('HINCRBY', key, 'next', 1)\n"
    "  if type(n) ~= 'number' or n < 1 or n > 1e15 then\n"
    "    restart()\n"
    "    n = redis.call('HINCRBY', key, 'next', 1)\n"
    "  end\n"
    "  local at, p = bound(n)\n"
    "  if at < now then at = now end\n"
    "  if hold > 0 then\n"
    "    redis.call('HSET', key, n, f(at) .. ' ' .. f(now + hold))\n"
    "  else\n"
    "    redis.call('HSET', key, n, f(at))\n"
    "  end\n"
    "  if n > 3 * rate then redis.call('HDEL', key, n - 3 * rate) end\n"
    "  redis.call('PEXPIRE', key, ttl)\n"
    "  return { n, f(at - now), p, 0 }\n"
    "elseif op == 'ready' then\n"
    "  local at, p = bound(n)\n"
    "  if hold > 0 then\n"
    "    local t = renew(n, at)\n"
    "    if not t then return { n, '0', p, 1 } end\n"
    "    at = math.max(at, t)\n"
    "  end\n"
    "  return { n, f(math.max(0, at - now)), p, 0 }\n"
    "elseif op == 'sent' then\n"
    "  local t, d, expired = entry(redis.call('HGET', key, n))\n"
    "  if expired then return { n, '0', 0, 1 } end\n"
    "  local at = bound(n)\n"
    "  if at < now then at = now end\n"
    "  redis.call('HSET', key, n, f(at))\n"
    "  redis.call('PEXPIRE', key, ttl)\n"
    "  return { n, f(at - now), 0, 0 }\n"
    "elseif op == 'cancel' then\n"
    "  local v = redis.call('HGET', key, n)\n"
    "  if v and string.find(v, ' ', 1, true) then redis.call('HDEL', key, n) end\n"
    "  return { n, '0', 0, 0 }\n"
    "elseif op == 'hold' then\n"
    "  return { n, '0', 0, renew(n) and 0 or 1 }\n"
    "end\n"
    "return redis.error_reply('coreplus limiter: unknown operation ' .. tostring(op))\n";

/* ===== the window's name ===== */

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
    memcpy(out, "coreplus:limit:", 15);
    thr_redis_hex(d, 16, out + 15);
    return 0;
}
