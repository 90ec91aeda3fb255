/* throttle.h -- the sliding-window rate limiter, without Lua.
 *
 * "At most rate requests in any window of per seconds", counted from the
 * moment each request really left. Bookings are numbered; booking n may leave
 * no earlier than per + margin after every booking numbered n - rate or
 * lower. A booking is reserved before the transfer (so callers queue in
 * order), then confirmed with the real send time when libcurl is about to
 * send (after connection set-up), or cancelled when it never left.
 *
 * A window lives either in this process (malloc'ed; limiters with the same key
 * share it through a refcounted registry) or in a file mapped MAP_SHARED, so
 * that processes on one machine share it. Times are CLOCK_MONOTONIC seconds,
 * which are the same for every process on one boot; a shared file records the
 * boot it was written in and forgets its bookings after a reboot.
 *
 * A window may also live in Redis (thr_open_redis, throttle_redis.c), shared
 * by many machines; this file's functions then forward to it, and keep an
 * in-process window for the fall-back when Redis cannot be reached.
 *
 * Everything here is thread-safe and never calls Lua, so libcurl callbacks
 * may use it. */
#ifndef COREPLUS_THROTTLE_H
#define COREPLUS_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "throttle_config.h"

#define THR_RING 1024                  /* bookings remembered per window */
#define THR_MAX_RATE (THR_RING / 2)
#define THR_FILE_KEYS 32               /* key slots in one shared file */
#define THR_PENDING_MAX 30.0           /* a pending booking older than this is
                                          taken as sent (its owner died) */

typedef struct thr_limit thr_limit;    /* a counted reference to one window */

typedef struct thr_ticket {
    thr_limit *lim;    /* NULL: no booking */
    uint64_t n;        /* booking number */
    double t;          /* the time the booking may leave */
    int remote;        /* booked in Redis (throttle_redis.c), not in lim's ring */
    int pending;       /* Redis saw an earlier booking still pending: poll it */
    int failed;        /* no booking: the Redis limit failed, policy "fail" */
} thr_ticket;

typedef struct thr_stats {
    uint64_t granted;       /* bookings made (all users of the window) */
    uint64_t cancelled;     /* bookings that never left */
    uint64_t pending;       /* bookings reserved, not yet sent */
    double waited_total;    /* seconds of delay handed out */
    double last_sent;       /* monotonic time of the latest departure, or 0 */
    int redis;              /* the window lives in Redis: the counters above are
                               this process's, and these say how Redis did */
    int redis_connected;
    uint64_t redis_errors;  /* Redis commands that failed */
    uint64_t redis_local;   /* bookings made locally while Redis was down */
} thr_stats;

/* Opens (or joins) the window for key; path NULL = in-process. On failure
 * returns NULL and writes a message into err. */
thr_limit *thr_open(const char *key, size_t keylen, const char *path,
                    char *err, size_t errlen);
/* Opens (or joins) a window kept in Redis at url (throttle_redis.h) for key;
 * timeout bounds the connect and each command; fail = 1: a Redis failure
 * makes thr_reserve book nothing and set tk->failed (thr_error says why);
 * fail = 0: it books in an in-process window instead. Raises nothing: the
 * connection is made on first use. NULL (message in err) for a bad URL. */
thr_limit *thr_open_redis(const char *key, size_t keylen, const char *url,
                          double timeout, int fail, char *err, size_t errlen);
/* Why the latest Redis operation failed (empty for other windows). */
void thr_error(thr_limit *lim, char *buf, size_t len);
void thr_retain(thr_limit *lim);  /* one more reference */
void thr_close(thr_limit *lim);   /* drops a reference */

/* Books the next slot. pending = 1: the caller will confirm it with
 * thr_sent() or thr_cancel(); 0: it counts as sent at the booked time.
 * Returns the booked time (>= now). */
double thr_reserve(thr_limit *lim, const thr_config *cfg, double now,
                   int pending, thr_ticket *tk);

/* Seconds the booking must still wait, now that earlier bookings may have
 * left later than planned; a still-pending earlier booking counts as leaving
 * now (until THR_PENDING_MAX), so this may be polled. (Not const: a Redis
 * ticket remembers when no earlier booking is pending any more.) */
double thr_ready(thr_ticket *tk, const thr_config *cfg, double now);

/* Records that the booking leaves now; returns the seconds still owed
 * (earlier bookings that left late, counted once, not polled). */
double thr_sent(thr_ticket *tk, const thr_config *cfg, double now);

/* The booking never left: it no longer counts. */
void thr_cancel(thr_ticket *tk);

void thr_get_stats(thr_limit *lim, thr_stats *st);
void thr_add_wait(thr_limit *lim, double seconds);

#endif
