#include <math.h>
#include <string.h>
#include <time.h>
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

/* Decodes the JSON text s[0..n), which is also the Lua string at idx when idx is not 0 (no second
 * copy then): pushes the value and returns 1, or pushes cjson's message and returns 0. cjson
 * raises on bad input, so it runs under pcall. */
static int json_decode(lua_State *L, const char *s, size_t n, int idx) {
    idx = idx ? fb_absindex(L, idx) : 0;
    lua_getfield(L, LUA_REGISTRYINDEX, FB_CJSON_DECODE);
    if (idx) lua_pushvalue(L, idx);
    else lua_pushlstring(L, s, n);
    if (lua_pcall(L, 1, 1, 0) != 0) return 0;
    if (lua_istable(L, -1)) strip_nulls(L, -1, 0);
    return 1;
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

/* A header's whole number (0 to 2^53) at the top of the stack, else -1; pops it. */
static double header_number(lua_State *L) {
    size_t n;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL, *end;
    double x = 0;
    int digits = 0;
    if (s) {
        end = s + n;
        while (s < end && (*s == ' ' || *s == '\t')) s++;
        for (; s < end && *s >= '0' && *s <= '9' && digits < 16; s++, digits++) x = x * 10 + (*s - '0');
        while (s < end && (*s == ' ' || *s == '\t')) s++;
        if (s != end || digits == 0) x = -1;
    } else x = -1;
    lua_pop(L, 1);
    return x;
}

static void set_number(lua_State *L, int t, const char *name, double x) {
    if (x < 0) return;
    lua_pushinteger(L, (lua_Integer)x); /* whole numbers: an integer on Lua 5.3+, as tonumber gives */
    lua_setfield(L, t, name);
}

/* What every answer says about the exchange, read from the table at index headers into the table
 * at index t: request_id, and rate_limit = {limit=, remaining=, reset=} (X-RateLimit-*; a reset of
 * 10^9 or less counts seconds from now, a larger one is a Unix time: common.md leaves it open). */
void fb_decode_info(lua_State *L, int t, int headers) {
    double reset;
    t = fb_absindex(L, t);
    headers = fb_absindex(L, headers);
    if (!lua_istable(L, headers)) return;
    lua_getfield(L, headers, "x-request-id");
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_getfield(L, headers, "request-id"); }
    lua_setfield(L, t, "request_id");
    lua_createtable(L, 0, 3);
    lua_getfield(L, headers, "x-ratelimit-limit");
    set_number(L, -2, "limit", header_number(L));
    lua_getfield(L, headers, "x-ratelimit-remaining");
    set_number(L, -2, "remaining", header_number(L));
    lua_getfield(L, headers, "x-ratelimit-reset");
    reset = header_number(L);
    set_number(L, -2, "reset", reset >= 0 && reset <= 1e9 ? (double)time(NULL) + reset : reset);
    lua_setfield(L, t, "rate_limit");
}

/* Pushes the decoded answer: 2xx with a JSON object -> the table (returns 1); 2xx otherwise -> nil,
 * "decode" error; anything else -> nil, "http" error with the status, the headers, request_id and
 * rate_limit of the response table at index res (fb_decode_info has read them), the decoded body and
 * the server's message: {"error": {"type", "code", "message", "param", "status"}}, or a flat
 * {"message": ...} as some answers have. Returns 1 or 2. */
static int decode_push(lua_State *L, int status, int res, const char *body, size_t n, int idx) {
    static const char *const from_response[] = {"headers", "request_id", "rate_limit", NULL};
    int i, ok, err, value, base = lua_gettop(L);
    res = fb_absindex(L, res);
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
    for (i = 0; from_response[i]; i++) {
        lua_getfield(L, res, from_response[i]);
        lua_setfield(L, err, from_response[i]);
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

int fb_decode_push(lua_State *L, int status, int res, const char *body, size_t n) {
    return decode_push(L, status, res, body, n, 0);
}

/* core.decode(response) -> value | nil, err, where response is {status=, headers=, body=} as a
 * Lua transport (OpenResty's cosockets) produces it; the libcurl transports decode in C. Sets
 * response.request_id and response.rate_limit, as those transports' responses have them. */
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
    fb_decode_info(L, 1, 3); /* the response as the pipeline hands it on, like the C transports' */
    return decode_push(L, (int)lua_tonumber(L, 2), 1, body, n, 4);
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
