/* HTTP over libcurl: one easy handle with its buffers (a "conn"), set up once per client and
 * reused, so connections stay alive. The blocking call and any event-loop driver share it. */
#ifndef FB_HTTP_H
#define FB_HTTP_H

#include "fb_curl.h"
#include "fb_buf.h"

/* Defaults of the limits every transfer gets (fb_conn_limits changes them per connection). */
#define FB_DEFAULT_MAX_RESPONSE (16u * 1024 * 1024) /* bytes of response body */
#define FB_DEFAULT_STALL_MS 15000L                  /* no byte moving for this long aborts */
#define FB_MAX_HEAD (256u * 1024)                   /* bytes of response header lines */

typedef struct fb_conn {
    CURL *easy;
    fb_buf url, req, body, head; /* request URL and body; response body and header lines */
    char errbuf[CURL_ERROR_SIZE];
    size_t max_body;             /* response body limit: past it the transfer is aborted */
    long stall_ms;               /* abort when no byte moved for this long */
    /* per transfer, reset by fb_conn_prepare: */
    double last_move;            /* monotonic seconds when a byte last moved; 0 before the first */
    curl_off_t last_dl, last_ul;
    int too_big, stalled;        /* why a callback aborted the transfer */
    int safe;                    /* the request may be repeated (GET, PATCH, DELETE, upsert) */
    int sends;                   /* times libcurl was about to write this request (CURLOPT_PREREQFUNCTION) */
    int resend_refused;          /* an unsafe request's second send was stopped */
    int has_prereq;              /* libcurl >= 7.80 took CURLOPT_PREREQFUNCTION; else the read-callback guard */
    size_t read_pos;             /* body bytes handed to libcurl by the read callback (that guard) */
    int status;                  /* status line of the final response, once its header came; 0 before */
    /* the API key (inside the header list the conn was opened with): redacted from what came back */
    const char *key;
    size_t keylen;
} fb_conn;

/* Keys shorter than this are not redacted (no real key is; a short one would match at random). */
#define FB_REDACT_MIN_KEY 8
#define FB_REDACTED "sk_...REDACTED"

/* Creates the easy handle with the options every request shares. headers must stay alive as long
 * as the conn, and start with "Authorization: Bearer <key>" (the key is redacted from answers).
 * Returns 0 when out of memory. */
int fb_conn_open(fb_conn *k, struct curl_slist *headers, long connect_timeout_ms);
/* Sets the response size limit (bytes) and the stall timeout (ms) of this connection. */
void fb_conn_limits(fb_conn *k, size_t max_body, long stall_ms);
/* One request as the transports take it from Lua: (method, path, body|nil [, timeout_seconds [, safe]]). */
typedef struct fb_request {
    const char *method, *path, *body; /* body NULL: none */
    size_t n;
    long timeout_ms;
    int safe;
} fb_request;

/* Reads a request's arguments from index i on (raising on misuse); timeout_ms is the default. */
void fb_conn_check_request(lua_State *L, int i, fb_request *r, long timeout_ms);

/* Readies one request: method ("GET", "POST", "PATCH", "DELETE") to base .. path, with body (n
 * bytes of JSON, copied) or none (NULL). safe: the request may be repeated without harm.
 * Returns 0 when out of memory. */
int fb_conn_prepare(fb_conn *k, const char *method, const char *base, const char *path, const char *body,
                    size_t n, long timeout_ms, int safe);
/* After the transfer: when rc is CURLE_OK, decodes the answer and pushes value, {status=, headers=}
 * for a 2xx JSON object, else nil, err (http/decode/network/timeout). Returns 2. */
int fb_conn_push_result(lua_State *L, fb_conn *k, CURLcode rc);
/* Pushes {lowercased-name = value} for raw header lines (pure: the fuzzer calls it directly). */
void fb_conn_push_headers(lua_State *L, const char *raw, size_t n);
/* After a failed transfer: 0 when nothing of the request can have reached the server. */
int fb_conn_request_sent(fb_conn *k, CURLcode rc);
/* Replaces every copy of key (klen >= FB_REDACT_MIN_KEY) in b by FB_REDACTED. Returns 0 when out
 * of memory (b is then emptied: nothing unredacted remains). */
int fb_redact(fb_buf *b, const char *key, size_t klen);
/* core.redact(s, key): fb_redact for a Lua string. */
int fb_http_redact(lua_State *L);
/* Frees everything; safe to call twice. */
void fb_conn_close(fb_conn *k);

#endif
