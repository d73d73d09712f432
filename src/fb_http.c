#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include "fb_http.h"
#include "fb_error.h"
#include "fb_decode.h"
#include "fb_net.h"

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libcurl callbacks: they only copy bytes, never call Lua, so no error can longjmp through curl.
 * Returning less than asked aborts the transfer, and curl then drops the connection. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    fb_conn *k = (fb_conn *)ud;
    if (size * n > k->max_body - k->body.len) { /* body.len <= max_body always holds */
        k->too_big = 1;
        return 0;
    }
    return fb_buf_add(&k->body, p, size * n) ? size * n : 0;
}

/* Header lines also count as bytes moving (the stall watch), and the status line is kept, so an
 * error after it (a body cut short) still says what the server answered: a 201 means it acted. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    fb_conn *k = (fb_conn *)ud;
    k->last_move = monotonic();
    if (size * n >= 12 && memcmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', size * n);
        k->head.len = 0; /* keep the last response only */
        if (sp && (size_t)(sp - p) + 4 <= size * n && isdigit((unsigned char)sp[1]) &&
            isdigit((unsigned char)sp[2]) && isdigit((unsigned char)sp[3])) {
            int status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
            if (status >= 200) k->status = status; /* 1xx are interim */
        }
    }
    if (size * n > FB_MAX_HEAD - k->head.len) {
        k->too_big = 2;
        return 0;
    }
    return fb_buf_add(&k->head, p, size * n) ? size * n : 0;
}

/* Called by libcurl right before it writes the request, on a new or a reused connection, once per
 * attempt. A second call within one transfer is libcurl resending on its own ("Connection died,
 * retrying a fresh connect") after the first connection closed with no answer: the server may have
 * read and acted on the first copy. For a request that is not safe to repeat that second send is
 * stopped here (the transfer fails with request_sent = true); libcurl's check of idle pooled
 * connections runs before the first call, so a connection the server closed while idle is still
 * replaced silently. */
#if FB_CURL_VER_GE(7, 80, 0) && !defined(FB_TEST_NO_PREREQ)
static int on_prereq(void *ud, char *peer_ip, char *local_ip, int peer_port, int local_port) {
    fb_conn *k = (fb_conn *)ud;
    (void)peer_ip;
    (void)local_ip;
    (void)peer_port;
    (void)local_port;
    k->last_move = monotonic(); /* the stall clock starts when the request is written */
    if (++k->sends > 1 && !k->safe) {
        k->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
#endif

/* Before libcurl 7.80 (no CURLOPT_PREREQFUNCTION), the body of a request that is not safe goes
 * through this read callback, and the seek callback refuses to rewind it once a byte was read:
 * libcurl's own resend then fails (CURLE_SEND_FAIL_REWIND) instead of sending the body again. */
static size_t on_read(char *p, size_t size, size_t n, void *ud) {
    fb_conn *k = (fb_conn *)ud;
    size_t left = k->req.len - 1 - k->read_pos, m = size * n < left ? size * n : left; /* req ends in a NUL */
    memcpy(p, k->req.data + k->read_pos, m);
    k->read_pos += m;
    return m;
}

static int on_seek(void *ud, curl_off_t offset, int origin) {
    fb_conn *k = (fb_conn *)ud;
    if (origin != SEEK_SET || offset != 0 || k->read_pos > 0) {
        k->resend_refused = 1;
        return CURL_SEEKFUNC_CANTSEEK;
    }
    return CURL_SEEKFUNC_OK;
}

/* The stall watch: curl calls this often while bytes move and about once a second when none do.
 * The clock starts when the request is written (connecting has its own timeout); header lines
 * (on_header) and body bytes either way restart it. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    fb_conn *k = (fb_conn *)ud;
    double now;
    (void)dltotal;
    (void)ultotal;
    if (dlnow != k->last_dl || ulnow != k->last_ul) {
        k->last_dl = dlnow;
        k->last_ul = ulnow;
        k->last_move = monotonic();
        return 0;
    }
    if (k->last_move == 0) return 0;
    now = monotonic();
    if ((now - k->last_move) * 1000 >= (double)k->stall_ms) {
        k->stalled = 1;
        return 1;
    }
    return 0;
}

/* The first copy of key (klen > 0) in p[0..n), or NULL: memmem, which C99 lacks but every libc
 * this builds on has, and which is many times faster than a memchr loop on a common first byte
 * (every answer is searched for the key). */
static const char *find(const char *p, size_t n, const char *key, size_t klen) {
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    return (const char *)memmem(p, n, key, klen);
#else
    const char *end = p + n;
    while ((size_t)(end - p) >= klen && (p = memchr(p, key[0], (size_t)(end - p) - klen + 1))) {
        if (memcmp(p, key, klen) == 0) return p;
        p++;
    }
    return NULL;
#endif
}

int fb_redact(fb_buf *b, const char *key, size_t klen) {
    fb_buf out = {NULL, 0, 0};
    const char *p, *end, *hit;
    if (!key || klen < FB_REDACT_MIN_KEY || b->len < klen || !find(b->data, b->len, key, klen)) return 1;
    p = b->data;
    end = b->data + b->len;
    while ((hit = find(p, (size_t)(end - p), key, klen))) {
        if (!fb_buf_add(&out, p, (size_t)(hit - p)) || !fb_buf_addstr(&out, FB_REDACTED)) goto oom;
        p = hit + klen;
    }
    if (!fb_buf_add(&out, p, (size_t)(end - p))) goto oom;
    fb_buf_free(b);
    *b = out;
    return 1;
oom:
    fb_buf_free(&out);
    b->len = 0;
    return 0;
}

/* core.redact(s, key) -> s with every copy of key (of FB_REDACT_MIN_KEY bytes or more) replaced by
 * FB_REDACTED: the same redaction for transports that read the network in Lua (OpenResty). */
int fb_http_redact(lua_State *L) {
    size_t n, klen;
    const char *s = luaL_checklstring(L, 1, &n), *key = luaL_checklstring(L, 2, &klen);
    fb_buf *b;
    lua_settop(L, 1);
    if (klen < FB_REDACT_MIN_KEY || n < klen || !find(s, n, key, klen)) return 1; /* s as it is */
    b = fb_buf_scratch(L);
    if (!fb_buf_add(b, s, n) || !fb_redact(b, key, klen)) return luaL_error(L, "featurebase: not enough memory");
    lua_pushlstring(L, b->data, b->len);
    return 1;
}

void fb_conn_limits(fb_conn *k, size_t max_body, long stall_ms) {
    k->max_body = max_body;
    k->stall_ms = stall_ms;
    /* with a Content-Length, curl refuses a too large body before reading any of it */
    curl_easy_setopt(k->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
}

int fb_conn_open(fb_conn *k, struct curl_slist *headers, long connect_timeout_ms) {
    CURL *e = curl_easy_init();
    if (!e) return 0;
    k->easy = e;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);           /* no SIGALRM: safe in threads and nginx */
#if FB_CURL_VER_GE(7, 85, 0)
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"); /* CURLOPT_PROTOCOLS is deprecated */
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
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
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, k);
#if FB_CURL_VER_GE(7, 80, 0) && !defined(FB_TEST_NO_PREREQ)
    /* the running library may be older than the header: then the option is unknown */
    k->has_prereq = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK &&
                    curl_easy_setopt(e, CURLOPT_PREREQDATA, k) == CURLE_OK;
#endif
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, k);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, k);
    fb_conn_limits(k, FB_DEFAULT_MAX_RESPONSE, FB_DEFAULT_STALL_MS);
    if (headers && strncmp(headers->data, "Authorization: Bearer ", 22) == 0) {
        k->key = headers->data + 22;
        k->keylen = strlen(k->key);
    }
    return 1;
}

void fb_conn_check_request(lua_State *L, int i, fb_request *r, long timeout_ms) {
    static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", NULL};
    size_t plen;
    r->method = methods[luaL_checkoption(L, i, NULL, methods)];
    r->path = luaL_checklstring(L, i + 1, &plen);
    luaL_argcheck(L, plen > 0 && r->path[0] == '/', i + 1, "path must start with '/'");
    r->body = lua_isnoneornil(L, i + 2) ? NULL : luaL_checklstring(L, i + 2, &r->n);
    if (!r->body) r->n = 0;
    r->timeout_ms = timeout_ms;
    if (!lua_isnoneornil(L, i + 3)) {
        lua_Number t = luaL_checknumber(L, i + 3);
        luaL_argcheck(L, t > 0 && t <= 86400, i + 3, "timeout must be a number of seconds greater than 0");
        r->timeout_ms = (long)ceil(t * 1000);
    }
    r->safe = lua_toboolean(L, i + 4);
}

int fb_conn_prepare(fb_conn *k, const char *method, const char *base, const char *path, const char *body,
                    size_t n, long timeout_ms, int safe) {
    /* one big exchange must not pin its memory for the life of the client */
    if (k->body.cap > 1024 * 1024) fb_buf_free(&k->body);
    if (k->req.cap > 1024 * 1024) fb_buf_free(&k->req);
    k->url.len = k->req.len = k->body.len = k->head.len = 0;
    k->errbuf[0] = '\0';
    k->last_move = 0;
    k->last_dl = k->last_ul = 0;
    k->too_big = k->stalled = 0;
    k->safe = safe;
    k->sends = k->resend_refused = k->status = 0;
    k->read_pos = 0;
    if (!fb_buf_addstr(&k->url, base) || !fb_buf_addstr(&k->url, path) || !fb_buf_add(&k->url, "", 1) ||
        (body && (!fb_buf_add(&k->req, body, n) || !fb_buf_add(&k->req, "", 1))))
        return 0;
    curl_easy_setopt(k->easy, CURLOPT_URL, k->url.data);
    if (body && !safe && !k->has_prereq) { /* the read-callback guard (libcurl < 7.80) */
        curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, (char *)NULL);
        curl_easy_setopt(k->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(k->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    } else if (body) { /* POST, or PATCH/DELETE with a JSON body */
        curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, k->req.data);
        curl_easy_setopt(k->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    } else {
        curl_easy_setopt(k->easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(k->easy, CURLOPT_CUSTOMREQUEST, strcmp(method, body ? "POST" : "GET") ? method : NULL);
    curl_easy_setopt(k->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    return 1;
}

/* Header lines of the final response as {lowercased-name = value}; repeats are joined by ", ". */
void fb_conn_push_headers(lua_State *L, const char *raw, size_t n) {
    const char *p = raw, *end = n ? raw + n : raw; /* no arithmetic on NULL (UBSan) */
    int lines = 0;
    while (p && p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) { p++; lines++; }
    lua_createtable(L, 0, lines); /* sized once: growing it rehashed it four times per response */
    p = raw;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
        if (!eol) eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p) {
            char name[128];
            size_t i, nlen = (size_t)(colon - p);
            if (nlen < sizeof name) {
                for (i = 0; i < nlen; i++) /* ASCII: a header name is a token, and tolower() is a call */
                    name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + ('a' - 'A') : p[i]);
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

/* False only when nothing of this request can have reached the server: libcurl never got as far
 * as writing it (refused, DNS, TLS handshake, connect timeout), on any attempt of the transfer. A
 * refused connect after libcurl's own resend (possible for safe requests) counts as sent. */
int fb_conn_request_sent(fb_conn *k, CURLcode rc) {
    long request_size = 0;
    if (k->has_prereq) return k->sends > 0;
    /* without the prereq count (libcurl < 7.80): what the first connection's failure says */
    if (k->read_pos > 0 || k->resend_refused) return 1;
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

/* TLS failures that say the peer is not who it claims: never transient, never retried. */
static int is_certificate_failure(CURLcode rc) {
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

int fb_conn_push_result(lua_State *L, fb_conn *k, CURLcode rc) {
    long status = 0;
    /* Nothing from the network reaches Lua with the key in it (a server may echo it). */
    if (k->key && k->keylen >= FB_REDACT_MIN_KEY) {
        fb_buf msg = {NULL, 0, 0};
        (void)fb_redact(&k->body, k->key, k->keylen); /* out of memory empties it: nothing unredacted */
        (void)fb_redact(&k->head, k->key, k->keylen);
        if (k->errbuf[0] && fb_buf_addstr(&msg, k->errbuf) && fb_redact(&msg, k->key, k->keylen) &&
            fb_buf_add(&msg, "", 1)) {
            size_t n = msg.len < sizeof k->errbuf ? msg.len : sizeof k->errbuf;
            memcpy(k->errbuf, msg.data, n);
            k->errbuf[sizeof k->errbuf - 1] = '\0';
        } else if (k->errbuf[0]) k->errbuf[0] = '\0';
        fb_buf_free(&msg);
    }
    if (rc != CURLE_OK) {
        const char *detail = k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc), *limit = NULL;
        int timeout = rc == CURLE_OPERATION_TIMEDOUT;
        if (k->resend_refused) {
            detail = "the connection closed after the request was written, with no answer: the server may "
                     "have acted on it, and repeating it is not safe, so it was not sent again";
            lua_pushnil(L);
        } else if (k->sends > 0 && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                                    rc == CURLE_SSL_CONNECT_ERROR)) {
            /* libcurl's own resend of a safe request, after the first connection died */
            detail = lua_pushfstring(L, "the connection closed after the request was written, with no answer, "
                                        "and reconnecting failed: %s", detail);
        } else if (k->stalled) {
            detail = lua_pushfstring(L, "no byte moved for %d ms (stall_timeout)", (int)k->stall_ms);
            timeout = 1;
            limit = "stall_timeout";
        } else if (k->too_big == 2) {
            detail = lua_pushfstring(L, "the response headers are larger than %d bytes", (int)FB_MAX_HEAD);
            limit = "max_response_size";
        } else if (k->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            detail = lua_pushfstring(L, "the response body is larger than max_response_size (%d bytes); "
                                        "the connection was dropped", (int)k->max_body);
            limit = "max_response_size";
        } else lua_pushnil(L);
        lua_pushnil(L);
        fb_error_push(L, timeout ? "timeout" : "network",
                      lua_pushfstring(L, "request to %s failed: %s%s", k->url.data, fb_net_failure_prefix(rc), detail));
        lua_remove(L, -2);
        lua_remove(L, -3); /* the detail */
        if (limit) fb_error_setfield(L, "limit", limit);
        /* the status line came before the failure (a body cut short, too big): it says whether the
         * server acted, e.g. 201 */
        if (k->status > 0) {
            lua_pushinteger(L, (lua_Integer)k->status);
            lua_setfield(L, -2, "status");
        }
        if (is_certificate_failure(rc)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "certificate");
        }
        lua_pushinteger(L, (lua_Integer)rc);
        lua_setfield(L, -2, "curl_code");
        lua_pushboolean(L, fb_conn_request_sent(k, rc));
        lua_setfield(L, -2, "request_sent");
        return 2;
    }
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 6); /* the response: {status=, headers=, request_id=, rate_limit=, attempts=} */
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    fb_conn_push_headers(L, k->head.data, k->head.len);
    fb_decode_info(L, -2, -1);
    lua_setfield(L, -2, "headers");
    if (fb_decode_push(L, (int)status, -1, k->body.data ? k->body.data : "", k->body.len) == 1) {
        lua_insert(L, -2);      /* value, response */
        return 2;
    }
    lua_remove(L, -3);          /* the response: err holds what it says */
    return 2;
}

void fb_conn_close(fb_conn *k) {
    if (k->easy) curl_easy_cleanup(k->easy);
    k->easy = NULL;
    fb_buf_free(&k->url);
    fb_buf_free(&k->req);
    fb_buf_free(&k->body);
    fb_buf_free(&k->head);
}
