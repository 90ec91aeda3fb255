/* window.c -- where one operation on a limiter runs (see window.h): the
 * shared file's window, locked, or this process's own. The only caller of
 * file.c. */
#include "window.h"

#include <stdio.h>

/* A full file is said once per process, not once per key: a process with
 * hundreds of practices would otherwise say it hundreds of times. */
static int thr_full_said;

#define THR_STR_(x) #x
#define THR_STR(x) THR_STR_(x)   /* a number macro as text */

/* Logged once per episode: stderr, because the C core has no logger. */
static void thr_win_trouble(thr_limit *l, int rc)
{
    const char *why = rc == THR_FILE_BUSY ? "stayed locked for 1 s (is a process holding it stopped?)"
                    : rc == THR_FILE_FULL ? "has no free key slot any more (" THR_STR(THR_FILE_KEYS) " keys are in use)"
                    : thr_file_why(l->file)[0] ? thr_file_why(l->file)
                    : "cannot be read or written";
    pthread_mutex_lock(&l->mu);
    l->busy = rc;
    l->file_busy++;
    if (!l->warned && !(rc == THR_FILE_FULL && thr_full_said)) {
        l->warned = 1;
        if (rc == THR_FILE_FULL)
            thr_full_said = 1;
        fprintf(stderr, "coreplus: the shared limit file '%s' %s; limiting this process on "
                        "its own until it can be used again%s\n", thr_file_path(l->file), why,
                rc != THR_FILE_FULL ? ""
                : ". Many practices on one machine: keep their limits in-process "
                  "(shared_limit = false, COREPLUS_SHARED_LIMIT=off) or in Redis "
                  "(shared_limit = \"redis://...\")");
    }
    pthread_mutex_unlock(&l->mu);
}

static void thr_win_fine(thr_limit *l, const thr_file_op *op)
{
    pthread_mutex_lock(&l->mu);
    if (l->busy && l->warned)
        fprintf(stderr, "coreplus: the shared limit file '%s' can be used again\n",
                thr_file_path(l->file));
    l->busy = l->warned = 0;
    l->file_repairs += (uint64_t)op->repaired;
    pthread_mutex_unlock(&l->mu);
}

/* What this process sent in its own window while the file could not be
 * used (no free key slot, a lock held too long) goes into the file's window
 * when it can be used again: the key would else start there as if it had
 * sent nothing, and send a second window's worth at once
 * (docs/decisions.md#limit-carried-to-file). Returns 1 when it looked (the
 * window may have changed). */
static int thr_win_carry(thr_limit *l, thr_ring *ring, const thr_config *cfg, double now)
{
    thr_config c = *cfg;
    int any = 0;
    pthread_mutex_lock(&l->mu);   /* (after the file's lock: the order thr_win_fine takes) */
    if (l->local->next > l->carried) {
        c.margin += thr_ring_learnt(l->local, now);
        thr_ring_carry(ring, l->local, &c, now, &l->carried);
        any = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return any;
}

/* The file's window of l, read and mended. */
static int thr_win_open_file(thr_limit *l, const thr_config *cfg, double now, double deadline,
                             thr_win *w)
{
    thr_file_op op;
    /* While the lock stays taken, look only briefly: the local window serves. */
    int rc = thr_file_begin(l->file, &l->fkey, cfg, l->clock, now,
                            l->busy ? 0.01 : THR_LOCK_WAIT, deadline, &op);
    if (rc != THR_FILE_OK)
        return rc;
    if (op.repaired || l->busy)
        thr_win_fine(l, &op);
    w->ring = op.ring;
    w->where = THR_AT_FILE;
    w->carried = thr_win_carry(l, op.ring, cfg, now);
    return THR_FILE_OK;
}

int thr_win_open(thr_limit *l, int where, const thr_config *cfg, double now, double deadline,
                 thr_win *w)
{
    w->l = l;
    w->cfg = *cfg;
    w->carried = 0;
    if (where == THR_AT_FILE && l->file != NULL) {
        int rc = thr_win_open_file(l, cfg, now, deadline, w);
        if (rc == THR_FILE_LATE)
            return rc;
        if (rc == THR_FILE_OK) {
            w->cfg.margin += thr_ring_learnt(w->ring, now);
            return rc;
        }
        thr_win_trouble(l, rc);
    }
    pthread_mutex_lock(&l->mu);
    w->cfg.margin += thr_ring_learnt(l->local, now);
    l->local = thr_ring_room(l->local, &w->cfg, now);   /* an operation books at most once */
    w->ring = l->local;
    w->where = THR_AT_LOCAL;
    return THR_FILE_OK;
}

void thr_win_close(thr_win *w, int dirty)
{
    if (w->where == THR_AT_FILE)
        thr_file_end(w->l->file, &w->l->fkey, dirty || w->carried);
    else
        pthread_mutex_unlock(&w->l->mu);
}
