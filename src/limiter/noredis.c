/* noredis.c -- redis.h's connection and operations in a
 * build without Redis support (-DCOREPLUS_NO_REDIS: the Makefile passes it
 * when hiredis's header is absent, saying so). A redis:// shared limit is then
 * refused with a message that names the missing piece; nothing else changes.
 * The script and window names are in redis_script.c, which needs no
 * hiredis. */
#include "redis.h"

#include <stdio.h>

#ifdef COREPLUS_NO_REDIS

thr_redis *thr_redis_open(const char *url, const char *key, size_t keylen,
                          double timeout, int fail, char *err, size_t errlen)
{
    (void)url; (void)key; (void)keylen; (void)timeout; (void)fail;
    snprintf(err, errlen, "redis:// needs Redis support, and this coreplus.core was built "
             "without it (no hiredis at build time): install libhiredis-dev and rebuild");
    return NULL;
}

/* Never reached: thr_redis_open made no connection. */
void thr_redis_free(thr_redis *rd) { (void)rd; }
int thr_redis_reserve(thr_redis *rd, const thr_config *cfg, double hold,
                      uint64_t *n, double *delay, int *pending)
{
    (void)rd; (void)cfg; (void)hold; (void)n; (void)delay; (void)pending;
    return THR_REDIS_FAIL;
}
int thr_redis_ready(thr_redis *rd, const thr_config *cfg, uint64_t n, double hold,
                    double *delay, int *pending, int *lost)
{
    (void)rd; (void)cfg; (void)n; (void)hold; (void)delay; (void)pending; (void)lost;
    return THR_REDIS_FAIL;
}
int thr_redis_hold(thr_redis *rd, const thr_config *cfg, uint64_t n, double hold, int *lost)
{
    (void)rd; (void)cfg; (void)n; (void)hold; (void)lost;
    return THR_REDIS_FAIL;
}
int thr_redis_sent(thr_redis *rd, const thr_config *cfg, uint64_t n, double *owed, int *lost)
{
    (void)rd; (void)cfg; (void)n; (void)owed; (void)lost;
    return THR_REDIS_FAIL;
}
void thr_redis_cancel(thr_redis *rd, const thr_config *cfg, uint64_t n)
{
    (void)rd; (void)cfg; (void)n;
}
void thr_redis_error(thr_redis *rd, char *buf, size_t len)
{
    (void)rd;
    if (len > 0)
        buf[0] = '\0';
}
void thr_redis_counts(thr_redis *rd, uint64_t *errors, uint64_t *local, int *connected)
{
    (void)rd;
    *errors = *local = 0;
    *connected = 0;
}
void thr_redis_count_local(thr_redis *rd) { (void)rd; }

#else
/* Built with Redis support: redis.c has all of it. */
typedef int thr_noredis_unused;
#endif
