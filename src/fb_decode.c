#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "fb_decode.h"
#include "fb_error.h"

#define FB_CJSON_DECODE "featurebase.cjson.decode"
#define MAX_RAW_BODY 4096 /* how much of a non-JSON error body an error keeps */

/* JSON null (cjson.null, a NULL light userdata) becomes nil: object fields vanish, and arrays
 * close up so they stay sequences. cjson makes two kinds of table: arrays, a sequence 1..n of
 * non-nil values (a null is a light userdata), and objects, whose keys are all strings (so their
 * length is 0). An empty array is walked as an object with no keys. */
static void strip_nulls(lua_State *L, int t, int depth) {
    size_t n;
    /* cjson refuses deeper documents anyway. Each level holds a key and a value on the Lua stack,
     * which only guarantees LUA_MINSTACK slots: a deeply nested body overflowed it (found by fuzzing). */
    if (depth > 1000 || !lua_checkstack(L, 4)) return;
    t = fb_absindex(L, t);
    n = fb_rawlen(L, t);
    if (n > 0) {
        size_t i, j = 1;
        for (i = 1; i <= n; i++) {
            lua_rawgeti(L, t, (int)i);
            switch (lua_type(L, -1)) {
            case LUA_TLIGHTUSERDATA:
                if (lua_touserdata(L, -1) == NULL) { lua_pop(L, 1); continue; }
                break;
            case LUA_TTABLE: strip_nulls(L, -1, depth + 1); break;
            default: break;
            }
            if (i != j) lua_rawseti(L, t, (int)j);
            else lua_pop(L, 1);
            j++;
        }
        for (; j <= n; j++) {
            lua_pushnil(L);
            lua_rawseti(L, t, (int)j);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, t)) {
        switch (lua_type(L, -1)) {
        case LUA_TLIGHTUSERDATA:
            if (lua_touserdata(L, -1) == NULL) {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_pushnil(L);
                lua_rawset(L, t); /* clearing an existing field during traversal is allowed */
                continue;
            }
            break;
        case LUA_TTABLE: strip_nulls(L, -1, depth + 1); break;
        default: break;
        }
        lua_pop(L, 1);
    }
}

/* Removing JSON nulls from the text before cjson reads it, so that in the common case cjson builds
 * no null and nothing walks the decoded tree. A small scanner follows the structure of the text
 * (strings skipped 16 bytes at a time) and cuts each null array element and each `"key": null` member
 * with one comma: `[1,null,2]` -> `[1,2]`, `{"a":null,"b":1}` -> `{"b":1}`. Equivalence with
 * cjson.decode + strip_nulls on every input:
 * - a cut piece is always a whole, well-formed element (`, null`, `null ,`, `, "k" : null`,
 *   `"k" : null ,`) in a container the scanner has seen open, with cjson's own whitespace, so the
 *   shortened text decodes exactly when the original does, to the same tables without the nulls,
 *   at the same depths (only scalars go);
 * - anything the scanner does not follow (bad structure, a NUL byte, more than cjson's 1000 levels,
 *   text after the value) leaves the text alone: cjson reads the original and strip_nulls walks;
 * - a member whose key has an escape or appears earlier in its object (`{"a":1,"a":null}` must give
 *   no `a`) also leaves the text alone;
 * - when cjson refuses the shortened text, the original is decoded again for cjson's own message. */
#define FB_SCAN_DEPTH 1000 /* cjson's decode_max_depth */
#define FB_SCAN_KEYS 256   /* keys of the open objects the scanner remembers */

enum { SCAN_BAIL = -1, SCAN_KEEP = 0, SCAN_CUT = 1 };
enum { S_VALUE, S_FIRST_VALUE, S_KEY, S_FIRST_KEY, S_COLON, S_AFTER, S_DONE };

typedef struct {
    unsigned short keys_from; /* its first key in keys[] */
    unsigned char obj, kept, lost; /* an object; an element stays; a key did not fit in keys[] */
} scan_frame;

typedef struct {
    size_t at, len;
    int esc; /* has a backslash */
} scan_key;

typedef struct {
    lua_State *L;
    const char *s;
    size_t n, copied; /* s[0..copied) is dealt with: copied to out or cut */
    char *out;        /* the shortened text (a userdata on the stack), made at the first cut */
    size_t len;
} scan_text;

/* One past the closing quote of the JSON string whose opening quote is s[i], or 0 when it has none;
 * *esc says whether it holds a backslash. A backslash and the byte after it are skipped together,
 * as cjson does. 16 bytes at a time with SSE2 (every x86-64), else byte by byte. */
static size_t skip_string(const char *s, size_t n, size_t i, int *esc) {
    i++;
#ifdef __SSE2__
    {
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
        while (n - i >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                                  _mm_cmpeq_epi8(v, backslash)));
            if (!m) {
                i += 16;
                continue;
            }
            i += (size_t)__builtin_ctz(m);
            if (s[i] == '"') return i + 1;
            *esc = 1;
            i += 2;
            if (i > n) return 0;
        }
    }
#endif
    while (i < n) {
        if (s[i] == '"') return i + 1;
        if (s[i] == '\\') {
            *esc = 1;
            i += 2;
        } else i++;
    }
    return 0;
}

/* The shortened text is written into a userdata kept in the registry and reused while the answers
 * it has to hold stay under FB_SCRATCH_KEEP bytes: no new 100 KB block for each large answer. */
#define FB_SCRATCH "featurebase.decode_scratch"
#define FB_SCRATCH_KEEP (1024 * 1024)

static char *scratch(lua_State *L, size_t n) {
    void *p;
    lua_getfield(L, LUA_REGISTRYINDEX, FB_SCRATCH);
    if (lua_type(L, -1) == LUA_TUSERDATA && fb_rawlen(L, -1) >= n) return lua_touserdata(L, -1);
    lua_pop(L, 1);
    p = lua_newuserdata(L, n);
    if (n <= FB_SCRATCH_KEEP) {
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, FB_SCRATCH);
    }
    return p;
}

static void cut(scan_text *t, size_t from, size_t to) {
    if (!t->out) t->out = scratch(t->L, t->n);
    memcpy(t->out + t->len, t->s + t->copied, from - t->copied);
    t->len += from - t->copied;
    t->copied = to;
}

/* A null member may go when its key has no escape (nor NUL) and is not an earlier key of its object. */
static int member_may_go(const scan_frame *f, const scan_key *keys, size_t nkeys, const char *s, size_t *budget) {
    const scan_key *k = &keys[nkeys - 1];
    size_t j;
    if (f->lost || k->esc || memchr(s + k->at, '\0', k->len)) return 0;
    for (j = f->keys_from; j + 1 < nkeys; j++) {
        if (*budget == 0) return 0;
        (*budget)--;
        if (keys[j].esc || (keys[j].len == k->len && memcmp(s + keys[j].at, s + k->at, k->len) == 0)) return 0;
    }
    return 1;
}

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define ENDS_SCALAR(c) (IS_WS(c) || (c) == ',' || (c) == ']' || (c) == '}' || (c) == ':' || (c) == '"' \
                        || (c) == '[' || (c) == '{' || (c) == '\0')

/* Scans s[0..n): SCAN_CUT with the shortened text pushed (and the userdata under it), SCAN_KEEP
 * when no null has to go (nothing pushed), SCAN_BAIL when the walk is needed (nothing pushed). */
static int drop_nulls(lua_State *L, const char *s, size_t n) {
    scan_frame frames[FB_SCAN_DEPTH];
    scan_key keys[FB_SCAN_KEYS];
    scan_text t;
    size_t i = 0, nkeys = 0, budget = n + 1024, elem = 0, comma = 0, null_end = 0;
    int depth = 0, state = S_VALUE, pending = 0, base = lua_gettop(L);
    scan_frame *f = NULL;
    t.L = L, t.s = s, t.n = n, t.copied = 0, t.out = NULL, t.len = 0;
    for (;;) {
        char c;
        while (i < n && IS_WS(s[i])) i++;
        if (i == n) {
            if (state != S_DONE) goto bail;
            break;
        }
        c = s[i];
        switch (state) {
        case S_FIRST_KEY:
            if (c == '}') goto close;
            /* fallthrough */
        case S_KEY: {
            size_t j;
            int esc = 0;
            if (c != '"' || !(j = skip_string(s, n, i, &esc))) goto bail;
            if (nkeys < FB_SCAN_KEYS) {
                keys[nkeys].at = i + 1;
                keys[nkeys].len = j - i - 2;
                keys[nkeys].esc = esc;
                nkeys++;
            } else f->lost = 1;
            elem = i;
            i = j;
            if (i < n && s[i] == ':') { /* the usual `"key":` without spaces */
                i++;
                state = S_VALUE;
            } else state = S_COLON;
            break;
        }
        case S_COLON:
            if (c != ':') goto bail;
            i++;
            state = S_VALUE;
            break;
        case S_FIRST_VALUE:
            if (c == ']') goto close;
            /* fallthrough */
        case S_VALUE:
            if (f && !f->obj) elem = i;
            if (c == '{' || c == '[') {
                if (depth == FB_SCAN_DEPTH) goto bail;
                f = &frames[depth++];
                f->keys_from = (unsigned short)nkeys;
                f->obj = c == '{';
                f->kept = f->lost = 0;
                i++;
                state = f->obj ? S_FIRST_KEY : S_FIRST_VALUE;
                break;
            }
            if (c == '"') {
                int esc;
                if (!(i = skip_string(s, n, i, &esc))) goto bail;
            } else {
                size_t from = i;
                while (i < n && !ENDS_SCALAR(s[i])) i++;
                if (i == from) goto bail;
                if (f && i - from == 4 && memcmp(s + from, "null", 4) == 0) {
                    if (f->obj && !member_may_go(f, keys, nkeys, s, &budget)) goto bail;
                    pending = 1;
                    null_end = i;
                    state = S_AFTER;
                    break;
                }
            }
            goto value_done;
        case S_AFTER:
            if (c == ',') {
                if (pending) {
                    if (f->kept) cut(&t, comma, null_end); /* `, null` */
                    else cut(&t, elem, i + 1);            /* `null ,`: the next element comes first */
                    pending = 0;
                }
                comma = i++;
                state = f->obj ? S_KEY : S_VALUE;
                break;
            }
            if (c != (f->obj ? '}' : ']')) goto bail;
            if (pending) {
                if (f->kept) cut(&t, comma, null_end);
                else cut(&t, elem, null_end);
                pending = 0;
            }
            goto close;
        default: /* S_DONE: text after the value */
            goto bail;
        }
        continue;
    close:
        i++;
        nkeys = f->keys_from;
        depth--;
        f = depth ? &frames[depth - 1] : NULL;
    value_done:
        if (f) {
            f->kept = 1;
            state = S_AFTER;
        } else state = S_DONE;
    }
    if (!t.out) return SCAN_KEEP;
    cut(&t, n, n);
    lua_pushlstring(L, t.out, t.len);
    return SCAN_CUT;
bail:
    lua_settop(L, base);
    return SCAN_BAIL;
}

/* Decodes the JSON text s[0..n), which is also the Lua string at idx when idx is not 0: pushes the
 * value and returns 1, or pushes cjson's message and returns 0. cjson raises on bad input, so it
 * runs under pcall. */
static int json_decode(lua_State *L, const char *s, size_t n, int idx) {
    int base = lua_gettop(L), scan, ok;
    idx = idx ? fb_absindex(L, idx) : 0;
    scan = s ? drop_nulls(L, s, n) : SCAN_BAIL; /* not a string: cjson says so */
    lua_getfield(L, LUA_REGISTRYINDEX, FB_CJSON_DECODE);
    if (scan == SCAN_CUT) lua_pushvalue(L, -2);
    else if (idx) lua_pushvalue(L, idx);
    else lua_pushlstring(L, s, n);
    ok = lua_pcall(L, 1, 1, 0) == 0;
    if (!ok && scan == SCAN_CUT) { /* the original gives cjson's own message (or, if ever, a value) */
        lua_settop(L, base);
        lua_getfield(L, LUA_REGISTRYINDEX, FB_CJSON_DECODE);
        if (idx) lua_pushvalue(L, idx);
        else lua_pushlstring(L, s, n);
        ok = lua_pcall(L, 1, 1, 0) == 0;
        scan = SCAN_BAIL;
    }
    if (ok && scan == SCAN_BAIL && lua_istable(L, -1)) strip_nulls(L, -1, 0);
    if (lua_gettop(L) > base + 1) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
    }
    return ok;
}

/* The same, for other files of the core (webhook bodies). */
int fb_decode_json(lua_State *L, int idx) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return json_decode(L, s, n, idx);
}

static const char *status_text(lua_Integer status) {
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized (check the API key)";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 300 && status < 400 ? "Redirect (redirects are not followed)" : "Error";
    }
}

/* err.<name> = t.error.<name> when it is a string (or number, for status) */
static void copy_field(lua_State *L, int from, int err, const char *name, const char *as) {
    lua_getfield(L, from, name);
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) lua_setfield(L, err, as);
    else lua_pop(L, 1);
}

/* Pushes the decoded answer: 2xx with a JSON object -> the table (returns 1); 2xx otherwise -> nil,
 * "decode" error; anything else -> nil, "http" error with the status, headers (the table at index
 * headers, or nil), request id, decoded body and the server's message: {"error": {"type", "code",
 * "message", "param", "status"}}, or a flat {"message": ...} as some answers have. Returns 1 or 2. */
static int decode_push(lua_State *L, int status, int headers, const char *body, size_t n, int idx) {
    int ok, err, value, base = lua_gettop(L);
    headers = fb_absindex(L, headers);
    lua_pushnil(L); /* a slot for the result */
    ok = json_decode(L, body, n, idx);
    value = lua_gettop(L); /* the value, or cjson's message */

    if (status >= 200 && status < 300) {
        if (ok && lua_istable(L, value)) {
            lua_replace(L, base + 1);
            lua_settop(L, base + 1);
            return 1;
        }
        lua_pushnil(L);
        fb_error_push(L, "decode",
                      lua_pushfstring(L, "the server answered %d but the body is not a JSON object%s%s",
                                      status, ok ? "" : ": ", ok ? "" : lua_tostring(L, value)));
        lua_remove(L, -2);
    } else {
        const char *msg = NULL;
        if (ok && lua_istable(L, value)) {
            lua_getfield(L, value, "error");
            if (lua_istable(L, -1)) lua_getfield(L, -1, "message");
            else lua_getfield(L, value, "message"); /* the flat shape */
            if (lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1); /* stays on the stack */
        }
        if (!msg) msg = lua_pushfstring(L, "the server answered %d %s", status, status_text(status));
        fb_error_push(L, "http", msg);
    }
    err = lua_gettop(L);
    lua_pushinteger(L, status);
    lua_setfield(L, err, "status");
    lua_pushvalue(L, headers);
    lua_setfield(L, err, "headers");
    if (lua_istable(L, headers)) {
        lua_getfield(L, headers, "x-request-id");
        if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_getfield(L, headers, "request-id"); }
        lua_setfield(L, err, "request_id");
    }
    if (ok && lua_istable(L, value)) {
        lua_getfield(L, value, "error");
        if (lua_istable(L, -1)) {
            int e = lua_gettop(L);
            copy_field(L, e, err, "type", "error_type");
            copy_field(L, e, err, "code", "code");
            copy_field(L, e, err, "param", "param");
        } else {
            copy_field(L, value, err, "code", "code"); /* flat: {"code": 400, "message": ...} */
        }
        lua_pop(L, 1);
        lua_pushvalue(L, value);
    } else {
        lua_pushlstring(L, body, n > MAX_RAW_BODY ? MAX_RAW_BODY : n);
    }
    lua_setfield(L, err, "body");
    lua_pushnil(L);
    lua_pushvalue(L, err);
    lua_replace(L, base + 2);
    lua_replace(L, base + 1);
    lua_settop(L, base + 2);
    return 2;
}

int fb_decode_push(lua_State *L, int status, int headers, const char *body, size_t n) {
    return decode_push(L, status, headers, body, n, 0);
}

/* core.decode(response) -> value | nil, err, where response is {status=, headers=, body=} as a
 * Lua transport (OpenResty's cosockets) produces it; the libcurl transports decode in C. */
static int fb_decode_decode(lua_State *L) {
    size_t n;
    const char *body;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "status");  /* 2 */
    lua_getfield(L, 1, "headers"); /* 3 */
    lua_getfield(L, 1, "body");    /* 4 */
    luaL_argcheck(L, lua_type(L, 2) == LUA_TNUMBER, 1, "response.status must be a number");
    luaL_argcheck(L, lua_type(L, 4) == LUA_TSTRING, 1, "response.body must be a string");
    /* range first: converting NaN or 1e300 to an integer is undefined behaviour (found by fuzzing) */
    luaL_argcheck(L, lua_tonumber(L, 2) >= 0 && lua_tonumber(L, 2) <= 999 && lua_tonumber(L, 2) == floor(lua_tonumber(L, 2)),
                  1, "response.status must be a whole number from 0 to 999");
    body = lua_tolstring(L, 4, &n);
    return decode_push(L, (int)lua_tonumber(L, 2), 3, body, n, 4);
}

void fb_decode_init(lua_State *L) {
    /* A private cjson instance: the user's own cjson settings never change how we decode. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson");
    if (lua_pcall(L, 1, 1, 0) != 0)
        luaL_error(L, "featurebase.core needs lua-cjson (apt-get install lua-cjson): %s", lua_tostring(L, -1));
    lua_getfield(L, -1, "new");
    if (lua_isfunction(L, -1)) {
        lua_call(L, 0, 1);
        lua_remove(L, -2);
    } else lua_pop(L, 1);
    lua_getfield(L, -1, "decode");
    lua_setfield(L, LUA_REGISTRYINDEX, FB_CJSON_DECODE);
    lua_pop(L, 1);
    lua_pushcfunction(L, fb_decode_decode);
    lua_setfield(L, -2, "decode");
}
