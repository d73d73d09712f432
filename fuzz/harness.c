/* libFuzzer harness: one embedded Lua 5.4 state with featurebase.core linked in statically; the
 * Lua script named by FUZZ_SCRIPT (fuzz/<name>.lua) returns a function that gets the fuzz bytes
 * as a string and raises when the module breaks its contract. A raise aborts, so libFuzzer keeps
 * the input; memory errors and undefined behaviour are caught by ASan/UBSan in the C code.
 *
 *   make fuzz FUZZ_TIME=600      # build/fuzz/fuzz_<name>, see the Makefile */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "../src/fb_compat.h"
#include "../src/fb_http.h"

#ifndef FUZZ_SCRIPT
#error "FUZZ_SCRIPT must name the Lua script (fuzz/<name>.lua)"
#endif

int luaopen_featurebase_core(lua_State *L);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static int check_ref;

/* fuzz_headers(raw) -> the table fb_http.c makes of raw header lines, as the transports see it. */
static int fuzz_headers(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    fb_conn_push_headers(L, s, n);
    return 1;
}

static void init(void) {
    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_featurebase_core);
    lua_setfield(L, -2, "featurebase.core");
    lua_pop(L, 2);
    lua_pushcfunction(L, fuzz_headers);
    lua_setglobal(L, "fuzz_headers");
    if (luaL_dofile(L, FUZZ_SCRIPT) != 0 || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: loading %s failed: %s\n", FUZZ_SCRIPT, lua_tostring(L, -1));
        abort();
    }
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) init();
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != 0) {
        fprintf(stderr, "fuzz: contract broken: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_gc(L, LUA_GCCOLLECT, 0); /* every input starts from the same heap: __gc paths run too */
    return 0;
}
