/* jwt.h -- HS256 JSON Web Tokens without Lua: base64url, claim JSON, HMAC.
 *
 * Everything here writes into caller-provided buffers and never allocates, so
 * the Lua bindings (jwt_lua.c) can hand it GC-owned scratch memory and the
 * fuzz targets can drive it directly. */
#ifndef COREPLUS_JWT_H
#define COREPLUS_JWT_H

#include <stddef.h>

#define JWT_SIG_LEN 32           /* HMAC-SHA256 */
#define JWT_SIG_B64_LEN 43       /* base64url of 32 bytes, unpadded */

/* Output sizes for a given input length. */
#define JWT_B64_ENCODED_LEN(n) ((((n) / 3) * 4) + (((n) % 3) ? ((n) % 3) + 1 : 0))
#define JWT_B64_DECODED_MAX(n) ((((n) + 3) / 4) * 3)
#define JWT_JSON_ESCAPED_MAX(n) ((n) * 6 + 2)

typedef struct jwt_claims {
    const char *iss;       size_t iss_len;
    const char *aud;       size_t aud_len;
    long long nbf;
    long long exp;
    const char *consumer_id;   size_t consumer_id_len;
    const char *access_token;  size_t access_token_len;
    const char *url;       size_t url_len;
    const char *method;    size_t method_len;
} jwt_claims;

/* The fixed header of every coreplus token. */
extern const char jwt_header_json[];

size_t jwt_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Strict: only the unpadded base64url alphabet, no length that is 1 mod 4,
 * and no stray bits in the last character. Returns 0, or -1 when invalid. */
int jwt_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outn);

/* Writes a quoted JSON string. Quotes, backslash and control characters are
 * escaped; bytes >= 0x80 pass through so UTF-8 stays UTF-8. */
size_t jwt_json_quote(const char *s, size_t n, char *out);

/* JSON text must be UTF-8: claims are checked before they are quoted.
 * Returns 1 for well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int jwt_utf8_valid(const char *s, size_t n);

size_t jwt_claims_json_max(const jwt_claims *c);
size_t jwt_claims_json(const jwt_claims *c, char *out);

/* ===== the one token builder (core.sign and core.request alike) ===== */

#define JWT_METHOD_MAX 16
#define JWT_CLAIM_MAX (1u << 20)          /* bytes in one claim string */
#define JWT_CLAIM_MAX_TEXT "1048576"

/* What a coreplus token is made from, as given. NULL method, issuer or
 * audience take the defaults (GET, defaults.h). */
typedef struct jwt_fields {
    const char *consumer_id;   size_t consumer_id_len;
    const char *access_token;  size_t access_token_len;
    const char *url;           size_t url_len;
    const char *method;        size_t method_len;
    const char *issuer;        size_t issuer_len;
    const char *audience;      size_t audience_len;
    double now;                /* unix seconds on the server's clock */
    double ttl;                /* seconds from nbf to exp */
} jwt_fields;

/* Upper-cases an HTTP method into out (n + 1 bytes, NUL-terminated). Only
 * 1..JWT_METHOD_MAX letters are accepted, so that a method can never smuggle
 * text into a request line or a claim. Returns 0, or -1. */
int jwt_method(const char *m, size_t n, char *out);

/* The one claims check: the method (letters, upper-cased into method_buf),
 * every claim string well-formed UTF-8 and at most JWT_CLAIM_MAX bytes, the
 * defaults, now in [0, 1e12) and ttl in [1, 86400]; then nbf = whole seconds
 * of now and exp = nbf + ttl. Fills c (pointing into f and method_buf).
 * Returns NULL, or a message naming the bad field ("bad field 'issuer' (not
 * valid UTF-8)"), a string constant. */
const char *jwt_claims_make(jwt_claims *c, const jwt_fields *f,
                            char method_buf[JWT_METHOD_MAX + 1]);

typedef struct jwt_mac jwt_mac;

/* base64url(header) "." base64url(payload) "." base64url(signature): the
 * bytes jwt_encode writes for a payload of plen bytes (no NUL). */
#define JWT_ENCODED_LEN(hlen, plen) \
    (JWT_B64_ENCODED_LEN(hlen) + 1 + JWT_B64_ENCODED_LEN(plen) + 1 + JWT_SIG_B64_LEN)
size_t jwt_encoded_len(size_t plen);
/* Signs payload with key into out (jwt_encoded_len(plen) bytes). mac (NULL:
 * a one-shot HMAC) keeps the key set-up between calls. Returns the length,
 * or 0 when OpenSSL fails. */
size_t jwt_encode(jwt_mac *mac, const char *payload, size_t plen,
                  const char *key, size_t klen, char *out);

/* The buffer jwt_token needs for c: the token, then room for the claim JSON
 * (written there first and cleansed once encoded). */
size_t jwt_token_size(const jwt_claims *c);
/* The token of claims c signed with key, into out (jwt_token_size(c)
 * bytes). Returns its length (no NUL), or 0 when OpenSSL fails. */
size_t jwt_token(jwt_mac *mac, const jwt_claims *c, const char *key, size_t klen,
                 char *out);

/* ===== HMAC ===== */

/* Returns 0 on success, -1 when OpenSSL refuses (its error queue is drained). */
int jwt_hs256(const char *key, size_t klen, const char *msg, size_t mlen,
              unsigned char sig[JWT_SIG_LEN]);

/* A reusable HMAC-SHA256 context that remembers its last key: OpenSSL 3's
 * one-shot HMAC() fetches the algorithm and sets the key up on every call,
 * which costs more than hashing a token. The key copy is cleansed on free. */
jwt_mac *jwt_mac_new(void);
void jwt_mac_free(jwt_mac *m);
int jwt_mac_sign(jwt_mac *m, const char *key, size_t klen, const char *msg,
                 size_t mlen, unsigned char sig[JWT_SIG_LEN]);

/* HMAC-SHA256 with mac when there is one (and it works), else one-shot. */
int jwt_hmac(jwt_mac *mac, const char *key, size_t klen, const char *msg,
             size_t mlen, unsigned char sig[JWT_SIG_LEN]);

/* Constant time in the length, whatever the contents. */
int jwt_sig_equal(const unsigned char *a, const unsigned char *b, size_t n);

#endif
