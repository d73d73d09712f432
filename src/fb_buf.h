/* A growable byte buffer whose memory is owned by a GC-managed object (a client, or the module's
 * scratch userdata), so a Lua error raised while it is in use never leaks it (LPeg's lpvm.c idea). */
#ifndef FB_BUF_H
#define FB_BUF_H

#include <stddef.h>
#include <string.h>
#include "fb_compat.h"

typedef struct fb_buf {
    char *data;
    size_t len, cap;
} fb_buf;

/* Grows b to hold n more bytes, then appends them; 0 when memory runs out. */
int fb_buf_grow_add(fb_buf *b, const void *p, size_t n);

/* Appends; returns 0 when memory runs out (the caller reports it, no Lua call here). Inline: a
 * request body is written a few bytes at a time, and the call cost more than the copy. */
static inline int fb_buf_add(fb_buf *b, const void *p, size_t n) {
    if (n > b->cap - b->len) return fb_buf_grow_add(b, p, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

static inline int fb_buf_addstr(fb_buf *b, const char *s) { return fb_buf_add(b, s, strlen(s)); }
void fb_buf_free(fb_buf *b);

/* JSON: a string literal with escapes (the input is already checked to be valid UTF-8). */
int fb_buf_json_string(fb_buf *b, const char *s, size_t n);

/* The module's scratch buffer for request bodies: a userdata in the registry, emptied, never shrunk. */
fb_buf *fb_buf_scratch(lua_State *L);
void fb_buf_init(lua_State *L);

#endif
