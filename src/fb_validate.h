/* Request validation and encoding: a walk over the API's description (fb_api.h) that checks every
 * rule before anything is sent and writes the JSON body (or the query string) in the same pass. */
#ifndef FB_VALIDATE_H
#define FB_VALIDATE_H

#include "fb_api.h"
#include "fb_buf.h"

/* Default request body limit. The answer echoes bodyMarkdown up to four times (source and first
 * part, as markdown and as HTML), so a request must stay well under a quarter of the response
 * limit (16 MiB) for its answer to be readable; 1 MiB is far above any chat message and still
 * holds an inline base64 image of ~700 KB. A runaway (a file pasted in) fails before any upload. */
#define FB_DEFAULT_MAX_REQUEST (1024u * 1024)

/* The state of one validation: the Lua state, what is being written, and the first failure. */
typedef struct vctx {
    lua_State *L;
    fb_buf *out;
    size_t limit; /* max_request_size: the body may not grow past it */
    int query;    /* writing a query string (k=v&...) instead of JSON */
    size_t qstart; /* where the query's first key goes */
    int oom;
    char field[128];
    char msg[384];
} vctx;

/* Validates and encodes one call of ep: params at index p (or none), the path arguments at
 * args, args + 1, ... Pushes method, path, body|nil, safe and returns 4, or nil, err and returns 2. */
int fb_validate_request(lua_State *L, const fb_endpoint *ep, int p, int args, size_t limit);

/* For the schemas' cross-field rules (fb_api.c). */
int fb_fail(vctx *c, const char *field, const char *fmt, ...);
/* t[name] as a string (raw access), or NULL when it is absent or not a string. */
const char *fb_field_string(vctx *c, int t, const char *name);
/* Whether t[name] is present (featurebase.null counts), raw access. */
int fb_field_present(vctx *c, int t, const char *name);
/* Whether t[name] is featurebase.null. */
int fb_field_null(vctx *c, int t, const char *name);
/* Appends "key":"value" to the JSON object being written. */
int fb_emit_field(vctx *c, const char *key, const char *s, size_t n);
/* Seconds since 1970 of an RFC 3339 timestamp checked by the validator (or a Lua time). */
double fb_timestamp_seconds(lua_State *L, int i);

/* Checks a string meant for an HTTP header value: non-empty, no control characters.
 * Returns NULL when fine, else a reason ("contains a control character"). */
const char *fb_validate_header_value(const char *s, size_t n);

/* A table key as a one-line field name for errors: non-printable bytes become '?', an empty key
 * is shown as "", at most size - 1 bytes are kept. Returns buf or a literal. */
const char *fb_validate_printable(const char *s, size_t n, char *buf, size_t size);

/* Version "YYYY-MM-DD.name" dated at least FB_MIN_VERSION: NULL when fine, else a reason. */
const char *fb_validate_version(const char *s, size_t n);

#endif
