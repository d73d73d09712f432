#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fb_client.h"
#include "fb_error.h"
#include "fb_net.h"
#include "fb_rules.h"
#include "fb_validate.h"
#include "fb_version.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define MAX_KEY_LEN 1024      /* real keys are a few dozen characters; this only stops absurd input */
#define MAX_URL_LEN 2048
#define MAX_BYTES_OPTION (1024.0 * 1024 * 1024) /* max_response_size: at most 1 GiB */

/* The C-checked options: lua/featurebase/options.lua describes each one with layer "core". */
static const char *const option_keys[] = {"api_key", "base_url", "version", "timeout", "connect_timeout",
                                          "allow_insecure_http", "stall_timeout", "max_response_size",
                                          "ca_file", "ca_path", "proxy", "no_proxy", NULL};

fb_client *fb_client_check(lua_State *L, int i) {
    fb_client *c = (fb_client *)luaL_checkudata(L, i, FB_CLIENT_MT);
    if (!c->conn.easy) luaL_error(L, "featurebase: the client is closed");
    return c;
}

/* close, __gc and __close: one idempotent function. */
static int fb_client_close(lua_State *L) {
    fb_client *c = (fb_client *)luaL_checkudata(L, 1, FB_CLIENT_MT);
    fb_conn_close(&c->conn);
    fb_net_free(&c->net);
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

static int is_ascii_printable(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
    return 1;
}

static const char *check_base_url(const char *s, size_t n) {
    const char *host;
    if (n >= 7 && strncmp(s, "http://", 7) == 0) host = s + 7;
    else if (n >= 8 && strncmp(s, "https://", 8) == 0) host = s + 8;
    else return "must start with https:// (or http://)";
    if (n > MAX_URL_LEN) return "is too long (at most 2048 characters)";
    if (fb_validate_header_value(s, n) || memchr(s, ' ', n)) return "must not contain spaces or control characters";
    if (!is_ascii_printable(s, n)) return "must be ASCII (write an international host name in punycode)";
    if (*host == '\0' || *host == '/') return "must name a host";
    if (memchr(host, '@', n - (size_t)(host - s))) return "must not carry credentials (user:pass@); use api_key";
    if (strpbrk(host, "?#")) return "must not have a query or fragment";
    return NULL;
}

/* opts[name] when it is a number in [min, max] (whole if asked; NaN never is), left in *v; nil
 * leaves *v as it was. Returns 0 for anything else. */
static int number_option(lua_State *L, int opts, const char *name, lua_Number min, lua_Number max, int whole,
                         lua_Number *v) {
    lua_Number x;
    int type;
    lua_getfield(L, opts, name);
    type = lua_type(L, -1);
    x = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (type == LUA_TNIL) return 1;
    if (type != LUA_TNUMBER || !(x >= min && x <= max) || (whole && x != floor(x))) return 0;
    *v = x;
    return 1;
}

/* Seconds (0, 1 day] into milliseconds. */
static int seconds_option(lua_State *L, int opts, const char *name, long *ms) {
    lua_Number v = -1; /* stays -1 when the option is absent */
    if (!number_option(L, opts, name, 0, 86400, 0, &v) || v == 0) return 0;
    if (v > 0) *ms = (long)ceil(v * 1000);
    return 1;
}

/* core.new{api_key=, base_url=, version=, timeout=, connect_timeout=, allow_insecure_http=,
 * stall_timeout=, max_response_size=, ca_file=, ca_path=, proxy=, no_proxy=} -> client | nil, err. Everything is checked before curl is touched. */
static int fb_client_new(lua_State *L) {
    const char *key, *url, *version, *why, *bad;
    size_t keylen, urllen, vlen, max_response;
    lua_Number max_bytes = (lua_Number)FB_DEFAULT_MAX_RESPONSE; /* absent: the default */
    long timeout_ms = DEFAULT_TIMEOUT_MS, connect_ms = DEFAULT_CONNECT_TIMEOUT_MS, stall_ms = FB_DEFAULT_STALL_MS;
    fb_client *c;
    curl_version_info_data *cv;
    int i, allow_insecure;
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
            /* featurebase.new refuses unknown names first, naming every option (options.lua): this
             * is core.new's own list, the one above */
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            luaL_addstring(&b, "is not a known option of the C core (");
            for (i = 0; option_keys[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, option_keys[i]);
            }
            luaL_addstring(&b, ")");
            luaL_pushresult(&b);
            return option_error(L, name, lua_tostring(L, -1));
        }
    }

    lua_getfield(L, 1, "api_key");
    if (lua_isnil(L, -1)) return option_error(L, "api_key", "is required: pass api_key or set FEATUREBASE_API_KEY");
    if (lua_type(L, -1) != LUA_TSTRING)
        return option_error(L, "api_key", lua_pushfstring(L, "must be a string, got %s", luaL_typename(L, -1)));
    key = lua_tolstring(L, -1, &keylen);
    if ((why = fb_validate_header_value(key, keylen)) || memchr(key, ' ', keylen))
        return option_error(L, "api_key", why ? why : "must not contain spaces");
    if (keylen > MAX_KEY_LEN) return option_error(L, "api_key", "is too long (at most 1024 characters)");
    if (!is_ascii_printable(key, keylen)) return option_error(L, "api_key", "must be printable ASCII");

    lua_getfield(L, 1, "base_url");
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushliteral(L, FB_DEFAULT_BASE_URL); }
    if (lua_type(L, -1) != LUA_TSTRING) return option_error(L, "base_url", "must be a string");
    url = lua_tolstring(L, -1, &urllen);
    if ((why = check_base_url(url, urllen))) return option_error(L, "base_url", why);
    lua_getfield(L, 1, "allow_insecure_http");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) return option_error(L, "allow_insecure_http", "must be a boolean");
    allow_insecure = lua_toboolean(L, -1);
    if (strncmp(url, "http://", 7) == 0 && !fb_net_is_loopback(url) && !allow_insecure)
        return option_error(L, "base_url", "is plain http to a host other than this machine: the API key would "
                                           "travel in clear text (set allow_insecure_http = true to allow it)");
    lua_pop(L, 1);
    while (urllen > 0 && url[urllen - 1] == '/') urllen--;

    lua_getfield(L, 1, "version");
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushliteral(L, FB_DEFAULT_VERSION); }
    if (lua_type(L, -1) != LUA_TSTRING) return option_error(L, "version", "must be a string such as " FB_DEFAULT_VERSION);
    version = lua_tolstring(L, -1, &vlen);
    if (vlen > 64) return option_error(L, "version", "is too long (at most 64 characters)");
    if ((why = fb_validate_version(version, vlen))) return option_error(L, "version", why);

    if (!seconds_option(L, 1, "timeout", &timeout_ms))
        return option_error(L, "timeout", "must be a number of seconds greater than 0");
    if (!seconds_option(L, 1, "connect_timeout", &connect_ms))
        return option_error(L, "connect_timeout", "must be a number of seconds greater than 0");
    if (connect_ms > timeout_ms) connect_ms = timeout_ms;
    if (!seconds_option(L, 1, "stall_timeout", &stall_ms))
        return option_error(L, "stall_timeout", "must be a number of seconds greater than 0");
    if (!number_option(L, 1, "max_response_size", 1, MAX_BYTES_OPTION, 1, &max_bytes))
        return option_error(L, "max_response_size", "must be a whole number of bytes from 1 to 1073741824 (1 GiB)");
    max_response = (size_t)max_bytes;

    /* The userdata exists (zeroed, with __gc) before any resource is attached to it. */
    c = (fb_client *)lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    luaL_getmetatable(L, FB_CLIENT_MT);
    lua_setmetatable(L, -2);
    c->timeout_ms = timeout_ms;
    c->connect_timeout_ms = connect_ms;
    c->stall_ms = stall_ms;
    c->max_response = max_response;
    /* ca_file, ca_path, proxy, no_proxy: checked last, their copies owned by the userdata */
    if ((bad = fb_net_check(L, 1, url, allow_insecure, &c->net, &why))) return option_error(L, bad, why);

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
    fb_conn_limits(&c->conn, c->max_response, c->stall_ms);
    fb_net_apply(&c->net, c->conn.easy);
    return 1;
}

/* client:perform(method, path, body|nil [, timeout_seconds [, safe]]) -> value, response | nil, err.
 * Blocking: the Lua state is not touched between prepare and the result. */
static int fb_client_perform(lua_State *L) {
    fb_client *c = fb_client_check(L, 1);
    fb_request r;
    CURLcode rc;
    fb_conn_check_request(L, 2, &r, c->timeout_ms);
    if (!fb_conn_prepare(&c->conn, r.method, c->base_url, r.path, r.body, r.n, r.timeout_ms, r.safe))
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
    /* core.limits: the defaults, for the wrapper, the README's table and the tests */
    lua_newtable(L);
    lua_pushnumber(L, DEFAULT_TIMEOUT_MS / 1000.0); lua_setfield(L, -2, "timeout");
    lua_pushnumber(L, DEFAULT_CONNECT_TIMEOUT_MS / 1000.0); lua_setfield(L, -2, "connect_timeout");
    lua_pushnumber(L, FB_DEFAULT_STALL_MS / 1000.0); lua_setfield(L, -2, "stall_timeout");
    lua_pushinteger(L, (lua_Integer)FB_DEFAULT_MAX_RESPONSE); lua_setfield(L, -2, "max_response_size");
    lua_pushinteger(L, (lua_Integer)FB_DEFAULT_MAX_REQUEST); lua_setfield(L, -2, "max_request_size");
    lua_setfield(L, -2, "limits");
}
