#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fb_net.h"
#include "fb_validate.h"

#define MAX_PROXY_LEN 2048

/* 127.d.d.d, each part 0-255: the whole host, so 127.0.0.1.evil.example is not loopback. */
static int is_ipv4_loopback(const char *h, size_t n) {
    int parts = 0, value = -1;
    size_t i;
    if (n < 4 || strncmp(h, "127.", 4) != 0) return 0;
    for (i = 0; i <= n; i++) {
        if (i == n || h[i] == '.') {
            if (value < 0 || value > 255) return 0;
            parts++;
            value = -1;
        } else if (h[i] >= '0' && h[i] <= '9' && value < 1000) {
            value = (value < 0 ? 0 : value * 10) + (h[i] - '0');
        } else return 0;
    }
    return parts == 4;
}

int fb_net_is_loopback(const char *url) {
    const char *host = strstr(url, "://"), *p;
    size_t n, hn;
    host = host ? host + 3 : url;
    n = strcspn(host, "/?#"); /* the authority */
    for (p = host + n; p > host; p--) /* the host follows the last '@' (user:pass@host) */
        if (p[-1] == '@') { n -= (size_t)(p - host); host = p; break; }
    if (host[0] == '[') return n >= 5 && strncmp(host, "[::1]", 5) == 0 && (n == 5 || host[5] == ':');
    hn = strcspn(host, ":");
    if (hn > n) hn = n;
    return (hn == 9 && strncmp(host, "localhost", 9) == 0) || is_ipv4_loopback(host, hn);
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int printable(const char *s, size_t n, int spaces) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f || (ch == ' ' && !spaces)) return 0;
    }
    return 1;
}

/* opts[name] as a string of 1..max bytes without NUL: 1 and *s set, 0 when absent, -1 otherwise. */
static int string_field(lua_State *L, int opts, const char *name, size_t max, const char **s, size_t *len) {
    int type;
    lua_getfield(L, opts, name);
    type = lua_type(L, -1);
    *s = type == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1); /* the string stays alive: opts holds it */
    if (type == LUA_TNIL) return 0;
    if (!*s || *len == 0 || *len > max || strlen(*s) != *len) return -1;
    return 1;
}

/* The proxy libcurl would take from the environment for an http:// URL: http_proxy (lower case
 * only: HTTP_PROXY can be set by a CGI request's Proxy header), then all_proxy, ALL_PROXY. */
static const char *env_http_proxy(void) {
    static const char *const names[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
    int i;
    for (i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return v;
    }
    return NULL;
}

#define OOM(p) do { if (!(p)) { *why = "could not be stored (out of memory)"; return name; } } while (0)

const char *fb_net_check(lua_State *L, int opts, const char *base_url, int allow_insecure, fb_net *n,
                         const char **why) {
    const char *s, *name;
    size_t len;
    int got;
    n->https = strncmp(base_url, "https://", 8) == 0;

    name = "ca_file";
    if ((got = string_field(L, opts, name, FB_MAX_PATH_OPTION, &s, &len)) < 0) {
        *why = "must be the path of a PEM file of CA certificates";
        return name;
    }
    if (got) {
        FILE *f = fopen(s, "rb");
        if (!f) { *why = "cannot be read (no such file, or no permission)"; return name; }
        fclose(f);
        OOM(n->ca_file = dup_string(s));
    }
    name = "ca_path";
    if ((got = string_field(L, opts, name, FB_MAX_PATH_OPTION, &s, &len)) < 0) {
        *why = "must be the path of a directory of hashed CA certificates (c_rehash)";
        return name;
    }
    if (got) {
        DIR *d = opendir(s);
        if (!d) { *why = "is not a readable directory"; return name; }
        closedir(d);
        OOM(n->ca_path = dup_string(s));
    }

    name = "no_proxy";
    if ((got = string_field(L, opts, name, MAX_PROXY_LEN, &s, &len)) < 0 || (got && !printable(s, len, 1))) {
        *why = "must be a string of host names, domains and addresses separated by commas, or \"*\"";
        return name;
    }
    if (got) OOM(n->no_proxy = dup_string(s));

    name = "proxy";
    lua_getfield(L, opts, name);
    got = lua_type(L, -1);
    lua_pop(L, 1);
    if (got == LUA_TBOOLEAN) {
        lua_getfield(L, opts, name);
        got = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (got) { *why = "must be a proxy URL (http://host:port or https://host:port) or false"; return name; }
        OOM(n->proxy = dup_string("")); /* false: no proxy, whatever the environment says */
    } else if ((got = string_field(L, opts, name, MAX_PROXY_LEN, &s, &len)) != 0) {
        const char *host = NULL;
        if (got > 0) host = strncmp(s, "http://", 7) == 0 ? s + 7 : strncmp(s, "https://", 8) == 0 ? s + 8 : NULL;
        if (!host || !printable(s, len, 0) || *host == '\0' || *host == '/' || *host == '@') {
            *why = "must be a proxy URL (http://host:port or https://host:port) or false";
            return name;
        }
        if (!n->https && !allow_insecure && !fb_net_is_loopback(s)) {
            *why = "is not on this machine and base_url is plain http: the API key would reach the proxy in "
                   "clear text (use an https base_url, or a proxy on this machine)";
            return name;
        }
        OOM(n->proxy = dup_string(s));
    }
    if (!n->https && !n->proxy) {
        /* plain http: a proxy from the environment only when it is on this machine too */
        const char *env = env_http_proxy();
        OOM(n->proxy = dup_string(env && fb_net_is_loopback(env) ? env : ""));
    }
    return NULL;
}

int fb_net_copy(fb_net *dst, const fb_net *src) {
    memset(dst, 0, sizeof *dst);
    dst->https = src->https;
    if ((src->ca_file && !(dst->ca_file = dup_string(src->ca_file))) ||
        (src->ca_path && !(dst->ca_path = dup_string(src->ca_path))) ||
        (src->proxy && !(dst->proxy = dup_string(src->proxy))) ||
        (src->no_proxy && !(dst->no_proxy = dup_string(src->no_proxy))))
        return 0;
    return 1;
}

void fb_net_apply(const fb_net *n, CURL *e) {
    /* A CA option replaces the built-in store whole (file and directory), so what is trusted is
     * exactly what was named; an https proxy is verified against the same CAs. */
    if (n->ca_file || n->ca_path) {
        curl_easy_setopt(e, CURLOPT_CAINFO, n->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, n->ca_path);
        curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, n->ca_file);
        curl_easy_setopt(e, CURLOPT_PROXY_CAPATH, n->ca_path);
    }
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    if (n->proxy) curl_easy_setopt(e, CURLOPT_PROXY, n->proxy); /* else libcurl reads the environment */
    if (n->no_proxy) curl_easy_setopt(e, CURLOPT_NOPROXY, n->no_proxy);
    if (n->https) {
        curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L); /* through an http(s) proxy: CONNECT only */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L); /* wait for a connection that multiplexes */
    } else {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
}

void fb_net_apply_multi(CURLM *m) {
    curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
}

const char *fb_net_failure_prefix(CURLcode rc) {
    /* 60 is CURLE_SSL_CACERT before 7.62 (an untrusted certificate), the same code as
     * CURLE_PEER_FAILED_VERIFICATION since, which before was 51 (a wrong host name) */
    if ((int)rc == 60) return "TLS: ";
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return "TLS: ";
    default:
        return "";
    }
}

void fb_net_free(fb_net *n) {
    free(n->ca_file);
    free(n->ca_path);
    free(n->proxy);
    free(n->no_proxy);
    n->ca_file = n->ca_path = n->proxy = n->no_proxy = NULL;
}
