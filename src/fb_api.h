/* The API, described once: every endpoint (method, path and its parameters, body or query, whether it
 * is safe to repeat) and every request object as a schema of fields. The validator walks these
 * tables (fb_validate.c), core.encode builds requests from them, and core.api hands them to the Lua
 * layer, which makes the client's methods (blocking, async, Neovim, OpenResty) and their docs.
 * The tables themselves are in fb_api.c; the contract is ../shared/api/. */
#ifndef FB_API_H
#define FB_API_H

#include "fb_compat.h"

typedef enum fb_kind {
    FB_STRING,    /* UTF-8 text, no NUL; min/max: length in code points */
    FB_BOOLEAN,
    FB_NUMBER,    /* finite; min/max: value */
    FB_INTEGER,   /* whole; min/max: value */
    FB_ENUM,      /* one of sub (const char *const *, NULL-terminated) */
    FB_OBJECTID,  /* 24 hex digits */
    FB_SHORTID,   /* conversation and part ids: 1-16 letters and digits */
    FB_EMAIL,     /* an address by the usual `format: email` reading; max: bytes */
    FB_TIMESTAMP, /* RFC 3339 date-time, or a Lua time (number) sent as ISO 8601 */
    FB_URI,       /* an absolute http(s) URL; max: bytes */
    FB_OBJECT,    /* a table checked against sub (const fb_schema *) */
    FB_ARRAY,     /* a sequence of sub (const fb_field *, the item); min/max: item count */
    FB_JSON,      /* a map of string keys to any JSON value (featurebase.null included) */
    FB_PRIMITIVES /* a map of string keys to primitives or arrays of primitives */
} fb_kind;

#define FB_REQUIRED 1 /* must be present */
#define FB_NULLABLE 2 /* featurebase.null sends JSON null (to unassign, to clear) */
#define FB_CSV 4      /* query: a string, or an array of them sent as one comma-joined value */

typedef struct fb_field {
    const char *name;
    fb_kind kind;
    int flags;
    double min, max; /* as the kind says; max 0: no limit */
    const void *sub;
    const char *doc; /* one line, for messages ("is required: ...") and generated docs */
} fb_field;

struct vctx;

typedef struct fb_schema {
    const char *type;      /* the LuaLS class documenting it, e.g. "featurebase.UpdateConversationParams" */
    const fb_field *fields; /* {NULL}-terminated; also the only keys allowed */
    /* rules across fields, run after every field passed; 0 (and c->msg set) on failure */
    int (*rule)(struct vctx *c, int t, const char *path);
} fb_schema;

typedef enum fb_params { FB_NO_PARAMS, FB_PARAMS_OPTIONAL, FB_PARAMS_REQUIRED } fb_params;

typedef struct fb_endpoint {
    const char *name;         /* the client's method, e.g. "update_conversation" */
    const char *method;       /* GET, POST, PATCH or DELETE */
    const char *path;         /* with {arg} for each path argument, in order */
    const fb_field *args;     /* the path arguments, {NULL}-terminated */
    const fb_schema *body;    /* the JSON body, or NULL */
    const fb_schema *query;   /* the query string, or NULL */
    fb_params params;         /* whether the method takes params (body or query) */
    int safe;                 /* repeating it cannot do harm twice (common.md "Idempotency") */
    const char *deleted;      /* a DELETE answering {id, object, deleted}: that object's name */
    const char *returns;      /* the LuaLS type of the result */
    const char *doc;          /* one line */
} fb_endpoint;

extern const fb_endpoint fb_endpoints[];

/* The endpoint named name (len bytes), or NULL. */
const fb_endpoint *fb_api_find(const char *name, size_t len);

/* Adds core.encode, core.api, core.null and core.rules to the module table at the top of the stack. */
void fb_api_init(lua_State *L);

#endif
