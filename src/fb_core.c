/* featurebase.core: validation, request building, HTTP (libcurl) and decoding (lua-cjson) for the
 * Featurebase conversations API. The public API is the pure-Lua module `featurebase` over it. */
#include "fb_curl.h"
#include <errno.h>
#include <time.h>
#include "fb_buf.h"
#include "fb_client.h"
#include "fb_decode.h"
#include "fb_error.h"
#include "fb_multi.h"
#include "fb_api.h"
#include "fb_validate.h"
#include "fb_base64.h"
#include "fb_file.h"
#include "fb_version.h"
#include "fb_webhook.h"

#if defined(_WIN32)
#define FB_EXPORT __declspec(dllexport)
#else
#define FB_EXPORT __attribute__((visibility("default")))
#endif

FB_EXPORT int luaopen_featurebase_core(lua_State *L);

/* core.sleep(seconds): the blocking calls' wait between retries (no luasocket needed). */
static int fb_core_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(s > 0)) return 0;
    if (s > 3600) s = 3600;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

/* core.now(): monotonic seconds, for deadlines that wall-clock changes cannot stretch. */
static int fb_core_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.time(): Unix time with its fraction (CLOCK_REALTIME), to compare with X-RateLimit-Reset. */
static int fb_core_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

int luaopen_featurebase_core(lua_State *L) {
    static int curl_ready = 0;
    curl_version_info_data *cv;
    if (!curl_ready) { /* once per process; curl_global_init is not thread-safe before 7.84 */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return luaL_error(L, "featurebase: curl_global_init failed");
        curl_ready = 1;
    }
    fb_buf_init(L);
    fb_error_init(L);
    lua_newtable(L);
    fb_client_init(L);
    fb_multi_init(L);
    fb_api_init(L);
    fb_decode_init(L);
    fb_base64_init(L);
    fb_file_init(L);
    fb_webhook_init(L);
    lua_pushcfunction(L, fb_core_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushcfunction(L, fb_core_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, fb_core_time);
    lua_setfield(L, -2, "time");
    lua_pushcfunction(L, fb_http_redact);
    lua_setfield(L, -2, "redact");
    cv = curl_version_info(CURLVERSION_NOW);
    lua_pushliteral(L, FB_VERSION);
    lua_setfield(L, -2, "_VERSION");
    lua_pushstring(L, cv->version);
    lua_setfield(L, -2, "curl_version");
    luaL_getmetatable(L, FB_ERROR_MT);
    lua_setfield(L, -2, "error_mt");
    return 1;
}
