/* limit.h -- a limiter's window and where its operations run, for
 * limiter.c and book.c only. */
#ifndef COREPLUS_THROTTLE_LIMIT_H
#define COREPLUS_THROTTLE_LIMIT_H

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
    thr_file *file;             /* the window is in this file */
    unsigned char fid[32];      /* SHA-256 of the key: its slot's name there */
    int hint;                   /* where the slot was found last */
    int had_slot;               /* a slot claimed again was lost: see thr_enter */
    int busy, warned;           /* the file could not be used lately */
    uint64_t file_repairs, file_busy, relets;
    thr_redis *redis;           /* the window lives in Redis */
};

/* One operation's window: the file's (locked) or the local one. */
typedef struct thr_win {
    thr_limit *l;
    thr_ring *ring;
    int where;                  /* THR_AT_FILE or THR_AT_LOCAL */
} thr_win;

/* Enters the window at where (THR_AT_FILE: the file's, unless it cannot be
 * used now: the local one, logged once). Returns THR_FILE_OK, or
 * THR_FILE_LATE when the deadline came while waiting for the file's lock. */
int thr_enter(thr_limit *l, int where, const thr_config *cfg, double now, double deadline,
              thr_win *w);
void thr_leave(thr_win *w, int dirty);

#endif
