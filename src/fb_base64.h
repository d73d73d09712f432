/* Base64 encoding for data URIs (featurebase.image). */
#ifndef FB_BASE64_H
#define FB_BASE64_H

#include "fb_compat.h"

/* Adds base64 to the module table at the top of the stack. */
void fb_base64_init(lua_State *L);

#endif
