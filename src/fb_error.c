#include "fb_error.h"

void fb_error_push(lua_State *L, const char *kind, const char *message) {
    lua_createtable(L, 0, 6);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    luaL_getmetatable(L, FB_ERROR_MT);
    lua_setmetatable(L, -2);
}

int fb_error_return(lua_State *L, const char *kind, const char *message) {
    lua_pushnil(L);
    fb_error_push(L, kind, message);
    return 2;
}

void fb_error_setfield(lua_State *L, const char *name, const char *value) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
}

/* "featurebase: http 422 (req_1): subject is required when ..." — one line, never the API key (errors
 * are built only from validated fields, the response and curl's message, none of which holds it). */
static int fb_error_tostring(lua_State *L) {
    luaL_Buffer b;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "featurebase: ");
    lua_getfield(L, 1, "kind");
    luaL_addvalue(&b);
    lua_getfield(L, 1, "status");
    if (!lua_isnil(L, -1)) {
        luaL_addchar(&b, ' ');
        lua_tostring(L, -1); /* numbers become strings here */
        luaL_addvalue(&b);
    } else lua_pop(L, 1);
    lua_getfield(L, 1, "request_id");
    if (lua_type(L, -1) == LUA_TSTRING) {
        luaL_addstring(&b, " (");
        luaL_addvalue(&b);
        luaL_addchar(&b, ')');
    } else lua_pop(L, 1);
    luaL_addstring(&b, ": ");
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) == LUA_TSTRING) luaL_addvalue(&b);
    else lua_pop(L, 1);
    luaL_pushresult(&b);
    return 1;
}

void fb_error_init(lua_State *L) {
    luaL_newmetatable(L, FB_ERROR_MT);
    lua_pushcfunction(L, fb_error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "featurebase.Error");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}
