/* TLS trust and proxies: the client options ca_file, ca_path, proxy and no_proxy, checked once
 * and applied to every easy handle (the blocking client's and each engine slot's).
 *
 * The clear-text rule covers the proxy hop: an http:// base_url (allowed to this machine only,
 * or with allow_insecure_http) goes through a proxy only when that proxy is on this machine too;
 * https:// goes through an http or https proxy only inside a CONNECT tunnel, so the proxy sees
 * the origin's name and encrypted bytes, never the key. Certificates (the server's and an https
 * proxy's) are always verified: no option turns that off. */
#ifndef FB_NET_H
#define FB_NET_H

#include "fb_curl.h"
#include "fb_compat.h"

#define FB_MAX_PATH_OPTION 4096 /* bytes of ca_file / ca_path */

typedef struct fb_net {
    char *ca_file, *ca_path; /* NULL: libcurl's built-in CA store */
    char *proxy;             /* CURLOPT_PROXY; "" uses none; NULL leaves libcurl to read the environment */
    char *no_proxy;          /* CURLOPT_NOPROXY; NULL: the environment's no_proxy / NO_PROXY */
    int https;               /* the base URL is https: CONNECT tunnels, HTTP/2 */
} fb_net;

/* "scheme://[user@]host[:port]..." or "host[:port]": the host is this machine (localhost,
 * 127.x.x.x, [::1]), compared whole (localhost.evil.example is not). */
int fb_net_is_loopback(const char *url);
/* Reads opts.ca_file, ca_path, proxy, no_proxy from the table at index opts for base_url (checked
 * already) into n (zeroed by the caller). Returns NULL, or the bad option's name with *why set;
 * pushes nothing. Allocations belong to n even on failure: free with fb_net_free. */
const char *fb_net_check(lua_State *L, int opts, const char *base_url, int allow_insecure, fb_net *n,
                         const char **why);
/* A copy of src (for an engine, which outlives its client). Returns 0 when out of memory. */
int fb_net_copy(fb_net *dst, const fb_net *src);
/* Sets the TLS, proxy and HTTP version options of one easy handle. */
void fb_net_apply(const fb_net *n, CURL *e);
/* The multi handle's share of it: HTTP/2 multiplexing of concurrent transfers. */
void fb_net_apply_multi(CURLM *m);
/* "TLS: " for a failure of the TLS handshake or certificate check, else "". */
const char *fb_net_failure_prefix(CURLcode rc);
void fb_net_free(fb_net *n);

#endif
