/* The client: a userdata owning the curl handle, the request headers and the base URL. */
#ifndef FB_CLIENT_H
#define FB_CLIENT_H

#include "fb_http.h"
#include "fb_net.h"

#define FB_CLIENT_MT "featurebase.Client"

typedef struct fb_client {
    fb_conn conn;                 /* the blocking calls' connection, kept alive between calls */
    struct curl_slist *headers;   /* Authorization (the only place the key lives), Content-Type, ... */
    char *base_url;               /* without a trailing slash */
    long timeout_ms, connect_timeout_ms, stall_ms;
    size_t max_response;          /* bytes of response body */
    fb_net net;                   /* CAs and proxy (src/fb_net.h) */
} fb_client;

fb_client *fb_client_check(lua_State *L, int i);
void fb_client_init(lua_State *L);

#endif
