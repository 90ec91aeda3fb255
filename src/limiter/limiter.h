/* limiter.h -- the sliding-window rate limiter, without Lua.
 *
 * "At most rate requests in any window of per seconds", counted from the
 * moment each request really left. Bookings are numbered; booking n may leave
 * no earlier than per + margin after every booking numbered n - rate or
 * lower. A booking is reserved before the transfer (so callers queue in
 * order), then confirmed with the real send time when libcurl is about to
 * send (after connection set-up), or cancelled when it never left.
 *
 * Leases (docs/decisions.md, "Pending bookings hold leases"): a booking that
 * is reserved but not yet sent holds a lease of THR_LEASE seconds, from its
 * slot or from the latest renewal. While it runs, later bookings wait for
 * the booking to leave; once it has run out the booking counts as having left
 * at its booked time, so a process that died (reaped or a zombie) or is
 * stopped holds the others up for at most THR_LEASE. The owner renews while
 * it still waits (thr_ready, thr_hold); an owner whose lease ran out books
 * again (thr_ready and thr_sent do that by themselves), so it never leaves on
 * a slot that others already gave up on.
 *
 * A window lives in this process (limiters with the same key share it
 * through a refcounted registry), in a file that processes on one machine
 * share (file.c: read and written with pread/pwrite under an fcntl
 * lock whose wait is bounded; every value read is checked, and a damaged
 * file is rebuilt), or in Redis (redis.c), shared by many machines.
 * Shared windows keep an in-process window as the fall-back for the moments
 * the shared one cannot be reached. Times are CLOCK_MONOTONIC seconds (the
 * same for every process on one boot); a file records its boot.
 *
 * Everything here is thread-safe and never calls Lua, so libcurl callbacks
 * may use it. */
#ifndef COREPLUS_THROTTLE_H
#define COREPLUS_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define THR_RING 1024                  /* bookings remembered per window */
#define THR_MAX_RATE (THR_RING / 2)
#define THR_FILE_KEYS 32               /* key slots in one shared file */
#define THR_FILE_IDLE 7200.0           /* a window's span when its own cannot be read */
#define THR_LEASE 1.0                  /* seconds a pending booking holds the
                                          others up without a renewal */
#define THR_RENEW (THR_LEASE / 4)      /* the owner renews this often */
#define THR_LOCK_WAIT 1.0              /* the longest wait for a file's lock */

/* What ran out, when a wait would pass a deadline (core.request's and
 * limiter:acquire's kind "timeout"). */
#define THR_LATE_WAIT "the rate limit wait (%.2f s) would pass the deadline"
#define THR_LATE_LOCK "the wait for the shared limit file's lock would pass the deadline"
#define THR_LATE_PAST "the deadline had passed (%.2f s ago) before the request could start"

typedef struct thr_limit thr_limit;    /* a counted reference to one window */

/* Where a booking was made. */
enum { THR_AT_LOCAL = 0, THR_AT_FILE, THR_AT_REDIS };

typedef struct thr_ticket {
    thr_limit *lim;    /* NULL: no booking */
    uint64_t n;        /* booking number */
    uint64_t tag;      /* its mark in a local or file window (0: none) */
    double t;          /* the time the booking may leave */
    thr_config cfg;    /* as booked (a cancel mends a file's values with it) */
    double deadline;   /* monotonic; 0: none (bounds the wait for a lock) */
    double renewed;    /* when its lease was last renewed */
    int where;         /* THR_AT_* */
    int pending;       /* Redis saw an earlier booking still pending: poll it */
    int failed;        /* no booking: the Redis limit failed, policy "fail" */
    int late;          /* no booking: the deadline came while waiting for the
                          shared file's lock */
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
    uint64_t redis_repairs; /* values the Redis script mended */
    uint64_t redis_calls;   /* script calls (Redis round trips, redirections aside) */
    int file;               /* the window lives in a shared file: */
    uint64_t file_repairs;  /* damaged values or files this process mended */
    uint64_t file_busy;     /* bookings made locally: the lock stayed taken */
    uint64_t relets;        /* bookings made again after their lease ran out */
} thr_stats;

/* Opens (or joins) the window for key; path NULL = in-process. On failure
 * returns NULL and writes a message into err. */
thr_limit *thr_open(const char *key, size_t keylen, const char *path,
                    char *err, size_t errlen);
/* Opens (or joins) a window kept in Redis at url (redis.h) for key; o
 * says how (TLS files, the timeout of each exchange) and what a failure
 * does: o->fail = 1 makes thr_reserve book nothing and set tk->failed
 * (thr_error says why); 0 books in an in-process window instead. Raises
 * nothing: the connection is made on first use. NULL (message in err) for
 * a bad URL or unusable TLS files. */
struct thr_redis_opts;
thr_limit *thr_open_redis(const char *key, size_t keylen, const char *url,
                          const struct thr_redis_opts *o, char *err, size_t errlen);
/* Why the latest Redis operation failed (empty for other windows). */
void thr_error(thr_limit *lim, char *buf, size_t len);
void thr_retain(thr_limit *lim);  /* one more reference */
void thr_close(thr_limit *lim);   /* drops a reference */
int thr_shared(const thr_limit *lim);   /* the window is in a file or Redis */

/* Books the next slot. pending = 1: the caller will confirm it with
 * thr_sent() or thr_cancel(), renewing its lease meanwhile; 0: it counts as
 * sent at the booked time. deadline (monotonic, 0 = none) bounds the wait for
 * a shared file's lock: when it comes first, nothing is booked and tk->late
 * is set. Returns the booked time (>= now). */
double thr_reserve(thr_limit *lim, const thr_config *cfg, double now, double deadline,
                   int pending, thr_ticket *tk);

/* Seconds the booking must still wait, now that earlier bookings may have
 * left later than planned; a still-pending earlier booking counts as leaving
 * now while its lease runs. Renews this booking's lease, and books again
 * when it had run out (the owner was stopped), so it may be polled. */
double thr_ready(thr_ticket *tk, const thr_config *cfg, double now);

/* Renews the lease of a booking whose request is on its way out (connecting)
 * when a renewal is due. */
void thr_hold(thr_ticket *tk, const thr_config *cfg, double now);

/* Records that the booking leaves now; returns the seconds still owed
 * (earlier bookings that left late, counted once, not polled; or, when its
 * lease had run out, the wait of the new booking made in its place). */
double thr_sent(thr_ticket *tk, const thr_config *cfg, double now);

/* The booking never left: it no longer counts. */
void thr_cancel(thr_ticket *tk);

void thr_get_stats(thr_limit *lim, const thr_config *cfg, thr_stats *st);
void thr_add_wait(thr_limit *lim, const thr_config *cfg, double seconds);

#endif
