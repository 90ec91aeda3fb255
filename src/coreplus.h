/* coreplus.h -- private declarations shared by the C units of coreplus.core. */
#ifndef COREPLUS_H
#define COREPLUS_H

#include "compat.h"

#define COREPLUS_VERSION "0.1.0"

/* Each unit adds its functions to the module table on top of the stack. */
void jwt_lua_register(lua_State *L);
void clock_lua_register(lua_State *L);

#endif
