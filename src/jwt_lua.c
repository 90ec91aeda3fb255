/* jwt_lua.c -- Lua bindings of jwt.c: core.sign, core.jwt_encode, core.jwt_decode.
 *
 * Scratch memory comes from lua_newuserdata so that a Lua error (argument or
 * memory) can never leak it; OpenSSL only ever sees those C buffers. */
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

/* Pushes the n-byte token that jwt_buffer's buffer holds (n == 0: the HMAC
 * failed, which raises), dropping the scratch userdata when there is one.
 * Returns 1, the token. */
static int jwt_push_token(lua_State *L, const char *tok, size_t n, int pushed)
{
    if (n == 0)
        return luaL_error(L, "HMAC-SHA256 failed in OpenSSL");
    lua_pushlstring(L, tok, n);
    if (pushed)
        lua_remove(L, -2);   /* the scratch */
    return 1;
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

static jwt_mac *jwt_lua_mac(lua_State *L)
{
    jwt_mac_box *b = lua_touserdata(L, lua_upvalueindex(1));
    if (b == NULL)
        return NULL;
    if (b->mac == NULL)
        b->mac = jwt_mac_new();   /* NULL: jwt.c falls back to one-shot HMAC */
    return b->mac;
}

/* core.jwt_encode(payload_json, secret) -> token */
static int jwt_lua_encode(lua_State *L)
{
    size_t plen, slen, n;
    const char *payload = luaL_checklstring(L, 1, &plen);
    const char *secret = luaL_checklstring(L, 2, &slen);
    char stackbuf[JWT_STACK_BUF];
    int pushed;
    char *tok;

    if (plen > JWT_TOKEN_MAX)
        return luaL_argerror(L, 1, "payload too large");
    tok = jwt_buffer(L, stackbuf, jwt_encoded_len(plen), &pushed);
    n = jwt_encode(jwt_lua_mac(L), payload, plen, secret, slen, tok);
    return jwt_push_token(L, tok, n, pushed);
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
    jwt_fields f;
    jwt_claims c;
    size_t slen, n;
    const char *secret, *bad;
    char method[JWT_METHOD_MAX + 1];
    char stackbuf[JWT_STACK_BUF];
    int pushed;
    char *tok;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    memset(&f, 0, sizeof f);
    f.consumer_id = jwt_strfield(L, "consumer_id", &f.consumer_id_len, 1);
    secret = jwt_strfield(L, "consumer_secret", &slen, 1);
    f.access_token = jwt_strfield(L, "access_token", &f.access_token_len, 1);
    f.url = jwt_strfield(L, "url", &f.url_len, 1);
    f.method = jwt_strfield(L, "method", &f.method_len, 0);
    f.issuer = jwt_strfield(L, "issuer", &f.issuer_len, 0);
    f.audience = jwt_strfield(L, "audience", &f.audience_len, 0);
    /* stack: opts consumer_id secret access_token url method issuer audience */
    f.now = compat_optnumfield(L, 1, "now", (lua_Number)time(NULL));
    f.ttl = compat_optnumfield(L, 1, "ttl", DEFAULT_TOKEN_TTL);
    if ((bad = jwt_claims_make(&c, &f, method)) != NULL)
        return luaL_error(L, "%s", bad);

    tok = jwt_buffer(L, stackbuf, jwt_token_size(&c), &pushed);
    n = jwt_token(jwt_lua_mac(L), &c, secret, slen, tok);
    return jwt_push_token(L, tok, n, pushed);
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
    if (jwt_hmac(jwt_lua_mac(L), secret, slen, tok, (size_t)(dot2 - tok), want) != 0)
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
