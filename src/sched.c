/* sched.c -- the one libcurl scheduler (see sched.h).
 *
 * Sections: the environment (share handle, easy-handle pool), starting and
 * reaping transfers, the loop. */
#include "sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define SCHED_POLL_MAX 0.1     /* seconds between looks at waiting requests */

enum { SCHED_WAITING = 1, SCHED_ACTIVE, SCHED_DONE };

/* ===== the environment ===== */

int sched_env_init(sched_env *env)
{
    memset(env, 0, sizeof *env);
    if (http_global_init() != 0 || (env->share = http_share_new()) == NULL)
        return -1;
    env->mac = jwt_mac_new();  /* NULL: tokens are signed with one-shot HMAC */
    return 0;
}

void sched_env_free(sched_env *env)
{
    while (env->npool > 0)
        curl_easy_cleanup(env->pool[--env->npool]);
    if (env->multi != NULL)
        curl_multi_cleanup(env->multi);
    if (env->share != NULL)
        curl_share_cleanup(env->share);
    jwt_mac_free(env->mac);
    env->multi = NULL;
    env->share = NULL;
    env->mac = NULL;
}

static CURL *sched_easy_get(sched_env *env)
{
    if (env->npool > 0)
        return env->pool[--env->npool];
    return curl_easy_init();
}

static void sched_easy_put(sched_env *env, CURL *e)
{
    if (e == NULL)
        return;
    curl_easy_reset(e);
    if (env->npool < SCHED_POOL)
        env->pool[env->npool++] = e;
    else
        curl_easy_cleanup(e);
}

int sched_init(sched *s, sched_env *env, int cap, int lend)
{
    memset(s, 0, sizeof *s);
    s->env = env;
    s->cap = cap;
    s->slot = calloc((size_t)cap, sizeof *s->slot);
    if (lend && env->multi == NULL)
        env->multi = curl_multi_init();
    s->own_multi = !lend;
    s->multi = lend ? env->multi : curl_multi_init();
    if (s->slot == NULL || s->multi == NULL) {
        sched_free(s);
        return -1;
    }
    return 0;
}

void sched_free(sched *s)
{
    int i;
    for (i = 0; s->slot != NULL && i < s->cap; i++) {
        http_req *r = s->slot[i];
        if (r != NULL && r->easy != NULL) {
            curl_multi_remove_handle(s->multi, r->easy);
            curl_easy_cleanup(r->easy);   /* not pooled: env may be gone */
            r->easy = NULL;
        }
    }
    free(s->slot);
    s->slot = NULL;
    if (s->own_multi && s->multi != NULL)
        curl_multi_cleanup(s->multi);
    s->multi = NULL;
    s->used = 0;
}

/* ===== transfers ===== */

/* Starts r on the multi handle; on failure finishes it at once (r->kind
 * says why) and returns -1. */
static int sched_start(sched *s, http_req *r)
{
    CURL *e = sched_easy_get(s->env);
    if (e == NULL) {
        r->kind = HTTP_NETWORK;
        http_finish(r, CURLE_OUT_OF_MEMORY);
        return -1;
    }
    if (http_prepare(r, e, s->env->share, s->env->mac) != 0) {
        http_finish(r, CURLE_FAILED_INIT);
    } else {
        curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)r);
        if (curl_multi_add_handle(s->multi, e) == CURLM_OK)
            return 0;
        http_finish(r, CURLE_FAILED_INIT);
    }
    r->easy = NULL;
    sched_easy_put(s->env, e);
    return -1;
}

/* Finishes the transfers the multi handle reports done. */
static void sched_reap(sched *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        CURL *e = msg->easy_handle;
        http_req *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(s->multi, e);
        if (r != NULL) {
            http_finish(r, msg->data.result);
            r->easy = NULL;
            r->phase = SCHED_DONE;
        }
        sched_easy_put(s->env, e);
    }
}

/* ===== the loop ===== */

int sched_add(sched *s, http_req *r)
{
    int i;
    for (i = 0; i < s->cap; i++) {
        if (s->slot[i] == NULL) {
            http_book(r, clock_monotonic());
            r->phase = SCHED_WAITING;
            s->slot[i] = r;
            s->used++;
            return 0;
        }
    }
    return -1;
}

/* Takes the first finished request out, or NULL. */
static http_req *sched_take_done(sched *s)
{
    int i;
    for (i = 0; i < s->cap; i++) {
        http_req *r = s->slot[i];
        if (r != NULL && r->phase == SCHED_DONE) {
            s->slot[i] = NULL;
            s->used--;
            return r;
        }
    }
    return NULL;
}

/* Starts the waiting requests whose slot has come; counts the others.
 * *soonest: seconds until the next one may start. */
static void sched_start_ready(sched *s, double now, int *active, int *waiting,
                              double *soonest)
{
    int i;
    for (i = 0; i < s->cap; i++) {
        http_req *r = s->slot[i];
        double d;
        if (r == NULL || r->phase == SCHED_DONE)
            continue;
        if (r->phase == SCHED_ACTIVE) {
            http_keep(r, now);
            (*active)++;
            continue;
        }
        d = http_wait_left(r, now);
        if (d > 0) {
            (*waiting)++;
            if (d < *soonest)
                *soonest = d;
        } else if (sched_start(s, r) == 0) {
            r->phase = SCHED_ACTIVE;
            (*active)++;
        } else {
            r->phase = SCHED_DONE;
        }
    }
}

http_req *sched_next(sched *s)
{
    for (;;) {
        double soonest = SCHED_POLL_MAX;
        int active = 0, waiting = 0, running = 0;
        http_req *r;

        if ((r = sched_take_done(s)) != NULL)
            return r;
        sched_start_ready(s, clock_monotonic(), &active, &waiting, &soonest);
        if (active > 0) {
            curl_multi_perform(s->multi, &running);
            sched_reap(s);
        }
        if ((r = sched_take_done(s)) != NULL)
            return r;
        if (active > 0) {
            int ms = (int)ceil(soonest * 1000.0);
            curl_multi_poll(s->multi, NULL, 0, ms < 1 ? 1 : ms, NULL);
        } else if (waiting > 0) {
            clock_sleep(soonest);
        } else {
            return NULL;   /* nothing queued */
        }
    }
}
