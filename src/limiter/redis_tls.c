/* redis_tls.c -- a rediss:// connection's OpenSSL context (redis_tls.h). */
#include "redis_tls.h"

#ifndef COREPLUS_NO_REDIS

#include <stdio.h>

#include <openssl/err.h>

/* A key file protected by a passphrase would make OpenSSL ask on the
 * terminal: refuse it instead. */
static int rtls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return 0;
}

static SSL_CTX *rtls_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what,
                          const char *file)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
             e ? ERR_error_string(e, buf) : "failed");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *rtls_new(const rtls_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    ERR_clear_error();
    if ((o->certfile == NULL) != (o->keyfile == NULL)) {
        snprintf(err, errlen, "redis_certfile and redis_keyfile go together (mutual TLS)");
        return NULL;
    }
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
        return rtls_fail(ctx, err, errlen, "TLS: no context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_passwd_cb(ctx, rtls_no_passphrase);
    SSL_CTX_set_verify(ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (o->cafile != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1)
            return rtls_fail(ctx, err, errlen, "redis_cafile", o->cafile);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return rtls_fail(ctx, err, errlen, "TLS: the system's CAs", NULL);
    }
    if (o->certfile != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->certfile) != 1)
            return rtls_fail(ctx, err, errlen, "redis_certfile", o->certfile);
        if (SSL_CTX_use_PrivateKey_file(ctx, o->keyfile, SSL_FILETYPE_PEM) != 1)
            return rtls_fail(ctx, err, errlen, "redis_keyfile (PEM, no passphrase)",
                             o->keyfile);
        if (SSL_CTX_check_private_key(ctx) != 1)
            return rtls_fail(ctx, err, errlen, "redis_keyfile does not match redis_certfile:",
                             o->keyfile);
    }
    return ctx;
}

#else
typedef int rtls_unused;
#endif
