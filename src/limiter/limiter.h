/* limiter.h -- the sliding-window rate limiter, without Lua: the front of
 * src/limiter/, the one header its callers (limiter_lua.c, http.c) include.
 *
 * What it enforces: "at most rate requests in any window of per seconds",
 * counted from the moment each request really left. Bookings are numbered;
 * booking n may leave no earlier than per + margin after every booking
 * numbered n - rate or lower.
 *
 * The parts, in the order a booking walks through them:
 *
 *   limiter.c   thr_open finds the window of (where, key) in this process's
 *               registry, or opens it: in-process, in a shared file, or in
 *               Redis. Limiters with the same key share one window.
 *   book.c      the booking itself: thr_reserve books the next slot
 *               (pending), thr_ready is polled while it waits (renewing its
 *               lease), thr_hold while its request connects, thr_sent when
 *               it leaves (its real send time), thr_cancel when it never
 *               does; thr_learn_429 when its request came back 429. Redis
 *               bookings go to redis.c; the others run each step as one
 *               operation on a window:
 *   window.c    thr_win_open picks the window an operation runs in (the
 *               file's, or the in-process one when the file cannot be used,
 *               said once) and locks it; thr_win_close writes it back and
 *               unlocks. It is the only caller of file.c.
 *   file.c      the shared file: its fcntl lock (bounded wait), its header
 *               and key slots, each window read with pread, checked and
 *               mended, and written back with pwrite (file_open.c: opening
 *               it, whose it is, following its path to the file it names;
 *               file_layout.h: its layout).
 *   ring.c      a window's arithmetic: the bound of a booking, book, renew,
 *               send, cancel, and mending values read from a file.
 *   redis.c     the window kept in Redis (redis.h says how its parts
 *               work together): redis_link.c the way to a deployment
 *               (redis_find.c: the master Sentinel names, a Cluster's
 *               slots), redis_conn.c one connection (TCP or TLS, RESP),
 *               redis_tls.c the OpenSSL context, redis_url.c URLs and the
 *               masker, redis_reply.c reading replies, redis_script.c the
 *               script that runs there; noredis.c: a build without
 *               hiredis; redis_lua.c: core.redis_url, core.mask_url and
 *               what the OpenResty transport reads.
 *   path.c      where the default shared file lives.
 *   manual_clock.c  the limiter's time: the real clock, or one that moves
 *               only when told, so that specs never sleep.
 *   limiter_lua.c   core.limiter and the limiter object (manual_clock_lua.c:
 *               core.manual_clock).
 *
 * Headers include only headers below them: limiter.h -> config.h,
 * manual_clock.h;
 * window.h (private to limiter.c, book.c, window.c) -> limiter.h, file.h,
 * redis.h, ring.h; path.h, file_layout.h -> file.h -> ring.h,
 * manual_clock.h; ring.h, redis.h -> config.h; redis_link_priv.h ->
 * redis_link.h -> redis_tls.h, and -> redis_conn.h, redis_reply.h,
 * redis_url.h (those include none of the limiter's).
 *
 * Leases (docs/decisions.md#pending-leases): a booking that
 * is reserved but not yet sent holds a lease of THR_LEASE seconds, from its
 * slot or from the latest renewal. While it runs, later bookings wait for
 * the booking to leave; once it has run out the booking no longer counts, so
 * a process that died (reaped or a zombie) or is stopped holds the others up
 * for at most THR_LEASE. The owner renews while it still waits (thr_ready,
 * thr_hold); an owner whose lease ran out books again (thr_ready and
 * thr_sent do that by themselves), so it never leaves on a slot that others
 * already gave up on.
 *
 * Shared windows keep an in-process window as the fall-back for the moments
 * the shared one cannot be reached. Times are CLOCK_MONOTONIC seconds (the
 * same for every process on one boot); a file records its boot.
 *
 * Everything here is thread-safe and never calls Lua, so libcurl callbacks
 * may use it. */
#ifndef COREPLUS_LIMITER_H
#define COREPLUS_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "manual_clock.h"

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
    int late;          /* the deadline came while waiting for the shared
                          file's lock: no booking (thr_reserve), or none
                          confirmed (thr_ready, thr_sent) */
    int also;          /* a Redis booking made while unsure (book.c): also
                          booked in the fall-back window, as also_n */
    uint64_t also_n, also_tag;
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
    double learnt;          /* margin learnt from 429s, now (thr_learn_429) */
} thr_stats;

/* Opens (or joins) the window for key; path NULL = in-process. clock: the
 * window's time (NULL: the real clock; a manual one is part of the window's
 * name, so limiters on other clocks never share its in-process window). On
 * failure returns NULL and writes a message into err. */
thr_limit *thr_open(const char *key, size_t keylen, const char *path, thr_clock *clock,
                    char *err, size_t errlen);
/* The window's clock (NULL: the real one). */
thr_clock *thr_clock_of(const thr_limit *lim);
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
 * sent at the booked time. deadline (monotonic, 0 = none) bounds every wait
 * for a shared file's lock that this booking makes, here and in the calls
 * below: when it comes first, nothing is booked and tk->late is set. Returns
 * the booked time (>= now). */
double thr_reserve(thr_limit *lim, const thr_config *cfg, double now, double deadline,
                   int pending, thr_ticket *tk);

/* Seconds the booking must still wait, now that earlier bookings may have
 * left later than planned; a still-pending earlier booking counts as leaving
 * now while its lease runs. Renews this booking's lease, and books again
 * when it had run out (the owner was stopped), so it may be polled. When the
 * deadline came while waiting for the file's lock: tk->late, and a wait
 * past the deadline. */
double thr_ready(thr_ticket *tk, const thr_config *cfg, double now);

/* Renews the lease of a booking whose request is on its way out (connecting)
 * when a renewal is due. */
void thr_hold(thr_ticket *tk, const thr_config *cfg, double now);

/* Records that the booking leaves now; returns the seconds still owed
 * (earlier bookings that left late, counted once, not polled; or, when its
 * lease had run out, the wait of the new booking made in its place; or,
 * with tk->late, a wait past the deadline: it cannot be recorded in time). */
double thr_sent(thr_ticket *tk, const thr_config *cfg, double now);

/* The booking never left: it no longer counts. */
void thr_cancel(thr_ticket *tk);

void thr_get_stats(thr_limit *lim, const thr_config *cfg, thr_stats *st);
/* A request booked on lim came back 429: the window widens its margin
 * (DEFAULT_LEARN_*, src/defaults.h; docs/decisions.md#limit-learns), in the
 * shared file for every process on it (a window in Redis: in Redis, for every
 * process that shares it; while Redis cannot be used, in the fall-back
 * window). deadline (monotonic, 0: none) bounds the wait for the file's lock.
 * Returns the margin learnt, in seconds above the configured one. */
double thr_learn_429(thr_limit *lim, const thr_config *cfg, double now, double deadline);

/* Counts seconds of waiting in the window's stats (skipped when the file's
 * lock cannot be had before deadline, monotonic, 0: none). */
void thr_add_wait(thr_limit *lim, const thr_config *cfg, double seconds, double deadline);

#endif
