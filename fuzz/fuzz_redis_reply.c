/* fuzz_redis_reply.c -- what the limiter makes of Redis's replies
 * (redis_reply.c) over bytes as a server, or anything between, may send:
 * hiredis's reader parses them (as redis_conn.c feeds it, in pieces), then
 * every reading of redis_reply.h runs on every reply.
 *
 * Input: byte 0 says where to cut the stream (feeding it in two pieces);
 * the rest is RESP.
 * Properties: nothing crashes or reads out of bounds; what a reading accepts
 * is in range (ports 1..65535, slots 0..16383, hosts NUL-terminated without
 * spaces, a delay 0..max, flags 0/1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef COREPLUS_NO_REDIS

#include "limiter/redis_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_fail(void)
{
    abort();
}

static void fz_host(const char *h)
{
    size_t i, n = strlen(h);
    if (n == 0 || n >= RREP_HOST)
        fz_fail();
    for (i = 0; i < n; i++)
        if ((unsigned char)h[i] <= ' ')
            fz_fail();
}

static void fz_slot_seen(void *arg, int first, int last, const char *host, int port, int replica)
{
    (void)arg;
    if (first < 0 || last < first || last >= RREP_SLOTS || port < 1 || port > 65535
        || (replica != 0 && replica != 1))
        fz_fail();
    fz_host(host);
}

static void fz_reply(const redisReply *r)
{
    char host[RREP_HOST];
    int ask = 0, slot = 0, port = 0;
    rrep_window w;
    switch (rrep_redirect(r, &ask, &slot, host, sizeof host, &port)) {
    case 1:
        if (slot < 0 || slot >= RREP_SLOTS || port < 1 || port > 65535)
            fz_fail();
        fz_host(host);
        break;
    case 0: case -1:
        break;
    default:
        fz_fail();
    }
    rrep_slots(r, fz_slot_seen, NULL);
    if (rrep_master_addr(r, host, sizeof host, &port) == 0) {
        if (port < 1 || port > 65535)
            fz_fail();
        fz_host(host);
    }
    if (rrep_role_master(r) > 1)
        fz_fail();
    if (rrep_window_read(r, 0, 100.0, &w) == 0
        && (w.n < 1 || !(w.delay >= 0 && w.delay <= 100.0) || (w.pending != 0 && w.pending != 1)
            || (w.lost != 0 && w.lost != 1) || w.mended < 0))
        fz_fail();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *rd;
    void *r = NULL;
    size_t cut;
    if (size < 1)
        return 0;
    cut = size > 1 ? data[0] % size : 0;
    data++;
    size--;
    if (cut > size)
        cut = size;
    if ((rd = redisReaderCreate()) == NULL)
        return 0;
    if (redisReaderFeed(rd, (const char *)data, cut) == REDIS_OK) {
        while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
            fz_reply(r);
            freeReplyObject(r);
            r = NULL;
        }
        if (redisReaderFeed(rd, (const char *)data + cut, size - cut) == REDIS_OK) {
            while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
                fz_reply(r);
                freeReplyObject(r);
                r = NULL;
            }
        }
    }
    redisReaderFree(rd);
    return 0;
}

#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data; (void)size;
    return 0;
}
#endif
