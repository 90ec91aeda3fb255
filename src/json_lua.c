/* json_lua.c -- core.json_decode: a JSON text to Lua values, integers kept
 * as integers.
 *
 *   local value = core.json_decode(text)     -- or nil, "invalid JSON at byte N: ..."
 *
 * lua-cjson 2.1 decodes every number as a float, so under Lua 5.4 ids and
 * counts print as 60.0 and the Lua layer had to walk every response again to
 * turn them back (about a third of a request's CPU for a 100-row page). Here
 * the parsing is libyajl's (Debian's libyajl-dev: an event parser, so the Lua
 * values are built as the text is read, with no tree in between), and each
 * number is converted by Lua's own rule (lua_stringtonumber): integer syntax
 * that fits is an integer, anything else a float. Otherwise the values are
 * lua-cjson's: null is cjson.null (a NULL light userdata), objects and arrays
 * are plain tables, strings are not checked for UTF-8 (cjson does not check
 * either), nesting deeper than 1000 is refused (cjson's default limit).
 * Users who call cjson themselves keep cjson's own behaviour.
 *
 * A Lua memory error inside a callback unwinds through yajl's frames: yajl
 * keeps all of its state in the handle, which the unprotected caller frees
 * after the protected parse, so nothing leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "coreplus.h"

#define JSON_MAX_DEPTH 1000    /* lua-cjson's decode_max_depth default */
#define JSON_NUMBER_MAX 64     /* longer numbers go through a Lua string */

typedef struct json_ctx {
    lua_State *L;
    int depth;                 /* containers open; the stack holds one table each,
                                  plus a key above each open object */
    const char *why;           /* set when a callback cancels the parse */
    size_t at;                 /* bytes yajl consumed (where it stopped) */
    /* per open container: 0 for an object, else the array's next index */
    lua_Integer next[JSON_MAX_DEPTH + 1];
    int keys[JSON_MAX_DEPTH + 1];            /* open objects: keys so far */
    /* The size of the last object and array closed at each depth: the rows
     * of a page look alike, so the next one is made that size at once
     * instead of growing through every power of two (a fifth less work than
     * lua-cjson for a page of clients). A container can only be made as
     * large as the one before it at its depth was, so what this may waste
     * is bounded by what the text really holds. */
    int hint_keys[JSON_MAX_DEPTH + 1];
    int hint_items[JSON_MAX_DEPTH + 1];
    int deepest;               /* hints are set up to this depth */
} json_ctx;

/* ===== building values ===== */

/* The value on top of the stack is complete: store it in the open
 * container (stack: ... table [key] value -> ... table). */
static int json_store(json_ctx *c)
{
    lua_State *L = c->L;
    if (c->depth == 0)
        return 1;                              /* the document's value */
    if (c->next[c->depth] > 0)
        lua_rawseti(L, -2, c->next[c->depth]++);
    else
        lua_rawset(L, -3);
    return 1;
}

static int json_null(void *ctx)
{
    json_ctx *c = ctx;
    lua_pushlightuserdata(c->L, NULL);         /* == cjson.null */
    return json_store(c);
}

static int json_boolean(void *ctx, int b)
{
    json_ctx *c = ctx;
    lua_pushboolean(c->L, b);
    return json_store(c);
}

/* yajl has checked the JSON number syntax; Lua decides integer or float. */
static int json_number(void *ctx, const char *s, size_t len)
{
    json_ctx *c = ctx;
    lua_State *L = c->L;
#if LUA_VERSION_NUM >= 503
    char buf[JSON_NUMBER_MAX + 1];
    if (len <= JSON_NUMBER_MAX) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (lua_stringtonumber(L, buf) == 0)
            lua_pushnumber(L, strtod(buf, NULL));
    } else {
        lua_pushlstring(L, s, len);            /* stack: ... text */
        if (lua_stringtonumber(L, lua_tostring(L, -1)) == 0)
            lua_pushnumber(L, strtod(lua_tostring(L, -1), NULL));
        lua_remove(L, -2);                     /* stack: ... number */
    }
#else
    /* Lua 5.1 / LuaJIT: every number is a double. */
    lua_pushlstring(L, s, len);
    lua_pushnumber(L, lua_tonumber(L, -1));
    lua_remove(L, -2);
#endif
    return json_store(c);
}

static int json_string(void *ctx, const unsigned char *s, size_t len)
{
    json_ctx *c = ctx;
    lua_pushlstring(c->L, (const char *)s, len);
    return json_store(c);
}

static int json_open(json_ctx *c, int is_array)
{
    if (c->depth >= JSON_MAX_DEPTH) {
        c->why = "too many nested arrays or objects (more than 1000)";
        return 0;
    }
    /* an open object also holds its pending key */
    if (!lua_checkstack(c->L, 4)) {
        c->why = "the Lua stack cannot grow";
        return 0;
    }
    c->depth++;
    if (c->depth > c->deepest) {
        c->deepest = c->depth;
        c->hint_keys[c->depth] = c->hint_items[c->depth] = 0;
    }
    if (is_array) {
        lua_createtable(c->L, c->hint_items[c->depth], 0);
    } else {
        lua_createtable(c->L, 0, c->hint_keys[c->depth]);
        c->keys[c->depth] = 0;
    }
    c->next[c->depth] = is_array;
    return 1;
}

static int json_start_map(void *ctx) { return json_open(ctx, 0); }
static int json_start_array(void *ctx) { return json_open(ctx, 1); }

static int json_key(void *ctx, const unsigned char *s, size_t len)
{
    json_ctx *c = ctx;
    lua_pushlstring(c->L, (const char *)s, len);
    c->keys[c->depth]++;
    return 1;
}

static int json_close(void *ctx)
{
    json_ctx *c = ctx;
    if (c->next[c->depth] > 0)
        c->hint_items[c->depth] = (int)(c->next[c->depth] - 1);
    else
        c->hint_keys[c->depth] = c->keys[c->depth];
    c->depth--;
    return json_store(c);
}

static const yajl_callbacks json_callbacks = {
    json_null, json_boolean, NULL, NULL, json_number, json_string,
    json_start_map, json_key, json_close, json_start_array, json_close
};

/* ===== core.json_decode ===== */

/* Protected: (text, handle, ctx) -> true, value | false. */
static int json_parse(lua_State *L)
{
    size_t len;
    const unsigned char *text = (const unsigned char *)lua_tolstring(L, 1, &len);
    yajl_handle h = lua_touserdata(L, 2);
    json_ctx *c = lua_touserdata(L, 3);
    yajl_status s;
    lua_settop(L, 0);                          /* stack: (the caller holds text) */
    c->L = L;
    s = yajl_parse(h, text, len);
    c->at = yajl_get_bytes_consumed(h);
    if (s == yajl_status_ok)
        s = yajl_complete_parse(h);
    lua_pushboolean(L, s == yajl_status_ok);   /* stack: [value] ok */
    if (s != yajl_status_ok)
        return 1;
    lua_insert(L, -2);                         /* stack: ok value */
    return 2;
}

static int json_lua_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_ctx ctx, *c = &ctx;                   /* ~8 KB of C stack, no allocation */
    yajl_handle h;
    unsigned char *why;
    char msg[200];

    c->depth = 0;
    c->why = NULL;
    c->deepest = 0;
    h = yajl_alloc(&json_callbacks, NULL, c);
    if (h == NULL)
        return luaL_error(L, "json_decode: out of memory");
    yajl_config(h, yajl_dont_validate_strings, 1);

    lua_pushcfunction(L, json_parse);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, h);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 3, 2, 0) != 0) {          /* stack: text message */
        yajl_free(h);
        return lua_error(L);                   /* a memory error: raised again */
    }
    if (lua_toboolean(L, -2)) {                /* stack: text true value */
        yajl_free(h);
        return 1;
    }
    /* Copied before anything else can raise: the handle is freed first. */
    if (c->why != NULL) {
        snprintf(msg, sizeof msg, "%s", c->why);
    } else {
        why = yajl_get_error(h, 0, (const unsigned char *)text, len);
        snprintf(msg, sizeof msg, "%s", why != NULL ? (const char *)why : "parse error");
        if (why != NULL)
            yajl_free_error(h, why);
    }
    yajl_free(h);
    /* yajl's messages end with a newline */
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    lua_pushnil(L);
    lua_pushfstring(L, "invalid JSON at byte %d: %s", (int)c->at, msg);
    return 2;
}

static const luaL_Reg json_funcs[] = {
    { "json_decode", json_lua_decode },
    { NULL, NULL }
};

void json_lua_register(lua_State *L)
{
    luaL_setfuncs(L, json_funcs, 0);
}
