/* jwt.c -- HS256 JSON Web Tokens without Lua. See jwt.h. */
#include "jwt.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

const char jwt_header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* ===== base64url ===== */

static const char jwt_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t jwt_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = jwt_b64_alphabet[(v >> 18) & 63];
        out[o++] = jwt_b64_alphabet[(v >> 12) & 63];
        out[o++] = jwt_b64_alphabet[(v >> 6) & 63];
        out[o++] = jwt_b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = jwt_b64_alphabet[(v >> 18) & 63];
        out[o++] = jwt_b64_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = jwt_b64_alphabet[(v >> 18) & 63];
        out[o++] = jwt_b64_alphabet[(v >> 12) & 63];
        out[o++] = jwt_b64_alphabet[(v >> 6) & 63];
    }
    return o;
}

static int jwt_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int jwt_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outn)
{
    size_t i, o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1;
    for (i = 0; i < n; i++) {
        int v = jwt_b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
        acc &= (1u << bits) - 1;   /* keep only the bits not yet emitted */
    }
    /* Leftover bits must be zero, or two different strings would decode to
     * the same bytes (a signature could then be "changed" without breaking). */
    if (acc != 0)
        return -1;
    *outn = o;
    return 0;
}

/* ===== claim JSON ===== */

size_t jwt_json_quote(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;
    out[o++] = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':  out[o++] = '\\'; out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
        case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
        case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
        case '\t': out[o++] = '\\'; out[o++] = 't'; break;
        case '\b': out[o++] = '\\'; out[o++] = 'b'; break;
        case '\f': out[o++] = '\\'; out[o++] = 'f'; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out[o++] = '\\'; out[o++] = 'u'; out[o++] = '0'; out[o++] = '0';
                out[o++] = hex[c >> 4]; out[o++] = hex[c & 15];
            } else {
                out[o++] = (char)c;
            }
        }
    }
    out[o++] = '"';
    return o;
}

#define JWT_NUMBER_MAX 24   /* "-9223372036854775808" and then some */

size_t jwt_claims_json_max(const jwt_claims *c)
{
    return 128 + 2 * JWT_NUMBER_MAX
        + JWT_JSON_ESCAPED_MAX(c->iss_len) + JWT_JSON_ESCAPED_MAX(c->aud_len)
        + JWT_JSON_ESCAPED_MAX(c->consumer_id_len)
        + JWT_JSON_ESCAPED_MAX(c->access_token_len)
        + JWT_JSON_ESCAPED_MAX(c->url_len) + JWT_JSON_ESCAPED_MAX(c->method_len);
}

static size_t jwt_put(char *out, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(out, lit, n);
    return n;
}

/* Claim order follows the documentation's example so tokens read naturally. */
size_t jwt_claims_json(const jwt_claims *c, char *out)
{
    size_t o = 0;
    o += jwt_put(out + o, "{\"iss\":");
    o += jwt_json_quote(c->iss, c->iss_len, out + o);
    o += jwt_put(out + o, ",\"aud\":");
    o += jwt_json_quote(c->aud, c->aud_len, out + o);
    o += (size_t)snprintf(out + o, 2 * JWT_NUMBER_MAX + 16, ",\"nbf\":%lld,\"exp\":%lld",
                          c->nbf, c->exp);
    o += jwt_put(out + o, ",\"consumerId\":");
    o += jwt_json_quote(c->consumer_id, c->consumer_id_len, out + o);
    o += jwt_put(out + o, ",\"accessToken\":");
    o += jwt_json_quote(c->access_token, c->access_token_len, out + o);
    o += jwt_put(out + o, ",\"url\":");
    o += jwt_json_quote(c->url, c->url_len, out + o);
    o += jwt_put(out + o, ",\"httpMethod\":");
    o += jwt_json_quote(c->method, c->method_len, out + o);
    out[o++] = '}';
    return o;
}

/* ===== HMAC ===== */

int jwt_hs256(const char *key, size_t klen, const char *msg, size_t mlen,
              unsigned char sig[JWT_SIG_LEN])
{
    unsigned int siglen = 0;
    /* OpenSSL wants a non-NULL key even when it is empty. */
    static const char empty = 0;
    if (klen > (size_t)0x7fffffff)
        return -1;
    if (HMAC(EVP_sha256(), klen ? key : &empty, (int)klen,
             (const unsigned char *)msg, mlen, sig, &siglen) == NULL
        || siglen != JWT_SIG_LEN) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int jwt_sig_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
