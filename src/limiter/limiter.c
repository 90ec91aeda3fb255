/* limiter.c -- the limiter's windows: the in-process registry, and where a
 * window's operation runs (see limiter.h). The bookings themselves are in
 * book.c, the window's arithmetic in ring.c, shared files in
 * file.c, Redis in redis.c. */
#include "limit.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"

static pthread_mutex_t thr_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static thr_limit *thr_registry;

/* ===== where an operation runs ===== */

/* A full file is said once per process, not once per key: a process with
 * hundreds of practices would otherwise say it hundreds of times. */
static int thr_full_said;

/* Logged once per episode: stderr, because the C core has no logger. */
static void thr_file_trouble(thr_limit *l, int rc)
{
    const char *why = rc == THR_FILE_BUSY ? "stayed locked for 1 s (is a process holding it stopped?)"
                    : rc == THR_FILE_FULL ? "has no free key slot any more (32 keys are in use)"
                    : "cannot be read or written";
    pthread_mutex_lock(&l->mu);
    l->busy = 1;
    l->file_busy++;
    if (!l->warned && !(rc == THR_FILE_FULL && thr_full_said)) {
        l->warned = 1;
        if (rc == THR_FILE_FULL)
            thr_full_said = 1;
        fprintf(stderr, "coreplus: the shared limit file '%s' %s; limiting this process on "
                        "its own until it can be used again\n", thr_file_path(l->file), why);
    }
    pthread_mutex_unlock(&l->mu);
}

static void thr_file_fine(thr_limit *l, const thr_file_op *op)
{
    pthread_mutex_lock(&l->mu);
    if (l->busy && l->warned)
        fprintf(stderr, "coreplus: the shared limit file '%s' can be used again\n",
                thr_file_path(l->file));
    l->busy = l->warned = 0;
    l->file_repairs += (uint64_t)op->repaired;
    pthread_mutex_unlock(&l->mu);
}

/* The file's window of l, mended; a window whose history was lost (its slot
 * had to be claimed again after a rebuild) counts as full as of now. */
static int thr_enter_file(thr_limit *l, const thr_config *cfg, double now, double deadline,
                          thr_win *w)
{
    thr_file_op op;
    /* While the lock stays taken, look only briefly: the local window serves. */
    int rc = thr_file_begin(l->file, l->fid, &l->hint, cfg, now,
                            l->busy ? 0.01 : THR_LOCK_WAIT, deadline, &op);
    if (rc != THR_FILE_OK)
        return rc;
    if (op.fresh && l->had_slot) {
        thr_ring_fill(op.ring, cfg, now);
        op.repaired++;
    }
    l->had_slot = 1;
    if (op.repaired || l->busy)
        thr_file_fine(l, &op);
    w->ring = op.ring;
    w->where = THR_AT_FILE;
    return THR_FILE_OK;
}

int thr_enter(thr_limit *l, int where, const thr_config *cfg, double now, double deadline,
              thr_win *w)
{
    w->l = l;
    if (where == THR_AT_FILE && l->file != NULL) {
        int rc = thr_enter_file(l, cfg, now, deadline, w);
        if (rc == THR_FILE_OK || rc == THR_FILE_LATE)
            return rc;
        thr_file_trouble(l, rc);
    }
    pthread_mutex_lock(&l->mu);
    l->local = thr_ring_room(l->local, cfg, now);   /* an operation books at most once */
    w->ring = l->local;
    w->where = THR_AT_LOCAL;
    return THR_FILE_OK;
}

void thr_leave(thr_win *w, int dirty)
{
    if (w->where == THR_AT_FILE)
        thr_file_end(w->l->file, w->l->hint, dirty);
    else
        pthread_mutex_unlock(&w->l->mu);
}

/* ===== the registry ===== */

static void thr_free(thr_limit *l)
{
    /* l->refs is 0 here */
    thr_redis_free(l->redis);
    thr_file_close(l->file);
    pthread_mutex_destroy(&l->mu);
    free(l->local);
    free(l->id);
    free(l);
}

static thr_limit *thr_new(const char *key, size_t keylen, const char *path,
                          char *err, size_t errlen)
{
    unsigned int idn = 0;
    thr_limit *l = calloc(1, sizeof *l);
    if (l == NULL || (l->local = thr_ring_new(THR_RING_MIN)) == NULL
        || pthread_mutex_init(&l->mu, NULL) != 0) {
        if (l != NULL)
            free(l->local);
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->refs = 1;
    l->hint = -1;
    if (path == NULL)
        return l;
    if (EVP_Digest(key ? key : "", key ? keylen : 0, l->fid, &idn, EVP_sha256(), NULL) != 1
        || idn != 32) {
        snprintf(err, errlen, "SHA-256 failed in OpenSSL");
        thr_free(l);
        return NULL;
    }
    if ((l->file = thr_file_open(path, err, errlen)) == NULL) {
        thr_free(l);
        return NULL;
    }
    return l;
}

/* The registry's name of (where, key): where "\n" key, malloc'ed. */
static char *thr_id(const char *where, const char *key, size_t keylen, size_t *idlen)
{
    size_t plen = where ? strlen(where) : 0;
    char *id = malloc(plen + 1 + keylen);
    if (id == NULL)
        return NULL;
    if (plen)
        memcpy(id, where, plen);
    id[plen] = '\n';
    memcpy(id + plen + 1, key, keylen);
    *idlen = plen + 1 + keylen;
    return id;
}

/* A new window for (path | url, key); NULL with a message in err. */
static thr_limit *thr_new_at(const char *key, size_t keylen, const char *path,
                             const char *url, const thr_redis_opts *o,
                             char *err, size_t errlen)
{
    thr_limit *l = thr_new(key, keylen, url != NULL ? NULL : path, err, errlen);
    if (l != NULL && url != NULL) {
        l->redis = thr_redis_open(url, key, keylen, o, err, errlen);
        if (l->redis == NULL) {
            thr_free(l);
            l = NULL;
        }
    }
    return l;
}

/* Finds or makes the window of (where, key). where: the shared file's path,
 * or for Redis its URL and options (url != NULL; path is then NULL). */
static thr_limit *thr_open_at(const char *key, size_t keylen, const char *path,
                              const char *url, const thr_redis_opts *o,
                              char *err, size_t errlen)
{
    thr_limit *l;
    char *id, where[4200];
    size_t idlen = 0;

    if (url != NULL) {
        /* limiters that differ in options must not share a window object */
        if ((size_t)snprintf(where, sizeof where, "%s %g %d %s %s %s %d", url, o->timeout,
                             o->fail, o->cafile ? o->cafile : "", o->certfile ? o->certfile : "",
                             o->keyfile ? o->keyfile : "", o->insecure) >= sizeof where) {
            snprintf(err, errlen, "Redis URL or TLS file names too long");
            return NULL;
        }
        path = where;
    }
    if (key == NULL && path == NULL)
        return thr_new(NULL, 0, NULL, err, errlen);   /* private */
    if (key == NULL) {
        key = "";
        keylen = 0;
    }
    if ((id = thr_id(path, key, keylen, &idlen)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&thr_registry_mu);
    for (l = thr_registry; l != NULL; l = l->next) {
        if (l->idlen == idlen && memcmp(l->id, id, idlen) == 0)
            break;
    }
    if (l != NULL) {
        l->refs++;
    } else if ((l = thr_new_at(key, keylen, path, url, o, err, errlen)) != NULL) {
        l->id = id;
        l->idlen = idlen;
        id = NULL;
        l->next = thr_registry;
        thr_registry = l;
    }
    pthread_mutex_unlock(&thr_registry_mu);
    free(id);
    return l;
}

thr_limit *thr_open(const char *key, size_t keylen, const char *path,
                    char *err, size_t errlen)
{
    return thr_open_at(key, keylen, path, NULL, NULL, err, errlen);
}

thr_limit *thr_open_redis(const char *key, size_t keylen, const char *url,
                          const thr_redis_opts *o, char *err, size_t errlen)
{
    return thr_open_at(key, keylen, NULL, url, o, err, errlen);
}

void thr_error(thr_limit *l, char *buf, size_t len)
{
    if (l->redis != NULL)
        thr_redis_error(l->redis, buf, len);
    else if (len > 0)
        buf[0] = '\0';
}

void thr_close(thr_limit *l)
{
    thr_limit **p;
    if (l == NULL)
        return;
    pthread_mutex_lock(&thr_registry_mu);
    if (--l->refs > 0) {
        pthread_mutex_unlock(&thr_registry_mu);
        return;
    }
    for (p = &thr_registry; l->id != NULL && *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    pthread_mutex_unlock(&thr_registry_mu);
    thr_free(l);
}

void thr_retain(thr_limit *l)
{
    pthread_mutex_lock(&thr_registry_mu);
    l->refs++;
    pthread_mutex_unlock(&thr_registry_mu);
}


int thr_shared(const thr_limit *l)
{
    return l->file != NULL || l->redis != NULL;
}

/* ===== stats ===== */

void thr_get_stats(thr_limit *l, const thr_config *cfg, thr_stats *st)
{
    double now = clock_monotonic();
    thr_win w;
    uint64_t i;

    memset(st, 0, sizeof *st);
    st->redis = l->redis != NULL;
    if (l->redis != NULL) {
        thr_redis_counts rc;
        thr_redis_get_counts(l->redis, &rc);
        st->redis_errors = rc.errors;
        st->redis_local = rc.local;
        st->redis_repairs = rc.mended;
        st->redis_calls = rc.calls;
        st->redis_connected = rc.connected;
    }
    thr_enter(l, THR_AT_FILE, cfg, now, 0, &w);
    st->granted = w.ring->granted;
    st->cancelled = w.ring->cancelled;
    st->waited_total = w.ring->waited_total;
    st->last_sent = w.ring->last_sent;
    for (i = 0; i < w.ring->cap; i++) {
        const thr_entry *e = &w.ring->e[i];
        if (e->state == THR_PENDING && now <= e->lease)
            st->pending++;
    }
    thr_leave(&w, 0);
    pthread_mutex_lock(&l->mu);
    st->file = l->file != NULL;
    st->file_repairs = l->file_repairs;
    st->file_busy = l->file_busy;
    st->relets = l->relets;
    pthread_mutex_unlock(&l->mu);
}

void thr_add_wait(thr_limit *l, const thr_config *cfg, double seconds)
{
    thr_win w;
    if (!(seconds > 0))
        return;
    thr_enter(l, THR_AT_FILE, cfg, clock_monotonic(), 0, &w);
    w.ring->waited_total += seconds;
    thr_leave(&w, 1);
}
