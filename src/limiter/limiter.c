/* limiter.c -- the limiter's windows: the registry that gives every limiter
 * of one (where, key) in this process the same window, opened on first use
 * and closed with its last holder; and their stats (see limiter.h for the
 * other parts). */
#include "window.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static pthread_mutex_t thr_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static thr_limit *thr_registry;

/* ===== the registry ===== */

static void thr_free(thr_limit *l)
{
    /* l->refs is 0 here */
    thr_redis_free(l->redis);
    thr_file_close(l->file);
    thr_clock_release(l->clock);
    pthread_mutex_destroy(&l->mu);
    free(l->local);
    free(l->id);
    free(l);
}

static thr_limit *thr_new(const char *key, size_t keylen, const char *path, thr_clock *clock,
                          char *err, size_t errlen)
{
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
    l->clock = clock;
    thr_clock_retain(clock);
    if (path == NULL)
        return l;
    if (thr_file_key_init(&l->fkey, key, keylen) != 0) {
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
                             thr_clock *clock, const char *url, const thr_redis_opts *o,
                             char *err, size_t errlen)
{
    thr_limit *l = thr_new(key, keylen, url != NULL ? NULL : path, clock, err, errlen);
    if (l != NULL && url != NULL) {
        l->redis = thr_redis_open(url, key, keylen, o, err, errlen);
        if (l->redis == NULL) {
            thr_free(l);
            l = NULL;
        }
    }
    return l;
}

/* Finds or makes the window of (where, key). where: the shared file's path
 * and the clock, or for Redis its URL and options (url != NULL; path is then
 * NULL). */
static thr_limit *thr_open_at(const char *key, size_t keylen, const char *path,
                              thr_clock *clock, const char *url, const thr_redis_opts *o,
                              char *err, size_t errlen)
{
    thr_limit *l;
    const char *named = path;
    char *id, where[4400];
    size_t idlen = 0;

    if (key == NULL && path == NULL && url == NULL)
        return thr_new(NULL, 0, NULL, clock, err, errlen);   /* private */
    if (url != NULL) {
        /* limiters that differ in options must not share a window object */
        if ((size_t)snprintf(where, sizeof where, "%s %g %d %s %s %s %d", url, o->timeout,
                             o->fail, o->cafile ? o->cafile : "", o->certfile ? o->certfile : "",
                             o->keyfile ? o->keyfile : "", o->insecure) >= sizeof where) {
            snprintf(err, errlen, "Redis URL or TLS file names too long");
            return NULL;
        }
        named = where;
    } else if (clock != NULL) {
        if ((size_t)snprintf(where, sizeof where, "%s clock %p", path ? path : "", (void *)clock)
            >= sizeof where) {
            snprintf(err, errlen, "the path is too long");
            return NULL;
        }
        named = where;
    }
    if (key == NULL) {
        key = "";
        keylen = 0;
    }
    if ((id = thr_id(named, key, keylen, &idlen)) == NULL) {
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
    } else if ((l = thr_new_at(key, keylen, path, clock, url, o, err, errlen)) != NULL) {
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

thr_limit *thr_open(const char *key, size_t keylen, const char *path, thr_clock *clock,
                    char *err, size_t errlen)
{
    return thr_open_at(key, keylen, path, clock, NULL, NULL, err, errlen);
}

thr_limit *thr_open_redis(const char *key, size_t keylen, const char *url,
                          const thr_redis_opts *o, char *err, size_t errlen)
{
    return thr_open_at(key, keylen, NULL, NULL, url, o, err, errlen);
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

thr_clock *thr_clock_of(const thr_limit *l)
{
    return l->clock;
}

/* ===== stats ===== */

void thr_get_stats(thr_limit *l, const thr_config *cfg, thr_stats *st)
{
    double now = thr_clock_now(l->clock);
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
    thr_win_open(l, THR_AT_FILE, cfg, now, 0, &w);
    st->granted = w.ring->granted;
    st->cancelled = w.ring->cancelled;
    st->waited_total = w.ring->waited_total;
    st->last_sent = w.ring->last_sent;
    st->learnt = thr_ring_learnt(w.ring, now);
    for (i = 0; i < w.ring->cap; i++) {
        const thr_entry *e = &w.ring->e[i];
        if (e->state == THR_PENDING && now <= e->lease)
            st->pending++;
    }
    thr_win_close(&w, 0);
    pthread_mutex_lock(&l->mu);
    st->file = l->file != NULL;
    st->file_repairs = l->file_repairs;
    st->file_busy = l->file_busy;
    st->relets = l->relets;
    pthread_mutex_unlock(&l->mu);
}

void thr_add_wait(thr_limit *l, const thr_config *cfg, double seconds, double deadline)
{
    thr_win w;
    if (!(seconds > 0)
        || thr_win_open(l, THR_AT_FILE, cfg, thr_clock_now(l->clock), deadline, &w) != THR_FILE_OK)
        return;
    w.ring->waited_total += seconds;
    thr_win_close(&w, 1);
}
