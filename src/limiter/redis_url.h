/* redis_url.h -- Redis URLs, read once for the C core and the OpenResty
 * transport (core.redis_url), and the one masker that keeps a URL's
 * password out of every message (core.mask_url). No Lua, no hiredis, no
 * I/O: fuzzed as it is.
 *
 *   redis://[[user]:password@]host[:port][/db]        plain (port 6379)
 *   rediss://[[user]:password@]host[:port][/db]       TLS
 *   redis+sentinel://[[user:]password@]host[:port][,host[:port]...]/MASTER[/db]
 *   rediss+sentinel://...                             the same over TLS
 *                                                     (sentinel port 26379)
 * The scheme is case-insensitive. The user information runs to the URL's
 * last '@' (a password may hold '@', '/', '?' or '#') and is percent-decoded,
 * as redis-cli and redis-py do; without a ':' it is a password alone. A
 * query or fragment after the host is refused (TLS files are options). */
#ifndef COREPLUS_REDIS_URL_H
#define COREPLUS_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_NODES 16             /* sentinels in one URL */
#define REDIS_URL_HOST 256

typedef struct redis_node {
    char host[REDIS_URL_HOST];         /* a name or an address (IPv6 unbracketed) */
    int port;
} redis_node;

typedef struct redis_url {
    int tls;                           /* rediss */
    int sentinel;                      /* redis+sentinel: nodes are sentinels */
    char *user, *password;             /* malloc'd; NULL when absent */
    redis_node nodes[REDIS_URL_NODES];
    int nnodes;                        /* 1 unless sentinel */
    char master[128];                  /* sentinel: the master's name */
    int db;
    char shown[640];                   /* the URL as it may be shown: *** for the password */
} redis_url;

/* A decimal number lo..hi of 1 to 9 digits, all of s[0..n): 0 and *out,
 * or -1. (Ports, databases, and the numbers in Redis's replies.) */
int redis_url_number(const char *s, size_t n, long lo, long hi, long *out);

/* 1 when s starts with "scheme://": a URL, never a file path. */
int redis_url_is_url(const char *s);

/* Reads url into u (zeroed first). 0, or -1 with a message in err that
 * never repeats the password; u holds nothing to free then. */
int redis_url_parse(const char *url, redis_url *u, char *err, size_t errlen);

/* Wipes the password and frees what parse allocated. */
void redis_url_free(redis_url *u);

/* Copies text to out (cap bytes, always terminated) with the password of
 * every "scheme://user:password@" in it replaced by ***. Returns the length
 * the whole result needs (as snprintf); redis_url_mask_cap(n) always fits. */
size_t redis_url_mask(const char *text, size_t n, char *out, size_t cap);
#define redis_url_mask_cap(n) (2 * (n) + 8)

#endif
