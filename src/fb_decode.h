/* Response decoding: JSON (through a private lua-cjson instance) into Lua tables, and non-2xx
 * answers into http errors carrying the server's own message. */
#ifndef FB_DECODE_H
#define FB_DECODE_H

#include "fb_compat.h"

/* Adds core.decode to the module table at the top of the stack. */
void fb_decode_init(lua_State *L);
/* Decodes an answer (body, n) with this status and the headers table at index headers: pushes
 * the value (returns 1) or nil, err (returns 2). See fb_decode.c. */
int fb_decode_push(lua_State *L, int status, int headers, const char *body, size_t n);

#endif
