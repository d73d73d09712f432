/* What the import journal needs from files and Lua has not: fsync, flock, isatty. */
#ifndef FB_FILE_H
#define FB_FILE_H

#include "fb_compat.h"

/* Adds fsync, lock and isatty to the module table at the top of the stack. */
void fb_file_init(lua_State *L);

#endif
