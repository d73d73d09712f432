#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fb_client.h"
#include "fb_error.h"
#include "fb_rules.h"
#include "fb_validate.h"

#ifndef FB_VERSION
#define FB_VERSION "0.1.0"
#endif

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L

static const char *const option_keys[] = {"api_key", "base_url", "version", "timeout", "connect_timeout",
                                          "allow_insecure_http", NULL};

fb_client *fb_client_check(lua_State *L, int i) {
    fb_client *c = (fb_client *)luaL_checkudata(L, i, FB_CLIENT_MT);
    if (!c->conn.easy) luaL_error(L, "featurebase: the client is closed");
    return c;
}

/* close, __gc and __close: one idempotent function. */
static int fb_client_close(lua_State *L) {
    fb_client *c = (fb_client *)luaL_checkudata(L, 1, FB_CLIENT_MT);
    fb_conn_close(&c->conn);
    if (c->headers) curl_slist_free_all(c->headers);
    c->headers = NULL;
    free(c->base_url);
    c->base_url = NULL;
    return 0;
}

static int fb_client_tostring(lua_State *L) {
    fb_client *c = (fb_client *)luaL_checkudata(L, 1, FB_CLIENT_MT);
    lua_pushfstring(L, "featurebase.Client (%s)", c->base_url ? c->base_url : "closed");
    return 1;
}

/* Returns nil, err naming the option; used for every bad client option. */
static int option_error(lua_State *L, const char *field, const char *msg) {
    fb_error_return(L, "invalid_request", lua_pushfstring(L, "%s %s", field, msg));
    lua_remove(L, -3);
    fb_error_setfield(L, "field", field);
    return 2;
}

/* http:// carries the key in clear text: only to this machine unless the caller says so. The host
 * must be exactly localhost, [::1] or 127.x.y.z, then a port, a path or nothing: a prefix test let
 * "http://127.0.0.1.evil.com" and "http://[::1]x" through (found by fuzzing). */
static int is_loopback_url(const char *url) {
    const char *host = url + 7, *p; /* after "http://" */
    size_t n = host[0] == '[' ? (strncmp(host, "[::1]", 5) == 0 ? 5 : 0) : strcspn(host, ":/?#");
    int dots = 0;
    if (n == 0 || (host[n] != '\0' && host[n] != ':' && host[n] != '/')) return 0;
    if (host[0] == '[' || (n == 9 && strncmp(host, "localhost", 9) == 0)) return 1;
    if (strncmp(host, "127.", 4) != 0 || host[n - 1] == '.') return 0;
    for (p = host; p < host + n; p++) {
        if (*p == '.' && p[-1] != '.') dots++;
        else if (*p < '0' || *p > '9') return 0;
    }
    return dots == 3;
}

static const char *check_base_url(const char *s, size_t n) {
    const char *host;
    if (n >= 7 && strncmp(s, "http://", 7) == 0) host = s + 7;
    else if (n >= 8 && strncmp(s, "https://", 8) == 0) host = s + 8;
    else return "must start with https:// (or http://)";
    if (fb_validate_header_value(s, n) || memchr(s, ' ', n)) return "must not contain spaces or control characters";
    if (*host == '\0' || *host == '/') return "must name a host";
    if (memchr(host, '@', n - (size_t)(host - s))) return "must not carry credentials (user:pass@); use api_key";
    if (strpbrk(host, "?#")) return "must not have a query or fragment";
    return NULL;
}

/* Reads a positive, finite number of seconds into milliseconds. */
static int seconds_option(lua_State *L, int opts, const char *name, long *ms) {
    lua_Number v;
    lua_getfield(L, opts, name);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return 1; }
    if (lua_type(L, -1) != LUA_TNUMBER) return 0;
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v > 0 && v <= 86400)) return 0; /* also refuses NaN */
    *ms = (long)ceil(v * 1000);
    return 1;
}

/* core.new{api_key=, base_url=, version=, timeout=, connect_timeout=, allow_insecure_http=}
 * -> client | nil, err. Everything is checked before curl is touched. */
static int fb_client_new(lua_State *L) {
    const char *key, *url, *version, *why;
    size_t keylen, urllen, vlen;
    long timeout_ms = DEFAULT_TIMEOUT_MS, connect_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    fb_client *c;
    curl_version_info_data *cv;
    int i;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);

    lua_pushnil(L);
    while (lua_next(L, 1)) {
        size_t klen = 0;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;
        lua_pop(L, 1);
        /* whole-length match: strcmp let "api_key\0x" pass as api_key, unread (found by fuzzing) */
        for (i = 0; option_keys[i]; i++)
            if (k && strlen(option_keys[i]) == klen && memcmp(k, option_keys[i], klen) == 0) break;
        if (!option_keys[i]) {
            /* the key's bytes, made printable: an error is one line (empty and \n keys found by fuzzing) */
            char shown[64];
            const char *name = k ? fb_validate_printable(k, klen, shown, sizeof shown) : "(a non-string key)";
            return option_error(L, name, "is not a known client option (api_key, base_url, version, timeout, "
                                         "connect_timeout, allow_insecure_http)");
        }
    }

    lua_getfield(L, 1, "api_key");
    if (lua_type(L, -1) != LUA_TSTRING)
        return option_error(L, "api_key", "is required: pass api_key or set FEATUREBASE_API_KEY");
    key = lua_tolstring(L, -1, &keylen);
    if ((why = fb_validate_header_value(key, keylen)) || memchr(key, ' ', keylen))
        return option_error(L, "api_key", why ? why : "must not contain spaces");

    lua_getfield(L, 1, "base_url");
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushliteral(L, FB_DEFAULT_BASE_URL); }
    if (lua_type(L, -1) != LUA_TSTRING) return option_error(L, "base_url", "must be a string");
    url = lua_tolstring(L, -1, &urllen);
    if ((why = check_base_url(url, urllen))) return option_error(L, "base_url", why);
    lua_getfield(L, 1, "allow_insecure_http");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) return option_error(L, "allow_insecure_http", "must be a boolean");
    if (strncmp(url, "http://", 7) == 0 && !is_loopback_url(url) && !lua_toboolean(L, -1))
        return option_error(L, "base_url", "is plain http to a host other than this machine: the API key would "
                                           "travel in clear text (set allow_insecure_http = true to allow it)");
    lua_pop(L, 1);
    while (urllen > 0 && url[urllen - 1] == '/') urllen--;

    lua_getfield(L, 1, "version");
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushliteral(L, FB_DEFAULT_VERSION); }
    if (lua_type(L, -1) != LUA_TSTRING) return option_error(L, "version", "must be a string such as " FB_DEFAULT_VERSION);
    version = lua_tolstring(L, -1, &vlen);
    if ((why = fb_validate_version(version, vlen))) return option_error(L, "version", why);

    if (!seconds_option(L, 1, "timeout", &timeout_ms))
        return option_error(L, "timeout", "must be a number of seconds greater than 0");
    if (!seconds_option(L, 1, "connect_timeout", &connect_ms))
        return option_error(L, "connect_timeout", "must be a number of seconds greater than 0");
    if (connect_ms > timeout_ms) connect_ms = timeout_ms;

    /* The userdata exists (zeroed, with __gc) before any resource is attached to it. */
    c = (fb_client *)lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    luaL_getmetatable(L, FB_CLIENT_MT);
    lua_setmetatable(L, -2);
    c->timeout_ms = timeout_ms;
    c->connect_timeout_ms = connect_ms;

    c->base_url = (char *)malloc(urllen + 1);
    if (!c->base_url) return luaL_error(L, "featurebase: not enough memory");
    memcpy(c->base_url, url, urllen);
    c->base_url[urllen] = '\0';

    cv = curl_version_info(CURLVERSION_NOW);
    lua_getglobal(L, "jit"); /* LuaJIT names itself in jit.version, the others in _VERSION */
    if (lua_istable(L, -1)) lua_getfield(L, -1, "version");
    else lua_getglobal(L, "_VERSION");
    {
        struct curl_slist *h = NULL;
        const char *runtime = lua_tostring(L, -1), *lines[6];
        lines[0] = lua_pushfstring(L, "Authorization: Bearer %s", key);
        lines[1] = "Content-Type: application/json";
        lines[2] = "Accept: application/json";
        lines[3] = lua_pushfstring(L, "Featurebase-Version: %s", version);
        lines[4] = lua_pushfstring(L, "User-Agent: featurebase-lua/%s (%s; libcurl/%s)", FB_VERSION,
                                   runtime ? runtime : "Lua", cv->version);
        lines[5] = "Expect:"; /* no 100-continue round trip before larger bodies */
        for (i = 0; i < 6; i++) {
            struct curl_slist *next = curl_slist_append(h, lines[i]);
            if (!next) { curl_slist_free_all(h); h = NULL; break; }
            h = next;
        }
        c->headers = h;
        lua_pop(L, 3);
    }
    lua_pop(L, 2);
    if (!c->headers || !fb_conn_open(&c->conn, c->headers, c->connect_timeout_ms))
        return luaL_error(L, "featurebase: could not set up libcurl (out of memory)");
    return 1;
}

/* client:perform(path, body [, timeout_seconds]) -> {status=, headers=, body=} | nil, err.
 * Blocking: the Lua state is not touched between prepare and the result. */
static int fb_client_perform(lua_State *L) {
    fb_client *c = fb_client_check(L, 1);
    size_t plen, blen;
    const char *path = luaL_checklstring(L, 2, &plen);
    const char *body = luaL_checklstring(L, 3, &blen);
    long timeout_ms = c->timeout_ms;
    CURLcode rc;
    if (!lua_isnoneornil(L, 4)) {
        lua_Number t = luaL_checknumber(L, 4);
        luaL_argcheck(L, t > 0 && t <= 86400, 4, "timeout must be a number of seconds greater than 0");
        timeout_ms = (long)ceil(t * 1000);
    }
    luaL_argcheck(L, plen > 0 && path[0] == '/', 2, "path must start with '/'");
    if (!fb_conn_prepare(&c->conn, c->base_url, path, body, blen, timeout_ms))
        return luaL_error(L, "featurebase: not enough memory for the request");
    rc = curl_easy_perform(c->conn.easy);
    return fb_conn_push_result(L, &c->conn, rc);
}

void fb_client_init(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"perform", fb_client_perform},
        {"close", fb_client_close},
        {"__gc", fb_client_close},
        {"__close", fb_client_close},
        {"__tostring", fb_client_tostring},
        {NULL, NULL}};
    luaL_newmetatable(L, FB_CLIENT_MT);
    fb_setfuncs(L, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, fb_client_new);
    lua_setfield(L, -2, "new");
}
