/* coreplus.h -- private declarations shared by the C units of coreplus.core. */
#ifndef COREPLUS_H
#define COREPLUS_H

#include "compat.h"
#include "limiter/config.h"

#define COREPLUS_VERSION "0.1.0"

/* Each unit adds its functions to the module table on top of the stack. */
void jwt_lua_register(lua_State *L);
void json_lua_register(lua_State *L);
void clock_lua_register(lua_State *L);
void limiter_lua_register(lua_State *L);
void limiter_clock_lua_register(lua_State *L);   /* called by limiter_lua_register */
void defaults_lua_register(lua_State *L);
void signal_lua_register(lua_State *L);
/* Adds to the module's _private table (helpers for the Lua layer only). */
void limiter_redis_lua_register(lua_State *L);

/* error_lua.c: every expected failure is nil, { kind =, message =, ... }.
 * err_lua_push pushes the table (callers may add fields); err_lua_fail
 * pushes nil and the table and returns 2. */
void err_lua_push(lua_State *L, const char *kind, const char *message);
int err_lua_fail(lua_State *L, const char *kind, const char *message);

/* defaults_lua.c: the default User-Agent (DEFAULT_USER_AGENT_FORMAT) */
void defaults_user_agent(lua_State *L, char *out, size_t n);

/* limiter_lua.c: the limiter object at idx for req_lua.c (raises naming
 * the field 'limiter' when it is anything else, or closed). */
struct thr_limit;
int thr_lua_tolimiter(lua_State *L, int idx, struct thr_limit **lim, thr_config *cfg);

#endif
