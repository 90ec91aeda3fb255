/* redis.h -- the sliding window kept in Redis, for limits shared by many
 * machines. Used by limiter.c only (a limiter opened on a Redis URL); no Lua
 * here, so libcurl callbacks may use it.
 *
 * The window is one Redis hash per limiter key, updated by a server-side Lua
 * script (thr_redis_script) under the Redis server's clock, so machines whose
 * clocks disagree still agree on the window. Every operation is one EVALSHA
 * round trip (EVAL when the server answers NOSCRIPT), sent where the key
 * lives (redis_link.h: a server, a Cluster, a master found by Sentinel;
 * plain TCP or TLS). Each exchange gets at most the options' timeout and
 * never runs past the caller's deadline.
 *
 * The parts, in the order an operation walks through them: redis.c (this
 * interface: the policy, the script's arguments and answer), redis_link.c
 * (connections, redirections, failover; redis_find.c: which node holds a
 * key, by Sentinel or a Cluster's slot map), redis_conn.c (one
 * connection: the socket, TLS, RESP), with redis_url.c (URLs and the
 * masker), redis_tls.c (the OpenSSL context), redis_reply.c (reading
 * replies) and redis_script.c (the script, the window's name). */
#ifndef COREPLUS_THROTTLE_REDIS_H
#define COREPLUS_THROTTLE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define THR_REDIS_POLL 0.01            /* seconds between polls while an
                                          earlier booking is pending */
#define THR_REDIS_LEASE_CAP 2.0        /* the longest lease the script keeps */

typedef struct thr_redis thr_redis;

/* How to reach Redis, and what to do when it fails. */
typedef struct thr_redis_opts {
    double timeout;            /* seconds, at most, for each exchange */
    int fail;                  /* 1: operations report failures ("fail");
                                  0: the caller books locally ("local") */
    const char *cafile;        /* rediss://: NULL = the system's CAs */
    const char *certfile;      /* with keyfile: mutual TLS */
    const char *keyfile;
    int insecure;              /* 1: the certificate is not checked (said once) */
} thr_redis_opts;

/* The script text (also served to the OpenResty transport, which runs the
 * same script through its cosocket client). */
extern const char thr_redis_script[];

/* Reads url (redis_url.h) and prepares the way there (connections are made
 * on first use). Returns NULL and a message in err (never the password)
 * when the URL or the TLS files are not usable. */
thr_redis *thr_redis_open(const char *url, const char *key, size_t keylen,
                          const thr_redis_opts *o, char *err, size_t errlen);
void thr_redis_free(thr_redis *rd);
/* The Redis key of key's window: "coreplus:limit:{" + 32 hex digits of its
 * SHA-256 + "}" (a Cluster hash tag). Returns 0, or -1 when OpenSSL fails. */
int thr_redis_window_name(const char *key, size_t keylen, char out[64]);
/* The Cluster slot of a key (CRC16 of the key, or of its {hash tag}). */
int thr_redis_slot(const char *key, size_t len);
/* A booking's owner tag: random, never 0. */
uint64_t thr_redis_new_tag(void);
/* n bytes as 2n lower-case hex digits and a NUL. */
void thr_redis_hex(const unsigned char *d, size_t n, char *out);

/* Outcomes of the operations below. */
enum { THR_REDIS_OK = 0, THR_REDIS_LOCAL = 1, THR_REDIS_FAIL = -1 };

/* Every operation takes deadline: monotonic seconds (0 = none) that no
 * exchange runs past. */

/* Books the next slot in Redis. hold > 0: the booking stays pending (later
 * ones wait for it) under a lease of hold seconds (at most
 * THR_REDIS_LEASE_CAP), owned by *tag (a new random one), renewed by
 * thr_redis_ready/thr_redis_hold, until thr_redis_sent/thr_redis_cancel; 0:
 * it counts as leaving at its slot. On THR_REDIS_OK sets *n, *tag, *delay
 * (seconds from now, Redis time) and *pending (an earlier booking in range
 * had not left yet: poll thr_redis_ready). THR_REDIS_LOCAL: Redis failed
 * and the policy is "local"; THR_REDIS_FAIL: policy "fail" (thr_redis_error
 * says why). */
int thr_redis_reserve(thr_redis *rd, const thr_config *cfg, double hold, double deadline,
                      uint64_t *n, uint64_t *tag, double *delay, int *pending);
/* Seconds booking (n, tag) must still wait for earlier bookings; sets
 * *pending. hold > 0 also renews its lease; *lost = 1 when that had run out
 * (or the booking is not its owner's any more). */
int thr_redis_ready(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                    double hold, double deadline, double *delay, int *pending, int *lost);
/* Renews booking (n, tag)'s lease for hold seconds; *lost as above. */
int thr_redis_hold(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                   double hold, double deadline, int *lost);
/* Booking (n, tag) leaves now; *owed = seconds it must still wait. *lost = 1
 * when its lease had run out: nothing is recorded, the caller books again. */
int thr_redis_sent(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                   double deadline, double *owed, int *lost);
void thr_redis_cancel(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                      double deadline);

/* A request came back 429: the window's margin widens, for every process
 * that shares it (DEFAULT_LEARN_*: at most once a window; it wears off
 * while no 429 comes). *learnt = the margin learnt, seconds. */
int thr_redis_learn(thr_redis *rd, const thr_config *cfg, double deadline, double *learnt);

/* The limit this process keeps to on its own while Redis cannot be used
 * (on_redis_error = "local"): cfg with rate scaled by this process's share
 * of the window's recent bookings (at least 1), so that processes falling
 * back together stay near the shared limit instead of a multiple of it. */
void thr_redis_share(thr_redis *rd, const thr_config *cfg, thr_config *out);
/* The count behind the share starts again (from the next booking): called
 * for each booking made while the process is unsure of Redis (book.c), so
 * that a process that comes back first after an outage, booking alone in
 * Redis while the others still limit themselves, does not take their part. */
void thr_redis_share_restart(thr_redis *rd);

/* Copies the latest failure into buf (empty when none). */
void thr_redis_error(thr_redis *rd, char *buf, size_t len);
/* Counters: commands that failed, bookings made locally during an outage,
 * values the script mended, script calls made. */
typedef struct thr_redis_counts {
    uint64_t errors, local, mended, calls;
    int connected;
} thr_redis_counts;
void thr_redis_get_counts(thr_redis *rd, thr_redis_counts *c);
void thr_redis_count_local(thr_redis *rd);

#endif
