/* core.base64(s): standard base64 (RFC 4648, with padding) for data URIs. In C because images of
 * several megabytes would be slow to encode byte by byte in Lua 5.1. */
#include "fb_base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int fb_base64_encode(lua_State *L) {
    size_t n, i, o = 0, out_len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    char *out;
    if (n > ((size_t)-1 / 4) * 3 - 3) return luaL_argerror(L, 1, "string too long to encode");
    out_len = (n + 2) / 3 * 4;
    /* scratch as userdata: collected even if pushing the result raises (out of memory) */
    out = (char *)lua_newuserdata(L, out_len ? out_len : 1);
    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = ((unsigned long)s[i] << 16) | ((unsigned long)s[i + 1] << 8) | s[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < n) { /* one or two bytes left: pad to a full quantum */
        unsigned long v = (unsigned long)s[i] << 16;
        if (i + 1 < n) v |= (unsigned long)s[i + 1] << 8;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    lua_pushlstring(L, out, o);
    return 1;
}

void fb_base64_init(lua_State *L) {
    lua_pushcfunction(L, fb_base64_encode);
    lua_setfield(L, -2, "base64");
}
