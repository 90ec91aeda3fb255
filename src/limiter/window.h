/* window.h -- a limiter's window and the operation that runs on it, private
 * to limiter.c (the registry), book.c (bookings) and window.c (see
 * limiter.h for the order a booking walks through them). */
#ifndef COREPLUS_LIMITER_WINDOW_H
#define COREPLUS_LIMITER_WINDOW_H

#include <pthread.h>

#include "limiter.h"
#include "file.h"
#include "redis.h"
#include "ring.h"

struct thr_limit {
    struct thr_limit *next;     /* registry list (keyed limits only) */
    char *id;                   /* path "\n" key; NULL for a private limit */
    size_t idlen;
    int refs;
    pthread_mutex_t mu;         /* guards local and the fields below */
    thr_ring *local;            /* the in-process window; for shared windows
                                   the fall-back (and Redis's stats) */
    thr_file *file;             /* the window is in this file ... */
    thr_file_key fkey;          /* ... under this key's slot */
    int busy, warned;           /* the file could not be used lately: why
                                   (THR_FILE_BUSY, _FULL, _IO), or 0 */
    uint64_t carried;           /* bookings of local numbered below this are
                                   in the file's window (thr_ring_carry) */
    uint64_t file_repairs, file_busy, relets;
    thr_redis *redis;           /* the window lives in Redis */
    double unsure_until;        /* Redis bookings pass the fall-back too until
                                   then (book.c, thr_unsure) */
    thr_clock *clock;           /* its time (NULL: the real clock), retained */
};

/* One operation's window, open: the file's (locked) or the local one (its
 * mutex held). */
typedef struct thr_win {
    thr_limit *l;
    thr_ring *ring;
    thr_config cfg;             /* the caller's, its margin widened by what
                                   the window learnt from 429s */
    int where;                  /* THR_AT_FILE or THR_AT_LOCAL */
    int carried;                /* the local window's departures were just
                                   copied into the file's: write it back */
} thr_win;

/* Opens the window at where for one operation (THR_AT_FILE: the file's,
 * unless it cannot be used now: then the local one, said once). Returns
 * THR_FILE_OK, or THR_FILE_LATE when the deadline (monotonic, 0: none) came
 * while waiting for the file's lock; nothing is open then. */
int thr_win_open(thr_limit *l, int where, const thr_config *cfg, double now, double deadline,
                 thr_win *w);
/* Writes the window back when dirty, and unlocks it. */
void thr_win_close(thr_win *w, int dirty);

#endif
