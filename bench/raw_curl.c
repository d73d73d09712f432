/* The baseline: the same POST as client:create_conversation, with one reused libcurl easy handle
 * and nothing else (no validation, no Lua, no JSON decoding). Receives headers and body into
 * buffers, as any real client must.
 *
 *   raw_curl URL BODY CALLS   ->  prints the mean wall time per call in seconds (after one warm-up
 *                                 call that opens the connection)
 *   raw_curl URL BODY -       ->  the same for each count read from stdin, one per line, on one
 *                                 connection: lets bench/run.lua interleave it with the Lua client;
 *                                 a line "GET URL" instead does one GET on that same connection and
 *                                 prints the answer's body on one line
 *   raw_curl URL BODY 0       ->  only the first call (its connection included), then exit: the
 *                                 start-up floor of any program linking libcurl (bench/run.lua)
 * The API key comes from $FEATUREBASE_API_KEY, the User-Agent from $RAW_CURL_USER_AGENT (bench/run.lua
 * gives featurebase's, so that both send the same bytes). Over https:// the handle is set up as featurebase's
 * (src/fb_net.c): HTTP/2 offered by ALPN (CURL_HTTP_VERSION_2TLS), and $RAW_CURL_CAINFO, when set,
 * is the only CA trusted (CURLOPT_CAINFO, no CA directory), like the client's ca_file; over http://,
 * HTTP/1.1.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct buf { char *data; size_t len, cap; };

static size_t collect(char *p, size_t size, size_t n, void *ud) {
    struct buf *b = ud;
    size_t add = size * n;
    if (b->len + add > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *d;
        while (cap < b->len + add) cap *= 2;
        if (!(d = realloc(b->data, cap))) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    return add;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* calls POSTs on the handle; 0 (after a message) on any failure or a status other than 201 */
static int run(CURL *e, struct buf *body, struct buf *head, long calls) {
    long i, status = 0;
    for (i = 0; i < calls; i++) {
        body->len = head->len = 0;
        if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "raw_curl: request failed\n"); return 0; }
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 201) { fprintf(stderr, "raw_curl: status %ld\n", status); return 0; }
    }
    return 1;
}

/* one GET of url on the same handle (and connection), its body printed; the POST set up again */
static int get(CURL *e, struct buf *body, struct buf *head, const char *url, const char *post_url,
               const char *post_body) {
    long status = 0;
    body->len = head->len = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "raw_curl: GET failed\n"); return 0; }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) { fprintf(stderr, "raw_curl: GET status %ld\n", status); return 0; }
    printf("%.*s\n", (int)body->len, body->data);
    fflush(stdout);
    curl_easy_setopt(e, CURLOPT_URL, post_url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, post_body);
    return 1;
}

int main(int argc, char **argv) {
    struct buf body = {0}, head = {0};
    struct curl_slist *h = NULL;
    const char *key = getenv("FEATUREBASE_API_KEY"), *ca = getenv("RAW_CURL_CAINFO");
    char auth[512], agent[256];
    long calls;
    double t0;
    CURL *e;
    if (argc != 4 || ((calls = atol(argv[3])) < 1 && strcmp(argv[3], "-") != 0 && strcmp(argv[3], "0") != 0)) {
        fprintf(stderr, "usage: %s URL BODY CALLS|-|0 (key in $FEATUREBASE_API_KEY)\n", argv[0]);
        return 2;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = curl_easy_init();
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Featurebase-Version: 2026-01-01.nova");
    /* the same request bytes as the client it is compared with: libcurl formats every header byte */
    snprintf(agent, sizeof agent, "User-Agent: %s", getenv("RAW_CURL_USER_AGENT") ? getenv("RAW_CURL_USER_AGENT") : "raw_curl");
    h = curl_slist_append(h, agent);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, argv[2]);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &head);
    if (strncmp(argv[1], "https:", 6) == 0) {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        if (ca && *ca) {
            curl_easy_setopt(e, CURLOPT_CAINFO, ca);
            curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
        }
    } else {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (!run(e, &body, &head, 1)) return 1; /* warm-up: opens the connection */
    if (calls > 0) {
        t0 = now();
        if (!run(e, &body, &head, calls)) return 1;
        printf("%.9f\n", (now() - t0) / (double)calls);
    } else if (strcmp(argv[3], "-") == 0) {
        char line[4096];
        while (fgets(line, sizeof line, stdin)) {
            if (strncmp(line, "GET ", 4) == 0) {
                line[strcspn(line, "\r\n")] = 0;
                if (!get(e, &body, &head, line + 4, argv[1], argv[2])) return 1;
                continue;
            }
            if ((calls = atol(line)) <= 0) break;
            t0 = now();
            if (!run(e, &body, &head, calls)) return 1;
            printf("%.9f\n", (now() - t0) / (double)calls);
            fflush(stdout);
        }
    }
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    free(body.data);
    free(head.data);
    curl_global_cleanup();
    return 0;
}
