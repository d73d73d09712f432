#include <ctype.h>
#include <string.h>
#include "fb_http.h"
#include "fb_error.h"

/* libcurl callbacks: they only copy bytes, never call Lua, so no error can longjmp through curl. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    fb_conn *k = (fb_conn *)ud;
    return fb_buf_add(&k->body, p, size * n) ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    fb_conn *k = (fb_conn *)ud;
    if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0) k->head.len = 0; /* keep the last response only */
    return fb_buf_add(&k->head, p, size * n) ? size * n : 0;
}

int fb_conn_open(fb_conn *k, struct curl_slist *headers, long connect_timeout_ms) {
    CURL *e = curl_easy_init();
    if (!e) return 0;
    k->easy = e;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);           /* no SIGALRM: safe in threads and nginx */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);     /* a redirect would resend the key elsewhere */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, k);
    return 1;
}

int fb_conn_prepare(fb_conn *k, const char *base, const char *path, const char *body, size_t n,
                    long timeout_ms) {
    k->url.len = k->req.len = k->body.len = k->head.len = 0;
    k->errbuf[0] = '\0';
    if (!fb_buf_addstr(&k->url, base) || !fb_buf_addstr(&k->url, path) || !fb_buf_add(&k->url, "", 1) ||
        !fb_buf_add(&k->req, body, n) || !fb_buf_add(&k->req, "", 1))
        return 0;
    curl_easy_setopt(k->easy, CURLOPT_URL, k->url.data);
    curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, k->req.data);
    curl_easy_setopt(k->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    curl_easy_setopt(k->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    return 1;
}

/* Header lines of the final response as {lowercased-name = value}; repeats are joined by ", ". */
void fb_conn_push_headers(lua_State *L, const char *raw, size_t n) {
    const char *p = raw, *end = n ? raw + n : raw; /* no arithmetic on NULL (UBSan) */
    lua_newtable(L);
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
        if (!eol) eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p) {
            char name[128];
            size_t i, nlen = (size_t)(colon - p);
            if (nlen < sizeof name) {
                for (i = 0; i < nlen; i++) name[i] = (char)tolower((unsigned char)p[i]);
                for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++) {}
                for (ve = eol; ve > v && isspace((unsigned char)ve[-1]); ve--) {}
                lua_pushlstring(L, name, nlen);
                lua_pushvalue(L, -1);
                lua_rawget(L, -3);
                if (lua_isnil(L, -1)) {
                    lua_pop(L, 1);
                    lua_pushlstring(L, v, (size_t)(ve - v));
                } else {
                    lua_pushliteral(L, ", ");
                    lua_pushlstring(L, v, (size_t)(ve - v));
                    lua_concat(L, 3);
                }
                lua_rawset(L, -3);
            }
        }
        p = eol + 1;
    }
}

/* False only when the request certainly never reached the server (refused, DNS, TLS handshake,
 * or no byte of it written): then a retry cannot duplicate a message. */
int fb_conn_request_sent(fb_conn *k, CURLcode rc) {
    long request_size = 0;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        return 0;
    default:
        curl_easy_getinfo(k->easy, CURLINFO_REQUEST_SIZE, &request_size);
        return request_size > 0;
    }
}

int fb_conn_push_result(lua_State *L, fb_conn *k, CURLcode rc) {
    long status = 0;
    if (rc != CURLE_OK) {
        const char *detail = k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc);
        lua_pushnil(L);
        fb_error_push(L, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network",
                      lua_pushfstring(L, "request to %s failed: %s", k->url.data, detail));
        lua_remove(L, -2);
        lua_pushinteger(L, (lua_Integer)rc);
        lua_setfield(L, -2, "curl_code");
        lua_pushboolean(L, fb_conn_request_sent(k, rc));
        lua_setfield(L, -2, "request_sent");
        return 2;
    }
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    fb_conn_push_headers(L, k->head.data, k->head.len);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, k->body.data ? k->body.data : "", k->body.len);
    lua_setfield(L, -2, "body");
    return 1;
}

void fb_conn_close(fb_conn *k) {
    if (k->easy) curl_easy_cleanup(k->easy);
    k->easy = NULL;
    fb_buf_free(&k->url);
    fb_buf_free(&k->req);
    fb_buf_free(&k->body);
    fb_buf_free(&k->head);
}
