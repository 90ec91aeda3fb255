/* throttle.c -- the sliding-window rate limiter. See throttle.h.
 *
 * Sections: the in-process registry, the public functions. The window's
 * arithmetic is in throttle_ring.c, shared files in throttle_file.c. */
#include "throttle.h"
#include "throttle_file.h"
#include "throttle_redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ===== the in-process registry ===== */

struct thr_limit {
    struct thr_limit *next;     /* registry list (keyed limits only) */
    char *id;                   /* path "\n" key; NULL for a private limit */
    size_t idlen;
    int refs;
    pthread_mutex_t *mu;        /* the window's lock */
    thr_ring *ring;
    pthread_mutex_t own_mu;     /* in-process windows */
    thr_file *map;              /* shared files: the mapping */
    thr_redis *redis;           /* the window lives in Redis; ring is then the
                                   fall-back (policy "local") and the stats */
};

static pthread_mutex_t thr_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static thr_limit *thr_registry;

static void thr_lock(thr_limit *l)
{
    int rc = pthread_mutex_lock(l->mu);
    /* A process died holding the lock of a shared file. The ring is updated
     * a field at a time and every state of it is usable, so carry on. */
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(l->mu);
}

static void thr_unlock(thr_limit *l)
{
    pthread_mutex_unlock(l->mu);
}

/* ===== public functions ===== */

static void thr_free(thr_limit *l)
{
    /* l->refs is 0 here */
    thr_redis_free(l->redis);
    if (l->map != NULL)
        thr_file_unmap(l->map);
    else if (l->mu == &l->own_mu)
        pthread_mutex_destroy(&l->own_mu);
    if (l->map == NULL)
        free(l->ring);
    free(l->id);
    free(l);
}

static thr_limit *thr_new(const char *key, size_t keylen, const char *path,
                          char *err, size_t errlen)
{
    thr_limit *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->refs = 1;
    if (path == NULL) {
        l->ring = calloc(1, sizeof *l->ring);
        if (l->ring == NULL || pthread_mutex_init(&l->own_mu, NULL) != 0) {
            free(l->ring);
            free(l);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        l->mu = &l->own_mu;
        return l;
    }
    l->map = thr_file_map(path, err, errlen);
    if (l->map == NULL) {
        free(l);
        return NULL;
    }
    l->mu = thr_file_mutex(l->map);
    l->ring = thr_file_slot(l->map, key ? key : "", key ? keylen : 0, path, err, errlen);
    if (l->ring == NULL) {
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
                             const char *url, double timeout, int fail,
                             char *err, size_t errlen)
{
    thr_limit *l = thr_new(key, keylen, url != NULL ? NULL : path, err, errlen);
    if (l != NULL && url != NULL) {
        l->redis = thr_redis_open(url, key, keylen, timeout, fail, err, errlen);
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
                              const char *url, double timeout, int fail,
                              char *err, size_t errlen)
{
    thr_limit *l;
    char *id, where[1100];
    size_t idlen = 0;

    if (url != NULL) {
        /* limiters that differ in options must not share a connection */
        if ((size_t)snprintf(where, sizeof where, "%s %g %d", url, timeout, fail)
            >= sizeof where) {
            snprintf(err, errlen, "redis URL too long");
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
    } else if ((l = thr_new_at(key, keylen, path, url, timeout, fail, err, errlen)) != NULL) {
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
    return thr_open_at(key, keylen, path, NULL, 0, 0, err, errlen);
}

thr_limit *thr_open_redis(const char *key, size_t keylen, const char *url,
                          double timeout, int fail, char *err, size_t errlen)
{
    return thr_open_at(key, keylen, NULL, url, timeout, fail, err, errlen);
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

double thr_reserve(thr_limit *l, const thr_config *cfg, double now, int pending,
                   thr_ticket *tk)
{
    thr_ring *r = l->ring;
    thr_entry *e;
    uint64_t n;
    double t;

    tk->remote = tk->pending = tk->failed = 0;
    if (l->redis != NULL) {
        double d;
        int rc = thr_redis_reserve(l->redis, cfg, pending ? THR_REDIS_HOLD : 0, &n, &d,
                                   &tk->pending);
        if (rc == THR_REDIS_OK) {
            thr_lock(l);
            r->granted++;
            r->waited_total += d;
            thr_unlock(l);
            tk->lim = l;
            tk->n = n;
            tk->t = now + d;
            tk->remote = 1;
            return tk->t;
        }
        if (rc == THR_REDIS_FAIL) {
            tk->lim = NULL;
            tk->n = 0;
            tk->t = now;
            tk->failed = 1;
            return now;
        }
        thr_redis_count_local(l->redis);   /* THR_REDIS_LOCAL: the ring below */
    }
    thr_lock(l);
    if (r->next == 0)
        r->next = 1;
    n = r->next++;
    t = thr_bound(r, n, cfg, now, 0);
    if (t < now)
        t = now;
    e = &r->e[n % THR_RING];
    e->n = n;
    e->t = t;
    e->state = pending ? THR_PENDING : THR_SENT;
    e->pid = (uint32_t)getpid();
    r->granted++;
    r->waited_total += t - now;
    if (!pending && t > r->last_sent)
        r->last_sent = t;
    thr_unlock(l);
    tk->lim = l;
    tk->n = n;
    tk->t = t;
    return t;
}

double thr_ready(thr_ticket *tk, const thr_config *cfg, double now)
{
    double t;
    if (tk->lim == NULL)
        return 0.0;
    if (tk->remote) {
        /* Ask Redis only while an earlier booking was pending. */
        double d, left = tk->t - now;
        int p;
        if (tk->pending) {
            if (thr_redis_ready(tk->lim->redis, cfg, tk->n, &d, &p) == THR_REDIS_OK) {
                tk->pending = p;
                if (d > left)
                    left = d;
                if (p && left < THR_REDIS_POLL)
                    left = THR_REDIS_POLL;
            } else {
                tk->pending = 0;   /* Redis is gone: go by the booked slot */
            }
        }
        return left > 0 ? left : 0.0;
    }
    thr_lock(tk->lim);
    t = thr_bound(tk->lim->ring, tk->n, cfg, now, 1);
    thr_unlock(tk->lim);
    if (t < tk->t)
        t = tk->t;
    return t > now ? t - now : 0.0;
}

double thr_sent(thr_ticket *tk, const thr_config *cfg, double now)
{
    thr_ring *r;
    thr_entry *e;
    double t;
    if (tk->lim == NULL)
        return 0.0;
    r = tk->lim->ring;
    if (tk->remote) {
        /* On a Redis failure the booking keeps its booked slot: owe nothing. */
        double owed = 0.0;
        if (thr_redis_sent(tk->lim->redis, cfg, tk->n, &owed) != THR_REDIS_OK || owed < 0)
            owed = 0.0;
        thr_lock(tk->lim);
        if (now + owed > r->last_sent)
            r->last_sent = now + owed;
        thr_unlock(tk->lim);
        tk->t = now + owed;
        return owed;
    }
    thr_lock(tk->lim);
    t = thr_bound(r, tk->n, cfg, now, 0);
    if (t < now)
        t = now;
    e = thr_entry_of(r, tk->n);
    if (e != NULL) {
        e->t = t;
        e->state = THR_SENT;
    }
    if (t > r->last_sent)
        r->last_sent = t;
    thr_unlock(tk->lim);
    tk->t = t;
    return t - now;
}

void thr_cancel(thr_ticket *tk)
{
    thr_entry *e;
    if (tk->lim == NULL)
        return;
    if (tk->remote) {
        thr_redis_cancel(tk->lim->redis, tk->n);
        thr_lock(tk->lim);
        tk->lim->ring->cancelled++;
        thr_unlock(tk->lim);
        tk->lim = NULL;
        return;
    }
    thr_lock(tk->lim);
    e = thr_entry_of(tk->lim->ring, tk->n);
    if (e != NULL && e->state == THR_PENDING) {
        e->state = THR_CANCELLED;
        tk->lim->ring->cancelled++;
    }
    thr_unlock(tk->lim);
    tk->lim = NULL;
}

void thr_get_stats(thr_limit *l, thr_stats *st)
{
    thr_ring *r = l->ring;
    int i;
    st->redis = l->redis != NULL;
    st->redis_connected = 0;
    st->redis_errors = st->redis_local = 0;
    if (l->redis != NULL)
        thr_redis_counts(l->redis, &st->redis_errors, &st->redis_local, &st->redis_connected);
    thr_lock(l);
    st->granted = r->granted;
    st->cancelled = r->cancelled;
    st->waited_total = r->waited_total;
    st->last_sent = r->last_sent;
    st->pending = 0;
    for (i = 0; i < THR_RING; i++) {
        if (r->e[i].state == THR_PENDING)
            st->pending++;
    }
    thr_unlock(l);
}

void thr_add_wait(thr_limit *l, double seconds)
{
    if (!(seconds > 0))
        return;
    thr_lock(l);
    l->ring->waited_total += seconds;
    thr_unlock(l);
}
