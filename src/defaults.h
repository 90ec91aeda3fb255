/* defaults.h -- the one home of every default the C core applies, exposed to
 * Lua as core.defaults (defaults_lua.c) so that the Lua layer reads them
 * instead of writing them again. No Lua here. */
#ifndef COREPLUS_DEFAULTS_H
#define COREPLUS_DEFAULTS_H

#define DEFAULT_ISSUER "lua-coreplus"                 /* the iss claim */
#define DEFAULT_AUDIENCE "https://coreplus.com.au"    /* the aud claim */
#define DEFAULT_TOKEN_TTL 60                          /* exp - nbf, seconds */
#define DEFAULT_TIMEOUT 45.0                          /* one exchange, seconds */
#define DEFAULT_CONNECT_TIMEOUT 10.0                  /* seconds */
#define DEFAULT_MAX_BODY (16u << 20)                  /* response body, bytes */
#define DEFAULT_CONCURRENCY 4                         /* requests in flight */
#define DEFAULT_RATE 10                               /* requests ... */
#define DEFAULT_PER 1.0                               /* ... per this many seconds */
/* Added to per between a slot and the one rate places later. Measured: 0 ms
 * gave 429s against the mock, 5 ms none; 25 ms leaves room for network
 * jitter and still reaches ~97 % of the rate. */
#define DEFAULT_MARGIN 0.025
/* A limit that learns (docs/decisions.md#limit-learns): a 429 widens its
 * key's margin by DEFAULT_LEARN_STEP (at most once per window, up to
 * DEFAULT_LEARN_MAX above the margin given), and the widening wears off by
 * DEFAULT_LEARN_EASE seconds per second while no 429 comes (6 ms a minute:
 * 100 ms in about 17 minutes). Shared with the window: every process on it
 * learns. */
#define DEFAULT_LEARN_STEP 0.05
#define DEFAULT_LEARN_MAX 0.5
#define DEFAULT_LEARN_EASE 0.0001
#define DEFAULT_REDIS_TIMEOUT 0.5                     /* connect and each command */
#define DEFAULT_MAX_HEAD (256u << 10)                 /* response header lines, bytes */
/* Seconds a booking that has not left yet holds later ones up without a
 * renewal (docs/decisions.md#pending-leases); its owner
 * renews every DEFAULT_LEASE / 4 while it waits or connects. The C limiter
 * and the ngx transport's both use it. */
#define DEFAULT_LEASE 1.0

/* "lua-coreplus/<version> (libcurl/<version>; <Lua or LuaJIT version>)" */
#define DEFAULT_USER_AGENT_FORMAT "lua-coreplus/%s (libcurl/%s; %s)"

/* The methods that may be repeated without asking (docs/decisions.md#no-connection-reuse-for-writes: the others
 * never reuse a connection, and the Lua layer never retries them once sent).
 * X(name) is expanded once per method. */
#define DEFAULT_IDEMPOTENT(X) X(GET) X(HEAD) X(DELETE) X(OPTIONS)

/* 1 when method (upper case, NUL-terminated) is in DEFAULT_IDEMPOTENT. */
int defaults_idempotent(const char *method);

#endif
