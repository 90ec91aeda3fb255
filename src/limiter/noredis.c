/* noredis.c -- redis.h's connection and operations in a build without
 * Redis support (-DCOREPLUS_NO_REDIS: the Makefile passes it when hiredis's
 * header is absent, saying so). A Redis shared limit is then refused with a
 * message that names the missing piece; nothing else changes. The script,
 * the window names and the URL reader (redis_script.c, redis_url.c) need no
 * hiredis. */
#include "redis.h"

#include <stdio.h>

#ifdef COREPLUS_NO_REDIS

thr_redis *thr_redis_open(const char *url, const char *key, size_t keylen,
                          const thr_redis_opts *o, char *err, size_t errlen)
{
    (void)url; (void)key; (void)keylen; (void)o;
    snprintf(err, errlen, "redis:// needs Redis support, and this coreplus.core was built "
             "without it (no hiredis at build time): install libhiredis-dev and rebuild");
    return NULL;
}

/* Never reached: thr_redis_open made no connection. */
void thr_redis_free(thr_redis *rd) { (void)rd; }
int thr_redis_reserve(thr_redis *rd, const thr_config *cfg, double hold, double deadline,
                      uint64_t *n, uint64_t *tag, double *delay, int *pending)
{
    (void)rd; (void)cfg; (void)hold; (void)deadline; (void)n; (void)tag; (void)delay;
    (void)pending;
    return THR_REDIS_FAIL;
}
int thr_redis_ready(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                    double hold, double deadline, double *delay, int *pending, int *lost)
{
    (void)rd; (void)cfg; (void)n; (void)tag; (void)hold; (void)deadline; (void)delay;
    (void)pending; (void)lost;
    return THR_REDIS_FAIL;
}
int thr_redis_hold(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                   double hold, double deadline, int *lost)
{
    (void)rd; (void)cfg; (void)n; (void)tag; (void)hold; (void)deadline; (void)lost;
    return THR_REDIS_FAIL;
}
int thr_redis_sent(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                   double deadline, double *owed, int *lost)
{
    (void)rd; (void)cfg; (void)n; (void)tag; (void)deadline; (void)owed; (void)lost;
    return THR_REDIS_FAIL;
}
void thr_redis_cancel(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                      double deadline)
{
    (void)rd; (void)cfg; (void)n; (void)tag; (void)deadline;
}
void thr_redis_error(thr_redis *rd, char *buf, size_t len)
{
    (void)rd;
    if (len > 0)
        buf[0] = '\0';
}
void thr_redis_get_counts(thr_redis *rd, thr_redis_counts *c)
{
    (void)rd;
    c->errors = c->local = c->mended = c->calls = 0;
    c->connected = 0;
}
void thr_redis_count_local(thr_redis *rd) { (void)rd; }
int thr_redis_learn(thr_redis *rd, const thr_config *cfg, double deadline, double *learnt)
{
    (void)rd; (void)cfg; (void)deadline;
    *learnt = 0;
    return THR_REDIS_FAIL;
}
void thr_redis_share(thr_redis *rd, const thr_config *cfg, thr_config *out)
{
    (void)rd;
    *out = *cfg;
}
void thr_redis_share_restart(thr_redis *rd)
{
    (void)rd;
}

#else
/* Built with Redis support: redis.c has all of it. */
typedef int thr_noredis_unused;
#endif
