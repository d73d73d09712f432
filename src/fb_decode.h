/* Response decoding: JSON (through a private lua-cjson instance) into Lua tables, and non-2xx
 * answers into http errors carrying the server's own message. */
#ifndef FB_DECODE_H
#define FB_DECODE_H

#include "fb_compat.h"

/* Decodes the JSON string at idx with the core's private cjson (JSON nulls removed): pushes the
 * value and returns 1, or pushes cjson's message and returns 0. Never raises for bad input. */
int fb_decode_json(lua_State *L, int idx);

/* Adds core.decode to the module table at the top of the stack. */
void fb_decode_init(lua_State *L);
/* Decodes an answer (body, n) with this status; res is the response table (headers, and what
 * fb_decode_info read from them), which an error copies: pushes the value (returns 1) or nil, err
 * (returns 2). See fb_decode.c. */
int fb_decode_push(lua_State *L, int status, int res, const char *body, size_t n);
/* Sets request_id and rate_limit on the table at t from the headers table at index headers. */
void fb_decode_info(lua_State *L, int t, int headers);

#endif
