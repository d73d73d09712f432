/* What the import journal needs from Lua file handles and the io library does not offer:
 *   core.fsync(file)  -> true | nil, message   flush, then fsync: the line survives a crash
 *   core.lock(file)   -> true | nil, message   exclusive flock, never waits: one run per journal
 *   core.isatty(file) -> boolean               a terminal gets a progress bar, a pipe plain lines
 * The lock belongs to the open file and goes away with the process, even on SIGKILL. */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include "fb_file.h"

/* The FILE* of an open Lua file handle; raises on anything else. Lua 5.1 and LuaJIT keep the
 * FILE* as the userdata's first member (NULL once closed); 5.2+ wrap it in a luaL_Stream. */
static FILE *tofile(lua_State *L) {
#if LUA_VERSION_NUM >= 502
    luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    if (p->closef == NULL || p->f == NULL) luaL_argerror(L, 1, "attempt to use a closed file");
    return p->f;
#else
    FILE **p = (FILE **)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    if (*p == NULL) luaL_argerror(L, 1, "attempt to use a closed file");
    return *p;
#endif
}

static int push_errno(lua_State *L, const char *what) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(errno));
    return 2;
}

static int fb_file_fsync(lua_State *L) {
    FILE *f = tofile(L);
    if (fflush(f) != 0) return push_errno(L, "flush");
    if (fsync(fileno(f)) != 0) return push_errno(L, "fsync");
    lua_pushboolean(L, 1);
    return 1;
}

static int fb_file_lock(lua_State *L) {
    FILE *f = tofile(L);
    int rc;
    while ((rc = flock(fileno(f), LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {}
    if (rc != 0) return push_errno(L, "lock");
    lua_pushboolean(L, 1);
    return 1;
}

static int fb_file_isatty(lua_State *L) {
    lua_pushboolean(L, isatty(fileno(tofile(L))));
    return 1;
}

void fb_file_init(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"fsync", fb_file_fsync}, {"lock", fb_file_lock}, {"isatty", fb_file_isatty}, {NULL, NULL}};
    fb_setfuncs(L, fns);
}
