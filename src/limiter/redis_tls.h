/* redis_tls.h -- the TLS settings of a rediss:// connection, as one OpenSSL
 * context: the server verified against the system's CAs or redis_cafile
 * (name or address checked by redis_conn.c), a client certificate for
 * mutual TLS (redis_certfile + redis_keyfile), TLS 1.2 at least; nothing
 * verified only with redis_insecure. No Lua. */
#ifndef COREPLUS_REDIS_TLS_H
#define COREPLUS_REDIS_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

typedef struct rtls_opts {
    const char *cafile;     /* NULL: the system's CAs */
    const char *certfile;   /* with keyfile: a client certificate */
    const char *keyfile;
    int insecure;           /* 1: verify nothing (said once by the caller) */
} rtls_opts;

/* A context for o, or NULL with a message in err (names files, never their
 * contents). */
SSL_CTX *rtls_new(const rtls_opts *o, char *err, size_t errlen);

#endif
