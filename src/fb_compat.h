/* One source for Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT. Every name here is prefixed (fb_) so that
 * nothing clashes with what LuaJIT or compat-5.3 already export (as lua-cjson and luasocket do). */
#ifndef FB_COMPAT_H
#define FB_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM >= 502
#define fb_rawlen(L, i) lua_rawlen(L, (i))
#define fb_setfuncs(L, l) luaL_setfuncs(L, (l), 0)
#define fb_absindex(L, i) lua_absindex(L, (i))
#else
#define fb_rawlen(L, i) lua_objlen(L, (i))
#define fb_absindex(L, i) (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
static inline void fb_setfuncs(lua_State *L, const luaL_Reg *l) {
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#endif

#if LUA_VERSION_NUM >= 503
#define fb_isinteger(L, i) lua_isinteger(L, (i))
#else
#define fb_isinteger(L, i) 0
#endif

#endif
