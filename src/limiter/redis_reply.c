/* redis_reply.c -- reading Redis's replies (see redis_reply.h). */
#ifndef COREPLUS_NO_REDIS   /* (the header needs hiredis) */

#include "redis_reply.h"

#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

/* Copies a host name of n bytes (no spaces or controls). */
static int rrep_host(const char *s, size_t n, char *host, size_t hostlen)
{
    size_t i;
    if (n == 0 || n >= hostlen || n >= RREP_HOST)
        return -1;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 127)
            return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    return 0;
}

static int rrep_is_text(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
           && r->str != NULL;
}

int rrep_redirect(const redisReply *r, int *ask, int *slot, char *host, size_t hostlen,
                  int *port)
{
    const char *s, *sp, *colon, *end;
    long v;
    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return 0;
    s = r->str;
    end = s + r->len;
    if (r->len > 6 && memcmp(s, "MOVED ", 6) == 0) {
        *ask = 0;
        s += 6;
    } else if (r->len > 4 && memcmp(s, "ASK ", 4) == 0) {
        *ask = 1;
        s += 4;
    } else {
        return 0;
    }
    if ((sp = memchr(s, ' ', (size_t)(end - s))) == NULL
        || redis_url_number(s, (size_t)(sp - s), 0, RREP_SLOTS - 1, &v) != 0)
        return -1;
    *slot = (int)v;
    s = sp + 1;
    /* host:port, the port after the last ':' (an IPv6 address holds some) */
    for (colon = end; colon > s && colon[-1] != ':'; colon--)
        ;
    if (colon == s || redis_url_number(colon, (size_t)(end - colon), 1, 65535, &v) != 0)
        return -1;
    colon--;
    if (colon > s && *s == '[' && colon[-1] == ']') {
        s++;
        colon--;
    }
    if (rrep_host(s, (size_t)(colon - s), host, hostlen) != 0)
        return -1;
    *port = (int)v;
    return 1;
}

/* One node of a slot range: [host, port, id?, ...]. */
static int rrep_node(const redisReply *n, char *host, size_t hostlen, int *port)
{
    if (n == NULL || n->type != REDIS_REPLY_ARRAY || n->elements < 2 || !rrep_is_text(n->element[0])
        || n->element[1] == NULL || n->element[1]->type != REDIS_REPLY_INTEGER
        || n->element[1]->integer < 1 || n->element[1]->integer > 65535)
        return -1;
    *port = (int)n->element[1]->integer;
    return rrep_host(n->element[0]->str, n->element[0]->len, host, hostlen);
}

int rrep_slots(const redisReply *r, rrep_slot_fn fn, void *arg)
{
    size_t i, j;
    char host[RREP_HOST];
    int port;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (i = 0; i < r->elements; i++) {
        const redisReply *g = r->element[i];
        long long a, b;
        if (g == NULL || g->type != REDIS_REPLY_ARRAY || g->elements < 3
            || g->element[0]->type != REDIS_REPLY_INTEGER
            || g->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        a = g->element[0]->integer;
        b = g->element[1]->integer;
        if (a < 0 || b < a || b >= RREP_SLOTS)
            return -1;
        for (j = 2; j < g->elements; j++) {
            /* a node without an address ("?" or empty host) is skipped */
            if (rrep_node(g->element[j], host, sizeof host, &port) != 0) {
                if (j == 2)
                    return -1;
                continue;
            }
            fn(arg, (int)a, (int)b, host, port, j > 2);
        }
    }
    return (int)r->elements;
}

int rrep_master_addr(const redisReply *r, char *host, size_t hostlen, int *port)
{
    long v;
    if (r != NULL && r->type == REDIS_REPLY_NIL)
        return 1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || !rrep_is_text(r->element[0]) || !rrep_is_text(r->element[1])
        || redis_url_number(r->element[1]->str, r->element[1]->len, 1, 65535, &v) != 0
        || rrep_host(r->element[0]->str, r->element[0]->len, host, hostlen) != 0)
        return -1;
    *port = (int)v;
    return 0;
}

int rrep_role_master(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !rrep_is_text(r->element[0]))
        return -1;
    return r->element[0]->len == 6 && memcmp(r->element[0]->str, "master", 6) == 0;
}

static int rrep_flag(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1);
}

/* The delay: "d.dddddd" seconds, 0 .. max. */
static int rrep_delay(const redisReply *r, double max, double *out)
{
    char buf[40], *end;
    double v;
    if (!rrep_is_text(r) || r->len == 0 || r->len >= sizeof buf)
        return -1;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    v = strtod(buf, &end);
    if (end == buf || *end != '\0' || !(v >= 0 && v <= max))
        return -1;
    *out = v;
    return 0;
}

int rrep_window_read(const redisReply *r, uint64_t n_in, double max_delay, rrep_window *out)
{
    redisReply *const *e;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return -1;
    e = r->element;
    if (e[0] == NULL || e[0]->type != REDIS_REPLY_INTEGER || e[0]->integer < 1
        || e[0]->integer > 9007199254740992LL || (n_in != 0 && (uint64_t)e[0]->integer != n_in)
        || rrep_delay(e[1], max_delay, &out->delay) != 0 || !rrep_flag(e[2]) || !rrep_flag(e[3])
        || e[4] == NULL || e[4]->type != REDIS_REPLY_INTEGER || e[4]->integer < 0
        || e[4]->integer > 1000000)
        return -1;
    out->n = (uint64_t)e[0]->integer;
    out->pending = e[2]->integer == 1;
    out->lost = e[3]->integer == 1;
    out->mended = (long)e[4]->integer;
    return 0;
}

#else
typedef int rrep_unused;
#endif
