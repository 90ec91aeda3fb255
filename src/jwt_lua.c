/* jwt_lua.c -- Lua bindings of jwt.c: core.sign, core.jwt_encode, core.jwt_decode.
 *
 * Scratch memory comes from lua_newuserdata so that a Lua error (argument or
 * memory) can never leak it; OpenSSL only ever sees those C buffers. */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "jwt.h"
#include "coreplus.h"
#include "defaults.h"

#define JWT_TOKEN_MAX (1u << 20)    /* far above any real token; bounds scratch */

#define JWT_STACK_BUF 4096     /* a typical token fits; bigger ones use userdata */
#define JWT_MAC_MT "coreplus.jwt_mac"

static void *jwt_scratch(lua_State *L, size_t n)
{
    return lua_newuserdata(L, n ? n : 1);
}

/* Returns stackbuf when n fits, else GC-owned scratch pushed on the stack
 * (*pushed tells the caller to pop it). */
static char *jwt_buffer(lua_State *L, char *stackbuf, size_t n, int *pushed)
{
    if (n <= JWT_STACK_BUF) {
        *pushed = 0;
        return stackbuf;
    }
    *pushed = 1;
    return jwt_scratch(L, n);
}

/* The HMAC context lives in a userdata upvalue (one per Lua state), so the
 * key set-up is paid once per secret, not once per token. */
typedef struct { jwt_mac *mac; } jwt_mac_box;

static int jwt_mac_gc(lua_State *L)
{
    jwt_mac_box *b = luaL_checkudata(L, 1, JWT_MAC_MT);
    jwt_mac_free(b->mac);
    b->mac = NULL;
    return 0;
}

static int jwt_sign_bytes(lua_State *L, const char *key, size_t klen,
                          const char *msg, size_t mlen, unsigned char *sig)
{
    jwt_mac_box *b = lua_touserdata(L, lua_upvalueindex(1));
    if (b != NULL && b->mac == NULL)
        b->mac = jwt_mac_new();
    if (b != NULL && b->mac != NULL && jwt_mac_sign(b->mac, key, klen, msg, mlen, sig) == 0)
        return 0;
    return jwt_hs256(key, klen, msg, mlen, sig);
}

/* Pushes header.payload.signature for a payload, signed with secret. */
static void jwt_push_token(lua_State *L, const char *payload, size_t plen,
                           const char *secret, size_t slen)
{
    size_t hlen = strlen(jwt_header_json);
    size_t cap = JWT_B64_ENCODED_LEN(hlen) + 1 + JWT_B64_ENCODED_LEN(plen) + 1
                 + JWT_SIG_B64_LEN;
    char stackbuf[JWT_STACK_BUF];
    int pushed;
    char *tok = jwt_buffer(L, stackbuf, cap, &pushed);
    unsigned char sig[JWT_SIG_LEN];
    size_t o = 0;

    o += jwt_b64url_encode((const unsigned char *)jwt_header_json, hlen, tok + o);
    tok[o++] = '.';
    o += jwt_b64url_encode((const unsigned char *)payload, plen, tok + o);
    if (jwt_sign_bytes(L, secret, slen, tok, o, sig) != 0)
        luaL_error(L, "HMAC-SHA256 failed in OpenSSL");
    tok[o++] = '.';
    o += jwt_b64url_encode(sig, JWT_SIG_LEN, tok + o);
    lua_pushlstring(L, tok, o);
    if (pushed)
        lua_remove(L, -2);   /* the scratch */
}

/* core.jwt_encode(payload_json, secret) -> token */
static int jwt_lua_encode(lua_State *L)
{
    size_t plen, slen;
    const char *payload = luaL_checklstring(L, 1, &plen);
    const char *secret = luaL_checklstring(L, 2, &slen);
    if (plen > JWT_TOKEN_MAX)
        return luaL_argerror(L, 1, "payload too large");
    jwt_push_token(L, payload, plen, secret, slen);
    return 1;
}

/* Upper-cases an HTTP method into out; refuses anything but letters so that a
 * method can never smuggle text into the request line or the claim. */
static int jwt_method(const char *m, size_t n, char *out)
{
    size_t i;
    if (n == 0 || n > 16)
        return -1;
    for (i = 0; i < n; i++) {
        if (!isalpha((unsigned char)m[i]))
            return -1;
        out[i] = (char)toupper((unsigned char)m[i]);
    }
    return 0;
}

/* A string field of the table at 1, left on the stack: a string computed by
 * __index has no other reference, and a later field's __index could collect
 * it. NULL when absent (raises when required). */
static const char *jwt_strfield(lua_State *L, const char *k, size_t *len, int required)
{
    lua_getfield(L, 1, k);
    if (lua_isnil(L, -1)) {
        if (required)
            luaL_error(L, "missing required field '%s'", k);
        *len = 0;
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "bad field '%s' (string expected, got %s)", k, luaL_typename(L, -1));
    return lua_tolstring(L, -1, len);
}

/* core.sign{ consumer_id, consumer_secret, access_token, url, method,
 *            issuer, audience, now, ttl } -> token */
static int jwt_lua_sign(lua_State *L)
{
    jwt_claims c;
    size_t slen, cap, n;
    const char *secret;
    char method[17];
    lua_Number now, ttl;
    char *json;
    char stackbuf[JWT_STACK_BUF];
    int pushed;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    memset(&c, 0, sizeof c);
    c.consumer_id = jwt_strfield(L, "consumer_id", &c.consumer_id_len, 1);
    secret = jwt_strfield(L, "consumer_secret", &slen, 1);
    c.access_token = jwt_strfield(L, "access_token", &c.access_token_len, 1);
    c.url = jwt_strfield(L, "url", &c.url_len, 1);
    c.method = jwt_strfield(L, "method", &c.method_len, 0);
    c.iss = jwt_strfield(L, "issuer", &c.iss_len, 0);
    c.aud = jwt_strfield(L, "audience", &c.aud_len, 0);
    /* stack: opts consumer_id secret access_token url method issuer audience */
    now = compat_optnumfield(L, 1, "now", (lua_Number)time(NULL));
    ttl = compat_optnumfield(L, 1, "ttl", DEFAULT_TOKEN_TTL);

    if (c.method == NULL) {
        c.method = "GET";
        c.method_len = 3;
    }
    if (jwt_method(c.method, c.method_len, method) != 0)
        return luaL_error(L, "bad field 'method' (an HTTP method such as GET expected)");
    method[c.method_len] = '\0';
    c.method = method;
    if (c.iss == NULL) {
        c.iss = DEFAULT_ISSUER;
        c.iss_len = strlen(DEFAULT_ISSUER);
    }
    if (c.aud == NULL) {
        c.aud = DEFAULT_AUDIENCE;
        c.aud_len = strlen(DEFAULT_AUDIENCE);
    }
    if (!(now >= 0 && now < 1e12))
        return luaL_error(L, "bad field 'now' (unix seconds expected)");
    if (!(ttl >= 1 && ttl <= 86400))
        return luaL_error(L, "bad field 'ttl' (1 to 86400 seconds expected)");
    if (c.url_len > JWT_TOKEN_MAX || c.consumer_id_len > JWT_TOKEN_MAX
        || c.access_token_len > JWT_TOKEN_MAX || c.iss_len > JWT_TOKEN_MAX
        || c.aud_len > JWT_TOKEN_MAX)
        return luaL_error(L, "a claim is too large (over %d bytes)", (int)JWT_TOKEN_MAX);

    if (!jwt_utf8_valid(c.iss, c.iss_len))
        return luaL_error(L, "bad field 'issuer' (not valid UTF-8)");
    if (!jwt_utf8_valid(c.aud, c.aud_len))
        return luaL_error(L, "bad field 'audience' (not valid UTF-8)");
    if (!jwt_utf8_valid(c.url, c.url_len))
        return luaL_error(L, "bad field 'url' (not valid UTF-8)");
    if (!jwt_utf8_valid(c.consumer_id, c.consumer_id_len))
        return luaL_error(L, "bad field 'consumer_id' (not valid UTF-8)");
    if (!jwt_utf8_valid(c.access_token, c.access_token_len))
        return luaL_error(L, "bad field 'access_token' (not valid UTF-8)");

    /* Claims are whole UTC seconds, as the API documents nbf/exp. */
    c.nbf = (long long)now;
    c.exp = c.nbf + (long long)ttl;

    cap = jwt_claims_json_max(&c);
    json = jwt_buffer(L, stackbuf, cap, &pushed);
    n = jwt_claims_json(&c, json);
    jwt_push_token(L, json, n, secret, slen);
    if (pushed)
        lua_remove(L, -2);   /* the claim scratch */
    return 1;
}

/* Decodes header JSON with lua-cjson (a real parser) in protected mode.
 * Leaves the decoded value on the stack, or returns 0 and pushes nothing. */
static int jwt_json_decode(lua_State *L, const char *s, size_t n)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        lua_pop(L, 1);
        return 0;
    }
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_pushlstring(L, s, n);
    if (lua_pcall(L, 1, 1, 0) != 0 || lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* core.jwt_decode(token, secret) -> payload_json | nil, { kind =, message = }
 * (kind: "malformed", "bad_alg" or "bad_signature")
 * Checks structure, alg (HS256 only) and the signature; claims are the Lua
 * layer's business. */
static int jwt_lua_decode(lua_State *L)
{
    size_t tlen, slen, hlen, plen, siglen, outn;
    const char *tok = luaL_checklstring(L, 1, &tlen);
    const char *secret = luaL_checklstring(L, 2, &slen);
    const char *dot1, *dot2, *alg;
    unsigned char *buf;
    unsigned char want[JWT_SIG_LEN], got[JWT_SIG_B64_LEN];
    int algok;

    if (tlen > JWT_TOKEN_MAX)
        return err_lua_fail(L, "malformed", "token too large");
    dot1 = memchr(tok, '.', tlen);
    dot2 = dot1 ? memchr(dot1 + 1, '.', tlen - (size_t)(dot1 + 1 - tok)) : NULL;
    if (dot1 == NULL || dot2 == NULL
        || memchr(dot2 + 1, '.', tlen - (size_t)(dot2 + 1 - tok)) != NULL)
        return err_lua_fail(L, "malformed", "token must have 3 dot-separated segments");
    hlen = (size_t)(dot1 - tok);
    plen = (size_t)(dot2 - dot1 - 1);
    siglen = tlen - (size_t)(dot2 + 1 - tok);

    buf = jwt_scratch(L, JWT_B64_DECODED_MAX(tlen));
    /* stack: ... scratch */
    if (jwt_b64url_decode(tok, hlen, buf, &outn) != 0)
        return err_lua_fail(L, "malformed", "header is not valid base64url");
    if (!jwt_json_decode(L, (const char *)buf, outn))
        return err_lua_fail(L, "malformed", "header is not a JSON object");
    /* stack: ... scratch header */
    lua_getfield(L, -1, "alg");
    alg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    algok = alg != NULL && strcmp(alg, "HS256") == 0 && compat_rawlen(L, -1) == 5;
    lua_pop(L, 2);
    if (!algok)
        return err_lua_fail(L, "bad_alg", "unsupported alg (only HS256 is accepted)");

    if (siglen != JWT_SIG_B64_LEN
        || jwt_b64url_decode(dot2 + 1, siglen, got, &outn) != 0 || outn != JWT_SIG_LEN)
        return err_lua_fail(L, "bad_signature", "signature is not 32 bytes of base64url");
    if (jwt_sign_bytes(L, secret, slen, tok, (size_t)(dot2 - tok), want) != 0)
        return luaL_error(L, "HMAC-SHA256 failed in OpenSSL");
    if (!jwt_sig_equal(want, got, JWT_SIG_LEN))
        return err_lua_fail(L, "bad_signature", "signature does not match");

    if (jwt_b64url_decode(dot1 + 1, plen, buf, &outn) != 0)
        return err_lua_fail(L, "malformed", "payload is not valid base64url");
    if (!jwt_json_decode(L, (const char *)buf, outn))
        return err_lua_fail(L, "malformed", "payload is not a JSON object");
    lua_pop(L, 1);
    lua_pushlstring(L, (const char *)buf, outn);
    return 1;
}

/* core.base64url_encode(s) -> text */
static int jwt_lua_b64encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char *out;
    if (n > JWT_TOKEN_MAX * 4)
        return luaL_argerror(L, 1, "string too large");
    out = jwt_scratch(L, JWT_B64_ENCODED_LEN(n));
    lua_pushlstring(L, out, jwt_b64url_encode((const unsigned char *)s, n, out));
    return 1;
}

/* core.base64url_decode(text) -> s | nil, { kind = "malformed", message = } */
static int jwt_lua_b64decode(lua_State *L)
{
    size_t n, outn;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char *out;
    if (n > JWT_TOKEN_MAX * 4)
        return luaL_argerror(L, 1, "string too large");
    out = jwt_scratch(L, JWT_B64_DECODED_MAX(n));
    if (jwt_b64url_decode(s, n, out, &outn) != 0)
        return err_lua_fail(L, "malformed", "not valid unpadded base64url");
    lua_pushlstring(L, (const char *)out, outn);
    return 1;
}

static const luaL_Reg jwt_funcs[] = {
    { "base64url_encode", jwt_lua_b64encode },
    { "base64url_decode", jwt_lua_b64decode },
    { "sign", jwt_lua_sign },
    { "jwt_encode", jwt_lua_encode },
    { "jwt_decode", jwt_lua_decode },
    { NULL, NULL }
};

void jwt_lua_register(lua_State *L)
{
    jwt_mac_box *b = lua_newuserdata(L, sizeof *b);
    b->mac = NULL;
    /* stack: module box */
    if (luaL_newmetatable(L, JWT_MAC_MT)) {
        lua_pushcfunction(L, jwt_mac_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    luaL_setfuncs(L, jwt_funcs, 1);
}
