/* redis_link.c -- the way to one Redis deployment (see redis_link.h).
 *
 * Sections: the registry, nodes and their connections, commands. Where a
 * key lives (Sentinel, Cluster) is redis_find.c's. */
#ifndef COREPLUS_NO_REDIS   /* (the header needs hiredis) */

#include "redis_link_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "../clock.h"

/* ===== the registry ===== */

static pthread_mutex_t rlink_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static rlink *rlink_registry;

static void rlink_free(rlink *k)
{
    int i;
    if (k == NULL)
        return;
    for (i = 0; i < k->nnodes; i++)
        rconn_close(&k->nodes[i].conn);
    if (k->sentinels != NULL)
        for (i = 0; i < k->url.nnodes; i++)
            rconn_close(&k->sentinels[i]);
    free(k->nodes);
    free(k->sentinels);
    free(k->slots);
    if (k->tls != NULL)
        SSL_CTX_free(k->tls);
    redis_url_free(&k->url);
    if (k->id != NULL) {
        OPENSSL_cleanse(k->id, strlen(k->id));   /* it holds the password */
        free(k->id);
    }
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static rlink *rlink_new(const char *url, const rtls_opts *tls, char *id, char *err,
                        size_t errlen)
{
    rlink *k = calloc(1, sizeof *k);
    int i;
    if (k == NULL || pthread_mutex_init(&k->mu, NULL) != 0) {
        free(k);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->id = id;
    k->master = k->last_master = -1;
    k->cluster = -1;
    if (redis_url_parse(url, &k->url, err, errlen) != 0) {
        k->id = NULL;
        rlink_free(k);
        return NULL;
    }
    if (k->url.tls && (k->tls = rtls_new(tls, err, errlen)) == NULL)
        goto fail;
    if (k->url.sentinel) {
        if ((k->sentinels = calloc((size_t)k->url.nnodes, sizeof *k->sentinels)) == NULL)
            goto oom;
        for (i = 0; i < k->url.nnodes; i++)
            rconn_init(&k->sentinels[i]);
        k->cluster = 0;   /* Sentinel serves one master, never a Cluster */
    } else if (rlink_add_node(k, k->url.nodes[0].host, k->url.nodes[0].port) < 0) {
        goto oom;
    }
    return k;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    k->id = NULL;
    rlink_free(k);
    return NULL;
}

rlink *rlink_get(const char *url, const rtls_opts *tls, char *err, size_t errlen)
{
    rlink *k;
    size_t n = strlen(url) + 16 + (tls->cafile ? strlen(tls->cafile) : 0)
               + (tls->certfile ? strlen(tls->certfile) : 0)
               + (tls->keyfile ? strlen(tls->keyfile) : 0);
    char *id = malloc(n + 8);
    if (id == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(id, n + 8, "%s\n%s\n%s\n%s\n%d", url, tls->cafile ? tls->cafile : "",
             tls->certfile ? tls->certfile : "", tls->keyfile ? tls->keyfile : "",
             tls->insecure);
    pthread_mutex_lock(&rlink_registry_mu);
    for (k = rlink_registry; k != NULL; k = k->next)
        if (strcmp(k->id, id) == 0)
            break;
    if (k != NULL) {
        k->refs++;
        OPENSSL_cleanse(id, strlen(id));
        free(id);
    } else if ((k = rlink_new(url, tls, id, err, errlen)) != NULL) {
        k->refs = 1;
        k->next = rlink_registry;
        rlink_registry = k;
    } else {
        OPENSSL_cleanse(id, strlen(id));
        free(id);
    }
    pthread_mutex_unlock(&rlink_registry_mu);
    return k;
}

void rlink_release(rlink *k)
{
    rlink **p;
    if (k == NULL)
        return;
    pthread_mutex_lock(&rlink_registry_mu);
    if (--k->refs > 0) {
        pthread_mutex_unlock(&rlink_registry_mu);
        return;
    }
    for (p = &rlink_registry; *p != NULL; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    pthread_mutex_unlock(&rlink_registry_mu);
    rlink_free(k);
}

const char *rlink_shown(const rlink *k)
{
    return k->url.shown;
}

/* ===== nodes and their connections ===== */

/* The index of host:port in k's nodes, added when new; -1 out of memory. */
int rlink_add_node(rlink *k, const char *host, int port)
{
    int i;
    for (i = 0; i < k->nnodes; i++)
        if (k->nodes[i].port == port && strcmp(k->nodes[i].host, host) == 0)
            return i;
    if (k->nnodes == k->cap) {
        int cap = k->cap ? 2 * k->cap : 4;
        rnode *nn;
        if (cap > 32767 || (nn = realloc(k->nodes, (size_t)cap * sizeof *nn)) == NULL)
            return -1;
        k->nodes = nn;
        k->cap = cap;
    }
    memset(&k->nodes[k->nnodes], 0, sizeof k->nodes[0]);
    snprintf(k->nodes[k->nnodes].host, sizeof k->nodes[0].host, "%s", host);
    k->nodes[k->nnodes].port = port;
    rconn_init(&k->nodes[k->nnodes].conn);
    return k->nnodes++;
}

/* The deadline of one exchange. */
double rlink_until(double step, double deadline)
{
    double t = clock_monotonic() + step;
    return deadline > 0 && deadline < t ? deadline : t;
}

/* One command on an open connection, its argv's lengths worked out. */
redisReply *rlink_cmd(rconn *c, int argc, const char **argv, double step,
                             double deadline, char *err, size_t errlen)
{
    size_t lens[8];
    redisReply *r = NULL;
    int i;
    for (i = 0; i < argc && i < 8; i++)
        lens[i] = strlen(argv[i]);
    rconn_call(c, argc, argv, lens, rlink_until(step, deadline), &r, err, errlen);
    return r;
}

/* AUTH [user] password; 0, or -1 with err set and c closed. The server's
 * message names no password. */
int rlink_auth(rlink *k, rconn *c, double step, double deadline, char *err,
                      size_t errlen)
{
    const char *argv[3];
    int argc = 0;
    redisReply *r;
    argv[argc++] = "AUTH";
    if (k->url.user != NULL)
        argv[argc++] = k->url.user;
    argv[argc++] = k->url.password;
    if ((r = rlink_cmd(c, argc, argv, step, deadline, err, errlen)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: AUTH refused: %s", c->name, r->str);
        freeReplyObject(r);
        rconn_close(c);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* A set-up command that must not fail (SELECT, ROLE): the reply, or NULL
 * with err set and c closed. */
static redisReply *rlink_setup(rconn *c, int argc, const char **argv, double step,
                               double deadline, char *err, size_t errlen)
{
    redisReply *r = rlink_cmd(c, argc, argv, step, deadline, err, errlen);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s refused: %s", c->name, argv[0], r->str);
        freeReplyObject(r);
        rconn_close(c);
        return NULL;
    }
    return r;
}

/* A failure of node i: it gets no new attempt for RLINK_RETRY, unless all
 * that ran out was the call's own time, and too little of it to tell a
 * slow node from a dead one (RLINK_SLOW). */
static void rlink_backoff(rlink *k, int i, double deadline, const char *why)
{
    double now = clock_monotonic();
    if (deadline == 0 || now < deadline - 0.001 || k->nodes[i].conn.budget >= RLINK_SLOW) {
        k->nodes[i].retry_at = now + RLINK_RETRY;
        snprintf(k->nodes[i].why, sizeof k->nodes[i].why, "%s", why);
    }
}

/* Opens node i's connection when it is not: connect, AUTH, SELECT; asks a
 * server met for the first time whether it is a Cluster node (and reads its
 * slots); checks that a master named by Sentinel still is one. 0, or -1 with
 * err set (and the node's back-off started). */
int rlink_open(rlink *k, int i, double step, double deadline, char *err, size_t errlen)
{
    rnode *nd = &k->nodes[i];
    rconn *c = &nd->conn;
    redisReply *r;
    char db[16];
    const char *argv[2];
    double now = clock_monotonic();

    if (rconn_is_open(c))
        return 0;
    rconn_close(c);   /* a forked child's copy */
    if (now < nd->retry_at) {
        snprintf(err, errlen, "%s (no new attempt for %.1f s)", nd->why, nd->retry_at - now);
        return -1;
    }
    if (rconn_open(c, nd->host, nd->port, k->tls, rlink_until(step, deadline), err, errlen)
        != RCONN_OK)
        goto fail;
    if (k->url.password != NULL && rlink_auth(k, c, step, deadline, err, errlen) != 0)
        goto fail;
    if (k->url.db != 0) {
        snprintf(db, sizeof db, "%d", k->url.db);
        argv[0] = "SELECT";
        argv[1] = db;
        if ((r = rlink_setup(c, 2, argv, step, deadline, err, errlen)) == NULL)
            goto fail;
        freeReplyObject(r);
    }
    if (k->url.sentinel) {
        int role;
        argv[0] = "ROLE";
        if ((r = rlink_setup(c, 1, argv, step, deadline, err, errlen)) == NULL)
            goto fail;
        role = rrep_role_master(r);
        freeReplyObject(r);
        if (role != 1) {
            snprintf(err, errlen, "%s: not a master (yet): a failover under way?", c->name);
            rconn_close(c);
            k->master = -1;   /* ask the sentinels again */
            goto fail;
        }
    } else if (k->cluster < 0 && rfind_cluster_read(k, i, step, deadline, err, errlen) != 0) {
        goto fail;
    }
    k->nodes[i].retry_at = 0;   /* (nd may have moved: the map adds nodes) */
    return 0;
fail:
    rlink_backoff(k, i, deadline, err);
    return -1;
}

/* ===== commands ===== */

/* Runs argv on node i (ASKING first when asked to), then the EVAL form when
 * the node does not know the script. NULL: err set. */
static redisReply *rlink_on(rlink *k, int i, int asking, int argc, const char **argv,
                            size_t *lens, const char *script, double step, double deadline,
                            char *err, size_t errlen)
{
    rconn *c = &k->nodes[i].conn;
    redisReply *r = NULL;
    const char *ask[1] = { "ASKING" };
    int pass;
    for (pass = 0; pass < 2; pass++) {
        if (asking) {
            if ((r = rlink_cmd(c, 1, ask, step, deadline, err, errlen)) == NULL)
                return NULL;
            freeReplyObject(r);
        }
        if (rconn_call(c, argc, argv, lens, rlink_until(step, deadline), &r, err, errlen)
            != RCONN_OK)
            return NULL;
        if (pass == 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            argv[0] = "EVAL";
            lens[0] = 4;
            argv[1] = script;
            lens[1] = strlen(script);
            continue;
        }
        break;
    }
    return r;
}

/* The error replies that say the node no longer serves writes for us: a
 * master demoted by a failover (Sentinel), or a Cluster still settling. */
static int rlink_moved_on(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR
           && (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0
               || strncmp(r->str, "CLUSTERDOWN", 11) == 0);
}

static redisReply *rlink_run(rlink *k, int slot, int argc, const char **argv, size_t *lens,
                             const char *script, double step, double deadline, char *err,
                             size_t errlen)
{
    char host[RREP_HOST];
    int hops, i, asked = -1, again = 1, ask, rslot, port;
    redisReply *r;

    for (hops = 0; hops <= RLINK_REDIRECTS; hops++) {
        if (deadline > 0 && clock_monotonic() >= deadline) {
            snprintf(err, errlen, "the call's deadline came");
            return NULL;
        }
        i = asked >= 0 ? asked : rfind_target(k, slot, step, deadline, err, errlen);
        k->last = i;
        if (i < 0 || rlink_open(k, i, step, deadline, err, errlen) != 0) {
            if (i >= 0 && again && (k->url.sentinel || k->cluster == 1)) {
                /* the master or the slot may have moved: look again, once */
                again = 0;
                if (k->url.sentinel)
                    k->master = -1;
                else
                    rfind_cluster_refresh(k, i, step, deadline);
                asked = -1;
                continue;
            }
            return NULL;
        }
        r = rlink_on(k, i, asked >= 0, argc, argv, lens, script, step, deadline, err, errlen);
        asked = -1;
        if (r == NULL) {
            rlink_backoff(k, i, deadline, err);
            if (again && (k->url.sentinel || k->cluster == 1)
                && (deadline == 0 || clock_monotonic() < deadline)) {
                again = 0;
                if (k->url.sentinel)
                    k->master = -1;
                else
                    rfind_cluster_refresh(k, i, step, deadline);
                continue;
            }
            return NULL;
        }
        switch (rrep_redirect(r, &ask, &rslot, host, sizeof host, &port)) {
        case 0:
            if (rlink_moved_on(r) && again) {
                again = 0;
                freeReplyObject(r);
                rconn_close(&k->nodes[i].conn);
                if (k->url.sentinel)
                    k->master = -1;
                else if (k->cluster == 1)
                    rfind_cluster_refresh(k, -1, step, deadline);
                continue;
            }
            return r;
        case -1:
            snprintf(err, errlen, "%s: a redirection that cannot be read: %.100s", k->nodes[i].conn.name,
                     r->str);
            freeReplyObject(r);
            return NULL;
        }
        freeReplyObject(r);
        if ((i = rlink_add_node(k, host, port)) < 0) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        if (ask) {
            asked = i;   /* this once, on that node; the map stays */
        } else {
            if (k->cluster != 1 && rlink_open(k, i, step, deadline, err, errlen) == 0)
                rfind_cluster_read(k, i, step, deadline, err, errlen);   /* a Cluster after all */
            if (k->cluster == 1)
                k->slots[rslot] = (short)i;
        }
    }
    snprintf(err, errlen, "more than %d redirections", RLINK_REDIRECTS);
    return NULL;
}

/* err as "<the URL, shown>: <node>: what", leaving out the node when it is
 * the URL's own. */
static void rlink_name_failure(rlink *k, char *err, size_t errlen)
{
    char own[300], *buf;
    size_t n, len = strlen(err);
    if (strncmp(err, k->url.shown, strlen(k->url.shown)) == 0 || (buf = malloc(errlen)) == NULL)
        return;
    n = (size_t)snprintf(own, sizeof own, strchr(k->url.nodes[0].host, ':') ? "[%s]:%d: " : "%s:%d: ",
                         k->url.nodes[0].host, k->url.nodes[0].port);
    if (!k->url.sentinel && len >= n && strncmp(err, own, n) == 0)
        snprintf(buf, errlen, "%s: %s", k->url.shown, err + n);
    else
        snprintf(buf, errlen, "%s: %s", k->url.shown, err);
    memcpy(err, buf, errlen);
    free(buf);
}

/* Waits for the link's lock until the call's deadline (or step * 4). */
static int rlink_lock(rlink *k, double step, double deadline)
{
    struct timespec ts;
    double left = (deadline > 0 ? deadline : clock_monotonic() + 4 * step) - clock_monotonic();
    if (left <= 0)
        left = 0.001;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)left;
    ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_timedlock(&k->mu, &ts) == 0 ? 0 : -1;
}

void rlink_say(rlink *k, int ok, const char *say, const char *err)
{
    int *warned;
    if (say == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    warned = k->last >= 0 && k->last < k->nnodes ? &k->nodes[k->last].warned : &k->warned;
    if (!ok && !*warned) {
        *warned = 1;
        fprintf(stderr, "coreplus: %s; %s\n", err, say);
    } else if (ok && (*warned || k->warned)) {
        *warned = k->warned = 0;
        fprintf(stderr, "coreplus: the shared limit at %s answers again\n", k->url.shown);
    }
    pthread_mutex_unlock(&k->mu);
}

redisReply *rlink_script(rlink *k, int slot, int argc, const char **argv, size_t *lens,
                         const char *script, double step, double deadline,
                         char *err, size_t errlen)
{
    redisReply *r;
    if (rlink_lock(k, step, deadline) != 0) {
        snprintf(err, errlen, "%s: busy: another thread's Redis call ran past this one's time",
                 k->url.shown);
        return NULL;
    }
    k->last = -1;
    r = rlink_run(k, slot, argc, argv, lens, script, step, deadline, err, errlen);
    if (r == NULL)
        rlink_name_failure(k, err, errlen);
    pthread_mutex_unlock(&k->mu);
    return r;
}

int rlink_connected(rlink *k)
{
    int i, on = 0;
    pthread_mutex_lock(&k->mu);
    for (i = 0; i < k->nnodes && !on; i++)
        on = rconn_is_open(&k->nodes[i].conn);
    pthread_mutex_unlock(&k->mu);
    return on;
}

#else
typedef int rlink_unused;
#endif
