/* The non-blocking engine (libcurl multi): core.engine(client) and client:engine(). */
#ifndef FB_MULTI_H
#define FB_MULTI_H

#include "fb_compat.h"

/* Registers core.engine and the featurebase.Engine metatable; call after fb_client_init. */
void fb_multi_init(lua_State *L);

#endif
