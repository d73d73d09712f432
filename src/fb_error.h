/* Error values: tables with kind, message and context fields, and a __tostring. */
#ifndef FB_ERROR_H
#define FB_ERROR_H

#include "fb_compat.h"

#define FB_ERROR_MT "featurebase.Error"

/* Pushes a new error table {kind=, message=} with the error metatable. */
void fb_error_push(lua_State *L, const char *kind, const char *message);
/* Same, then returns 2 values (nil, err) from a C function. */
int fb_error_return(lua_State *L, const char *kind, const char *message);
/* Sets err.field (string) on the error at the top of the stack. */
void fb_error_setfield(lua_State *L, const char *name, const char *value);
void fb_error_init(lua_State *L);

#endif
