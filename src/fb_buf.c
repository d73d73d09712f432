#include <stdlib.h>
#include <string.h>
#include "fb_buf.h"

#define FB_SCRATCH "featurebase.scratch"

int fb_buf_grow_add(fb_buf *b, const void *p, size_t n) {
    size_t cap = b->cap ? b->cap : 256;
    char *d;
    while (n > cap - b->len) {
        if (cap > ((size_t)-1) / 2) return 0;
        cap *= 2;
    }
    d = realloc(b->data, cap);
    if (!d) return 0;
    b->data = d;
    b->cap = cap;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

void fb_buf_free(fb_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* 1 for the bytes a JSON string cannot hold as they are: controls, '"', '\\' and DEL */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, ['\\'] = 1, [0x7f] = 1,
};

int fb_buf_json_string(fb_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0; /* bytes since the last escape, copied in one go */
    if (!fb_buf_add(b, "\"", 1)) return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t elen = 2;
        if (!needs_escape[c]) continue;
        if (!fb_buf_add(b, s + run, i - run)) return 0;
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            elen = 6;
        }
        if (!fb_buf_add(b, esc, elen)) return 0;
    }
    return fb_buf_add(b, s + run, n - run) && fb_buf_add(b, "\"", 1);
}

static int fb_buf_gc(lua_State *L) {
    fb_buf_free((fb_buf *)lua_touserdata(L, 1));
    return 0;
}

fb_buf *fb_buf_scratch(lua_State *L) {
    fb_buf *b;
    lua_getfield(L, LUA_REGISTRYINDEX, FB_SCRATCH);
    b = (fb_buf *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    b->len = 0;
    return b;
}

void fb_buf_init(lua_State *L) {
    fb_buf *b = (fb_buf *)lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    lua_newtable(L);
    lua_pushcfunction(L, fb_buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, FB_SCRATCH);
}
