/* jwt.c -- HS256 JSON Web Tokens without Lua. See jwt.h. */
#include "jwt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "defaults.h"

const char jwt_header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* ===== base64url ===== */

static const char jwt_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t jwt_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    const char *a = jwt_b64_alphabet;
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        char *d = out + o;
        d[0] = a[v >> 18];
        d[1] = a[(v >> 12) & 63];
        d[2] = a[(v >> 6) & 63];
        d[3] = a[v & 63];
        o += 4;
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
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

/* 1 for bytes that JSON strings must escape. DEL is escaped too, to keep
 * tokens printable. */
static const unsigned char jwt_json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,   /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,   /* DEL */
};

size_t jwt_json_quote(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, o = 0;
    out[o++] = '"';
    while (i < n) {
        size_t j = i;
        unsigned char c;
        while (j < n && !jwt_json_special[(unsigned char)s[j]])
            j++;
        memcpy(out + o, s + i, j - i);   /* a run of plain bytes at once */
        o += j - i;
        if (j == n)
            break;
        c = (unsigned char)s[j];
        out[o++] = '\\';
        switch (c) {
        case '"':  out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '\n': out[o++] = 'n'; break;
        case '\r': out[o++] = 'r'; break;
        case '\t': out[o++] = 't'; break;
        case '\b': out[o++] = 'b'; break;
        case '\f': out[o++] = 'f'; break;
        default:
            out[o++] = 'u'; out[o++] = '0'; out[o++] = '0';
            out[o++] = hex[c >> 4]; out[o++] = hex[c & 15];
        }
        i = j + 1;
    }
    out[o++] = '"';
    return o;
}

int jwt_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c;
        size_t len, i;
        unsigned cp, min;
        /* Claims are nearly all ASCII: skip it eight bytes at a time. */
        while ((size_t)(end - p) >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            p += 8;
        }
        if (p == end)
            break;
        c = *p;
        if (c < 0x80) { p++; continue; }
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if ((size_t)(end - p) < len)
            return 0;
        for (i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += len;
    }
    return 1;
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

/* Decimal digits without printf: snprintf's locale machinery costs more than
 * the rest of a claim set. */
static size_t jwt_put_int(char *out, long long v)
{
    char tmp[JWT_NUMBER_MAX];
    size_t n = 0, o = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[o++] = '-';
    while (n > 0)
        out[o++] = tmp[--n];
    return o;
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
    o += jwt_put(out + o, ",\"nbf\":");
    o += jwt_put_int(out + o, c->nbf);
    o += jwt_put(out + o, ",\"exp\":");
    o += jwt_put_int(out + o, c->exp);
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

/* ===== the claims check ===== */

int jwt_method(const char *m, size_t n, char *out)
{
    size_t i;
    if (n == 0 || n > JWT_METHOD_MAX)
        return -1;
    for (i = 0; i < n; i++) {
        char ch = m[i];
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!(ch >= 'A' && ch <= 'Z'))
            return -1;
        out[i] = ch;
    }
    out[n] = '\0';
    return 0;
}

/* Each claim string: at most JWT_CLAIM_MAX bytes, well-formed UTF-8 (JSON text
 * is UTF-8, and a strict JWT library refuses a payload that is not). */
static const char *jwt_check_string(const char *s, size_t n, const char *utf8_msg)
{
    if (n > JWT_CLAIM_MAX)
        return "a claim is too large (over " JWT_CLAIM_MAX_TEXT " bytes)";
    return jwt_utf8_valid(s, n) ? NULL : utf8_msg;
}

static const char *jwt_check_strings(const jwt_claims *c)
{
    const char *bad;
    if ((bad = jwt_check_string(c->iss, c->iss_len, "bad field 'issuer' (not valid UTF-8)"))
        || (bad = jwt_check_string(c->aud, c->aud_len, "bad field 'audience' (not valid UTF-8)"))
        || (bad = jwt_check_string(c->url, c->url_len, "bad field 'url' (not valid UTF-8)"))
        || (bad = jwt_check_string(c->consumer_id, c->consumer_id_len,
                                   "bad field 'consumer_id' (not valid UTF-8)"))
        || (bad = jwt_check_string(c->access_token, c->access_token_len,
                                   "bad field 'access_token' (not valid UTF-8)")))
        return bad;
    return NULL;
}

const char *jwt_claims_make(jwt_claims *c, const jwt_fields *f,
                            char method_buf[JWT_METHOD_MAX + 1])
{
    memset(c, 0, sizeof *c);
    if (jwt_method(f->method ? f->method : "GET", f->method ? f->method_len : 3, method_buf))
        return "bad field 'method' (an HTTP method such as GET expected)";
    c->method = method_buf;
    c->method_len = strlen(method_buf);
    c->iss = f->issuer ? f->issuer : DEFAULT_ISSUER;
    c->iss_len = f->issuer ? f->issuer_len : strlen(DEFAULT_ISSUER);
    c->aud = f->audience ? f->audience : DEFAULT_AUDIENCE;
    c->aud_len = f->audience ? f->audience_len : strlen(DEFAULT_AUDIENCE);
    c->consumer_id = f->consumer_id ? f->consumer_id : "";
    c->consumer_id_len = f->consumer_id ? f->consumer_id_len : 0;
    c->access_token = f->access_token ? f->access_token : "";
    c->access_token_len = f->access_token ? f->access_token_len : 0;
    c->url = f->url ? f->url : "";
    c->url_len = f->url ? f->url_len : 0;
    if (!(f->now >= 0 && f->now < 1e12))
        return "bad field 'now' (unix seconds expected)";
    if (!(f->ttl >= 1 && f->ttl <= 86400))
        return "bad field 'ttl' (1 to 86400 seconds expected)";
    /* Claims are whole UTC seconds, as the API documents nbf/exp. */
    c->nbf = (long long)floor(f->now);
    c->exp = c->nbf + (long long)f->ttl;
    return jwt_check_strings(c);
}

/* ===== tokens ===== */

int jwt_hmac(jwt_mac *mac, const char *key, size_t klen, const char *msg,
             size_t mlen, unsigned char sig[JWT_SIG_LEN])
{
    if (mac != NULL && jwt_mac_sign(mac, key, klen, msg, mlen, sig) == 0)
        return 0;
    return jwt_hs256(key, klen, msg, mlen, sig);
}

size_t jwt_encoded_len(size_t plen)
{
    return JWT_ENCODED_LEN(sizeof jwt_header_json - 1, plen);
}

size_t jwt_encode(jwt_mac *mac, const char *payload, size_t plen,
                  const char *key, size_t klen, char *out)
{
    unsigned char sig[JWT_SIG_LEN];
    size_t o = 0;
    o += jwt_b64url_encode((const unsigned char *)jwt_header_json,
                           sizeof jwt_header_json - 1, out + o);
    out[o++] = '.';
    o += jwt_b64url_encode((const unsigned char *)payload, plen, out + o);
    if (jwt_hmac(mac, key, klen, out, o, sig) != 0)
        return 0;
    out[o++] = '.';
    o += jwt_b64url_encode(sig, JWT_SIG_LEN, out + o);
    OPENSSL_cleanse(sig, sizeof sig);
    return o;
}

size_t jwt_token_size(const jwt_claims *c)
{
    size_t jmax = jwt_claims_json_max(c);
    return jwt_encoded_len(jmax) + jmax;
}

size_t jwt_token(jwt_mac *mac, const jwt_claims *c, const char *key, size_t klen,
                 char *out)
{
    size_t jmax = jwt_claims_json_max(c);
    char *json = out + jwt_encoded_len(jmax);   /* past the longest token */
    size_t jlen = jwt_claims_json(c, json);
    size_t n = jwt_encode(mac, json, jlen, key, klen, out);
    OPENSSL_cleanse(json, jlen);
    return n;
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

struct jwt_mac {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
    unsigned char *key;     /* copy of the last key, to know when it changes */
    size_t klen;
    int keyed;
};

jwt_mac *jwt_mac_new(void)
{
    jwt_mac *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    m->ctx = m->mac ? EVP_MAC_CTX_new(m->mac) : NULL;
    if (m->ctx == NULL) {
        ERR_clear_error();
        jwt_mac_free(m);
        return NULL;
    }
    return m;
}

static void jwt_mac_forget(jwt_mac *m)
{
    if (m->key != NULL) {
        OPENSSL_cleanse(m->key, m->klen);
        free(m->key);
    }
    m->key = NULL;
    m->klen = 0;
    m->keyed = 0;
}

void jwt_mac_free(jwt_mac *m)
{
    if (m == NULL)
        return;
    jwt_mac_forget(m);
    EVP_MAC_CTX_free(m->ctx);
    EVP_MAC_free(m->mac);
    free(m);
}

int jwt_mac_sign(jwt_mac *m, const char *key, size_t klen, const char *msg,
                 size_t mlen, unsigned char sig[JWT_SIG_LEN])
{
    size_t outl = 0;
    int ok;

    if (m->keyed && m->klen == klen && CRYPTO_memcmp(m->key, key, klen) == 0) {
        ok = EVP_MAC_init(m->ctx, NULL, 0, NULL);   /* same key: reuse its pads */
    } else {
        OSSL_PARAM params[2];
        static const char empty = 0;
        jwt_mac_forget(m);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();
        ok = EVP_MAC_init(m->ctx, klen ? (const unsigned char *)key
                                       : (const unsigned char *)&empty, klen, params);
        if (ok) {
            m->key = malloc(klen ? klen : 1);
            if (m->key != NULL) {
                memcpy(m->key, key, klen);
                m->klen = klen;
                m->keyed = 1;
            }
        }
    }
    ok = ok && EVP_MAC_update(m->ctx, (const unsigned char *)msg, mlen)
            && EVP_MAC_final(m->ctx, sig, &outl, JWT_SIG_LEN) && outl == JWT_SIG_LEN;
    if (!ok) {
        ERR_clear_error();
        jwt_mac_forget(m);
        return -1;
    }
    return 0;
}

int jwt_sig_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
