/* redis.h -- the sliding window kept in Redis, for limits shared by
 * many machines. Used by limiter.c only (a limiter opened on a redis:// URL);
 * no Lua here, so libcurl callbacks may use it.
 *
 * The window is one Redis hash per limiter key, updated by a server-side Lua
 * script (thr_redis_script) under the Redis server's clock, so machines whose
 * clocks disagree still agree on the window. Every operation is one EVALSHA
 * round trip (EVAL when the server answers NOSCRIPT). */
#ifndef COREPLUS_THROTTLE_REDIS_H
#define COREPLUS_THROTTLE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define THR_REDIS_RETRY 1.0            /* seconds between reconnect attempts */
#define THR_REDIS_POLL 0.01            /* seconds between polls while an
                                          earlier booking is pending */

typedef struct thr_redis thr_redis;

/* The script text (also served to the OpenResty transport, which runs the
 * same script through resty.redis). */
extern const char thr_redis_script[];

/* Parses url ("redis://[[user]:password@]host[:port][/db]") and prepares a
 * connection (made lazily, on first use). fail = 1: operations report Redis
 * failures; 0: the caller falls back to its own window. Returns NULL and a
 * message in err when the URL is not usable. */
thr_redis *thr_redis_open(const char *url, const char *key, size_t keylen,
                          double timeout, int fail, char *err, size_t errlen);
void thr_redis_free(thr_redis *rd);
/* The Redis key of key's window: "coreplus:limit:" + 32 hex digits of its
 * SHA-256. Returns 0, or -1 when OpenSSL fails. */
int thr_redis_window_name(const char *key, size_t keylen, char out[64]);
/* n bytes as 2n lower-case hex digits and a NUL. */
void thr_redis_hex(const unsigned char *d, size_t n, char *out);

/* Outcomes of the operations below. */
enum { THR_REDIS_OK = 0, THR_REDIS_LOCAL = 1, THR_REDIS_FAIL = -1 };

/* Books the next slot in Redis. hold > 0: the booking stays pending (later
 * ones wait for it) under a lease of hold seconds past its slot, renewed by
 * thr_redis_ready/thr_redis_hold, until thr_redis_sent/thr_redis_cancel; 0:
 * it counts as leaving at its slot. On THR_REDIS_OK sets *n, *delay
 * (seconds from now, Redis time) and *pending (an earlier booking in range
 * had not left yet: poll thr_redis_ready). THR_REDIS_LOCAL: Redis failed
 * and the policy is "local"; THR_REDIS_FAIL: policy "fail" (thr_redis_error
 * says why). */
int thr_redis_reserve(thr_redis *rd, const thr_config *cfg, double hold,
                      uint64_t *n, double *delay, int *pending);
/* Seconds booking n must still wait for earlier bookings; sets *pending.
 * hold > 0 also renews its lease; *lost = 1 when that had run out. */
int thr_redis_ready(thr_redis *rd, const thr_config *cfg, uint64_t n, double hold,
                    double *delay, int *pending, int *lost);
/* Renews booking n's lease for hold seconds; *lost = 1 when it had run out. */
int thr_redis_hold(thr_redis *rd, const thr_config *cfg, uint64_t n, double hold, int *lost);
/* Booking n leaves now; *owed = seconds it must still wait. *lost = 1 when
 * its lease had run out: nothing is recorded, the caller books again. */
int thr_redis_sent(thr_redis *rd, const thr_config *cfg, uint64_t n, double *owed,
                   int *lost);
void thr_redis_cancel(thr_redis *rd, const thr_config *cfg, uint64_t n);

/* Copies the latest failure into buf (empty when none). */
void thr_redis_error(thr_redis *rd, char *buf, size_t len);
/* Counters: commands that failed, bookings made locally during an outage. */
void thr_redis_counts(thr_redis *rd, uint64_t *errors, uint64_t *local, int *connected);
void thr_redis_count_local(thr_redis *rd);

#endif
