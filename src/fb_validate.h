/* Request validation and JSON encoding: every rule of the docs is checked here, before anything
 * is sent, and the body is written in the same pass. */
#ifndef FB_VALIDATE_H
#define FB_VALIDATE_H

#include "fb_compat.h"

/* Default request body limit. The answer echoes bodyMarkdown up to four times (source and first
 * part, as markdown and as HTML), so a request must stay well under a quarter of the response
 * limit (16 MiB) for its answer to be readable; 1 MiB is far above any chat message and still
 * holds an inline base64 image of ~700 KB. A runaway (a file pasted in) fails before any upload. */
#define FB_DEFAULT_MAX_REQUEST (1024u * 1024)

/* Adds encode_create, encode_reply and rules to the module table at the top of the stack. */
void fb_validate_init(lua_State *L);

/* Checks a string meant for an HTTP header value: non-empty, no control characters.
 * Returns NULL when fine, else a reason ("contains a control character"). */
const char *fb_validate_header_value(const char *s, size_t n);

/* A table key as a one-line field name for errors: non-printable bytes become '?', an empty key
 * is shown as "", at most size - 1 bytes are kept. Returns buf or a literal. */
const char *fb_validate_printable(const char *s, size_t n, char *buf, size_t size);

/* Version "YYYY-MM-DD.name" dated at least FB_MIN_VERSION: NULL when fine, else a reason. */
const char *fb_validate_version(const char *s, size_t n);

#endif
