/* sched.h -- the one libcurl scheduler, without Lua: requests (http_req, read
 * and owned by the caller) wait for their limiter slot, then run on a multi
 * handle, at most `cap` booked or in flight at once.
 *
 * core.request runs one request through it, core.request_many fills it and
 * drains it, core.pipeline keeps it as a stream. Transfers progress only
 * inside sched_next(), which never calls Lua. */
#ifndef COREPLUS_SCHED_H
#define COREPLUS_SCHED_H

#include <curl/curl.h>

#include "http.h"
#include "jwt.h"

#define SCHED_POOL 16          /* idle easy handles kept for reuse */
#define SCHED_MAX 256          /* the largest cap */

/* What the requests of one Lua state share: connections, DNS and TLS
 * sessions (share handle), idle easy handles and the HMAC key set-up. */
typedef struct sched_env {
    CURLSH *share;
    jwt_mac *mac;              /* may be NULL: tokens use a one-shot HMAC */
    CURLM *multi;              /* lent to schedulers that drain at once */
    CURL *pool[SCHED_POOL];
    int npool;
} sched_env;

/* 0, or -1 when libcurl cannot be set up. */
int sched_env_init(sched_env *env);
void sched_env_free(sched_env *env);   /* idempotent */

typedef struct sched {
    sched_env *env;
    CURLM *multi;
    int own_multi;             /* 0: env->multi, lent */
    http_req **slot;           /* cap entries; NULL: free */
    int cap, used;
} sched;

/* cap: 1..SCHED_MAX. lend = 1: use env->multi (for a scheduler drained
 * before its caller returns). Returns 0, or -1 (out of memory). */
int sched_init(sched *s, sched_env *env, int cap, int lend);
/* Abandons the transfers in flight and frees the scheduler (not the
 * requests, whose bookings their owner's http_req_free cancels). Does not
 * touch env, which may be gone already when a Lua state closes. */
void sched_free(sched *s);

/* Books r's limiter slot now and queues it; -1 when all cap slots are used. */
int sched_add(sched *s, http_req *r);
/* Runs until a request is done (r->kind says how), takes it out of the
 * scheduler and returns it; NULL when none is queued. */
http_req *sched_next(sched *s);

#endif
