/* The non-blocking engine: libcurl's multi interface, many requests in flight on one thread.
 *
 * Each transfer is an fb_conn from fb_http.c (the same easy-handle setup, request and result code
 * as the blocking client:perform), kept in a pool and reused; the multi handle shares its
 * connection cache among them, so connections stay alive across requests.
 *
 * An event loop drives it in curl's socket_action model: curl's socket and timer callbacks only
 * record what curl wants (socket interest changes, a deadline) in C structures; Lua reads them with
 * engine:sockets() and engine:timeout(), waits, and calls engine:socket_action()/timeout_action().
 * Scripts without a loop call engine:run(wait_ms): on Linux the same socket_action model over an
 * epoll set of the engine's own, elsewhere curl_multi_perform and curl_multi_poll (curl_multi_wait
 * before 7.66). No callback ever calls Lua, so no Lua error can longjmp through libcurl. Completed
 * transfers wait in a queue until engine:done() turns them into {id=, response=} / {id=, err=} like
 * client:perform's results. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#ifdef __linux__
#include <sys/epoll.h>
#define FB_HAVE_EPOLL 1
#endif
#include "fb_client.h"
#include "fb_error.h"
#include "fb_multi.h"

#define FB_ENGINE_MT "featurebase.Engine"

typedef struct fb_slot {
    fb_conn conn;
    lua_Integer id;
    int state;   /* FREE, RUNNING (added to the multi) or DONE (queued for done()) */
    CURLcode rc; /* the transfer's result, once DONE */
    long connects; /* new connections the last transfer opened (0: a kept-alive one was reused) */
} fb_slot;

enum { FREE = 0, RUNNING = 1, DONE = 2 };

typedef struct fb_change { /* one socket interest change for the event loop */
    curl_socket_t fd;
    int what; /* CURL_POLL_IN/OUT/INOUT/REMOVE */
} fb_change;

typedef struct fb_engine {
    CURLM *multi;
    struct curl_slist *headers; /* a copy of the client's: the engine outlives a closed client */
    char *base_url;
    long timeout_ms, connect_timeout_ms, stall_ms;
    size_t max_response;
    fb_net net;        /* a copy of the client's CAs and proxy */
    fb_slot **slots;   /* the pool, every slot malloc'd */
    size_t nslots, slotcap;
    fb_slot **done;    /* FIFO of completed slots, capacity slotcap */
    size_t ndone;
    fb_change *changes; /* socket changes since the last sockets() */
    size_t nchanges, changecap;
    int oom;           /* a callback could not record a change: sockets() reports it */
    curl_socket_t *closing; /* sockets curl closed, closed by us once the loop stopped watching them */
    size_t nclosing, closingcap;
    int closing_now;   /* the engine is closing: nobody watches any more */
    int epfd;          /* engine:event_fd(): an epoll set of curl's sockets, kept in step by on_socket; -1: none */
    int told;          /* on_socket has reported a socket outside an epoll set (sockets(), curl_multi_perform) */
    int run_epoll;     /* run() drives the engine through the epoll set: add() sends at once */
    double deadline;   /* when curl wants timeout_action(), monotonic ms; < 0: no timer */
    lua_Integer next_id;
    int running;
    long transfers, connects; /* totals, for engine:stats() */
} fb_engine;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CURLMOPT_SOCKETFUNCTION: record only. A later change for the same socket replaces an earlier
 * one unless either is a removal: the loop must see "remove" before a reused fd number comes back. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *socketp) {
    fb_engine *e = (fb_engine *)ud;
    size_t i;
    (void)easy;
    (void)socketp;
#ifdef FB_HAVE_EPOLL
    if (e->epfd >= 0) { /* the set changes here, before curl can close fd: no stale watch, no EBADF */
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.data.fd = fd;
        ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
        if (what == CURL_POLL_REMOVE) epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
        else if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT &&
                 epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            return -1;
        return 0;
    }
#endif
    e->told = 1;
    for (i = e->nchanges; i-- > 0;) {
        if (e->changes[i].fd != fd) continue;
        if (e->changes[i].what != CURL_POLL_REMOVE && what != CURL_POLL_REMOVE) {
            e->changes[i].what = what;
            return 0;
        }
        break;
    }
    if (e->nchanges == e->changecap) {
        size_t cap = e->changecap ? e->changecap * 2 : 16;
        fb_change *c = (fb_change *)realloc(e->changes, cap * sizeof *c);
        if (!c) { e->oom = 1; return -1; }
        e->changes = c;
        e->changecap = cap;
    }
    e->changes[e->nchanges].fd = fd;
    e->changes[e->nchanges].what = what;
    e->nchanges++;
    return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: a socket the event loop may still watch is not closed yet. Had it
 * been, the loop's next poll would meet a closed fd (libuv reports EBADF, luv prints it on the
 * user's screen) or, worse, a new socket reusing the number. Closed at the next engine call, after
 * the loop has read the "remove" for it. */
static int on_closesocket(void *ud, curl_socket_t fd) {
    fb_engine *e = (fb_engine *)ud;
    if (!e->closing_now && e->nclosing == e->closingcap) {
        size_t cap = e->closingcap ? e->closingcap * 2 : 8;
        curl_socket_t *c = (curl_socket_t *)realloc(e->closing, cap * sizeof *c);
        if (c) {
            e->closing = c;
            e->closingcap = cap;
        }
    }
    if (e->closing_now || e->nclosing == e->closingcap) return close(fd);
    e->closing[e->nclosing++] = fd;
    return 0;
}

static void close_deferred(fb_engine *e) {
    while (e->nclosing > 0) close(e->closing[--e->nclosing]);
}

/* CURLMOPT_TIMERFUNCTION: record the deadline (-1 deletes the timer). */
static int on_timer(CURLM *multi, long timeout_ms, void *ud) {
    fb_engine *e = (fb_engine *)ud;
    (void)multi;
    e->deadline = timeout_ms < 0 ? -1 : now_ms() + (double)timeout_ms;
    return 0;
}

/* Moves finished transfers from curl's message queue to ours. No Lua call. */
static void collect(fb_engine *e) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(e->multi, &left))) {
        fb_conn *k;
        fb_slot *s;
        if (m->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&k);
        s = (fb_slot *)k; /* conn is the slot's first member */
        s->rc = m->data.result;
        s->connects = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_NUM_CONNECTS, &s->connects);
        curl_multi_remove_handle(e->multi, m->easy_handle);
        s->state = DONE;
        e->done[e->ndone++] = s; /* ndone < nslots <= slotcap: a slot is queued at most once */
        e->running--;
        e->transfers++;
        e->connects += s->connects;
    }
}

static fb_engine *check_engine(lua_State *L) {
    fb_engine *e = (fb_engine *)luaL_checkudata(L, 1, FB_ENGINE_MT);
    if (!e->multi) luaL_error(L, "featurebase: the engine is closed");
    return e;
}

/* close, __gc and __close: one idempotent function. In-flight transfers are abandoned. */
static int fb_engine_close(lua_State *L) {
    fb_engine *e = (fb_engine *)luaL_checkudata(L, 1, FB_ENGINE_MT);
    size_t i;
    close_deferred(e);
    e->closing_now = 1;
    for (i = 0; i < e->nslots; i++) {
        if (e->multi && e->slots[i]->state == RUNNING && e->slots[i]->conn.easy)
            curl_multi_remove_handle(e->multi, e->slots[i]->conn.easy);
        fb_conn_close(&e->slots[i]->conn);
        free(e->slots[i]);
    }
    if (e->multi) curl_multi_cleanup(e->multi);
    e->multi = NULL;
    if (e->epfd >= 0) close(e->epfd);
    e->epfd = -1;
    free(e->slots);
    free(e->done);
    free(e->changes);
    free(e->closing);
    e->closing = NULL;
    e->nclosing = e->closingcap = 0;
    e->slots = e->done = NULL;
    e->changes = NULL;
    e->nslots = e->slotcap = e->ndone = e->nchanges = e->changecap = 0;
    e->running = 0;
    if (e->headers) curl_slist_free_all(e->headers);
    e->headers = NULL;
    free(e->base_url);
    e->base_url = NULL;
    fb_net_free(&e->net);
    return 0;
}

/* core.engine(client_handle) -> engine: its own pool and multi handle, the client's settings. */
static int fb_engine_new(lua_State *L) {
    fb_client *c = fb_client_check(L, 1);
    struct curl_slist *h;
    size_t n = strlen(c->base_url);
    fb_engine *e = (fb_engine *)lua_newuserdata(L, sizeof *e);
    memset(e, 0, sizeof *e);
    e->deadline = -1;
    e->epfd = -1;
    luaL_getmetatable(L, FB_ENGINE_MT);
    lua_setmetatable(L, -2);
    e->timeout_ms = c->timeout_ms;
    e->connect_timeout_ms = c->connect_timeout_ms;
    e->stall_ms = c->stall_ms;
    e->max_response = c->max_response;
    if (!(e->base_url = (char *)malloc(n + 1))) return luaL_error(L, "featurebase: not enough memory");
    memcpy(e->base_url, c->base_url, n + 1);
    if (!fb_net_copy(&e->net, &c->net)) return luaL_error(L, "featurebase: not enough memory");
    for (h = c->headers; h; h = h->next) {
        struct curl_slist *next = curl_slist_append(e->headers, h->data);
        if (!next) return luaL_error(L, "featurebase: not enough memory");
        e->headers = next;
    }
    if (!(e->multi = curl_multi_init())) return luaL_error(L, "featurebase: curl_multi_init failed");
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    fb_net_apply_multi(e->multi); /* concurrent calls share one HTTP/2 connection */
    return 1;
}

/* A free slot from the pool, or a new one. Raises only before anything is attached to the slot. */
static fb_slot *acquire(lua_State *L, fb_engine *e) {
    size_t i;
    fb_slot *s;
    for (i = 0; i < e->nslots; i++)
        if (e->slots[i]->state == FREE && e->slots[i]->conn.easy) return e->slots[i];
    if (e->nslots == e->slotcap) {
        size_t cap = e->slotcap ? e->slotcap * 2 : 8;
        fb_slot **slots = (fb_slot **)realloc(e->slots, cap * sizeof *slots);
        fb_slot **done;
        if (!slots) luaL_error(L, "featurebase: not enough memory");
        e->slots = slots;
        if (!(done = (fb_slot **)realloc(e->done, cap * sizeof *done))) luaL_error(L, "featurebase: not enough memory");
        e->done = done;
        e->slotcap = cap;
    }
    if (!(s = (fb_slot *)calloc(1, sizeof *s))) luaL_error(L, "featurebase: not enough memory");
    e->slots[e->nslots++] = s; /* owned by the engine from here on, even if the open below fails */
    /* Keep one idle connection per pooled handle; curl's default (4 x handles still added) closes
     * kept-alive connections as a batch drains, and the next batch would reconnect. */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)e->nslots);
    if (!fb_conn_open(&s->conn, e->headers, e->connect_timeout_ms))
        luaL_error(L, "featurebase: could not set up libcurl (out of memory)");
    fb_conn_limits(&s->conn, e->max_response, e->stall_ms); /* the client's, as for its own calls */
    curl_easy_setopt(s->conn.easy, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    curl_easy_setopt(s->conn.easy, CURLOPT_CLOSESOCKETDATA, e);
    fb_net_apply(&e->net, s->conn.easy);
    return s;
}

/* engine:add(method, path, body|nil [, timeout_seconds [, safe]]) -> id. Starts the transfer;
 * nothing blocks. */
static int fb_engine_add(lua_State *L) {
    fb_engine *e = check_engine(L);
    fb_request r;
    fb_slot *s;
    CURLMcode mc;
    fb_conn_check_request(L, 2, &r, e->timeout_ms);
    s = acquire(L, e);
    if (!fb_conn_prepare(&s->conn, r.method, e->base_url, r.path, r.body, r.n, r.timeout_ms, r.safe))
        return luaL_error(L, "featurebase: not enough memory for the request");
    if ((mc = curl_multi_add_handle(e->multi, s->conn.easy)) != CURLM_OK)
        return luaL_error(L, "featurebase: curl_multi_add_handle failed: %s", curl_multi_strerror(mc));
    s->state = RUNNING;
    s->id = ++e->next_id;
    e->running++;
    if (e->run_epoll) { /* sent now, not after the rest of this turn (the other results) is handled */
        int running = 0;
        (void)curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running); /* failing: run() says */
        collect(e);
    }
    lua_pushinteger(L, s->id);
    return 1;
}

/* engine:sockets() -> {{fd=, what="r"|"w"|"rw"|"remove"}, ...}: changes since the last call, in order. */
static int fb_engine_sockets(lua_State *L) {
    fb_engine *e = check_engine(L);
    size_t i;
    if (e->oom) return luaL_error(L, "featurebase: out of memory recording curl's sockets");
    lua_createtable(L, (int)e->nchanges, 0);
    for (i = 0; i < e->nchanges; i++) {
        int w = e->changes[i].what;
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)e->changes[i].fd);
        lua_setfield(L, -2, "fd");
        lua_pushstring(L, w == CURL_POLL_IN ? "r" : w == CURL_POLL_OUT ? "w" : w == CURL_POLL_INOUT ? "rw" : "remove");
        lua_setfield(L, -2, "what");
        lua_rawseti(L, -2, (int)i + 1);
    }
    e->nchanges = 0; /* only once the whole list exists: a memory error above loses nothing */
    return 1;
}

/* engine:timeout() -> milliseconds until timeout_action() is due (0: now), or nil: no timer. */
static int fb_engine_timeout(lua_State *L) {
    fb_engine *e = check_engine(L);
    double left;
    if (e->deadline < 0) { lua_pushnil(L); return 1; }
    left = e->deadline - now_ms();
    lua_pushinteger(L, left > 0 ? (lua_Integer)ceil(left) : 0);
    return 1;
}

static int act(lua_State *L, fb_engine *e, curl_socket_t fd, int mask) {
    int running = 0;
    CURLMcode mc;
    close_deferred(e); /* the loop has stopped watching them: it read sockets() since */
    mc = curl_multi_socket_action(e->multi, fd, mask, &running);
    collect(e);
    if (mc != CURLM_OK) return luaL_error(L, "featurebase: curl_multi_socket_action failed: %s", curl_multi_strerror(mc));
    lua_pushinteger(L, e->running);
    return 1;
}

/* engine:socket_action(fd, readable, writable) -> transfers still running. */
static int fb_engine_socket_action(lua_State *L) {
    fb_engine *e = check_engine(L);
    lua_Integer fd = luaL_checkinteger(L, 2);
    int mask = (lua_toboolean(L, 3) ? CURL_CSELECT_IN : 0) | (lua_toboolean(L, 4) ? CURL_CSELECT_OUT : 0);
    return act(L, e, (curl_socket_t)fd, mask);
}

#ifdef FB_HAVE_EPOLL
/* engine:event_fd() -> fd: one file descriptor that is readable whenever a socket of curl's is
 * ready (an epoll set that on_socket keeps in step with curl), for event loops whose socket
 * watchers report errors on their own (luv prints POLLERR as "EBADF" on stderr). Watch it for
 * reading and call events_action(); sockets() then stays empty. Linux only: elsewhere the method
 * does not exist and loops watch each socket of sockets(). */
static int fb_engine_event_fd(lua_State *L) {
    fb_engine *e = check_engine(L);
    e->run_epoll = 0; /* an event loop drives the engine now: add() leaves the sending to it */
    if (e->epfd < 0) {
        if (e->running > 0) return luaL_error(L, "featurebase: event_fd() must come before the first transfer");
        if ((e->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
            return luaL_error(L, "featurebase: epoll_create1 failed: %s", strerror(errno));
        e->nchanges = 0;
    }
    lua_pushinteger(L, e->epfd);
    return 1;
}

/* Acts on the sockets of the epoll set that are ready within ms (0: only those ready now). */
static CURLMcode act_events(fb_engine *e, int ms) {
    struct epoll_event evs[64];
    int i, n, running = 0;
    CURLMcode mc = CURLM_OK;
    n = epoll_wait(e->epfd, evs, 64, ms);
    for (i = 0; i < n && mc == CURLM_OK; i++) {
        int mask = (evs[i].events & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) | (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
        mc = curl_multi_socket_action(e->multi, evs[i].data.fd, mask, &running);
    }
    return mc;
}

/* engine:events_action() -> transfers still running: acts on every ready socket of event_fd(). */
static int fb_engine_events_action(lua_State *L) {
    fb_engine *e = check_engine(L);
    CURLMcode mc;
    close_deferred(e);
    if (e->epfd < 0) return luaL_error(L, "featurebase: call event_fd() first");
    mc = act_events(e, 0);
    collect(e);
    if (mc != CURLM_OK) return luaL_error(L, "featurebase: curl_multi_socket_action failed: %s", curl_multi_strerror(mc));
    lua_pushinteger(L, e->running);
    return 1;
}

/* run() on Linux: curl's socket_action model on the engine's own epoll set. Each action runs only
 * what it concerns (a due timer: the transfers just added; a ready socket: the transfers on it),
 * where curl_multi_perform runs every transfer, twice a turn (before and after the wait). */
static CURLMcode run_events(fb_engine *e, int wait) {
    long t = -1;
    int running = 0;
    CURLMcode mc = CURLM_OK;
    curl_multi_timeout(e->multi, &t);
    if (t == 0) mc = curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(e);
    if (mc != CURLM_OK || e->ndone > 0) return mc;
    curl_multi_timeout(e->multi, &t);
    if ((mc = act_events(e, t >= 0 && t < wait ? (int)t : wait)) != CURLM_OK) return mc;
    curl_multi_timeout(e->multi, &t);
    if (t == 0) mc = curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(e);
    return mc;
}
#endif

/* engine:timeout_action() -> transfers still running. Call when timeout() has run out. */
static int fb_engine_timeout_action(lua_State *L) {
    fb_engine *e = check_engine(L);
    e->deadline = -1; /* this timer is spent; curl sets the next one */
    return act(L, e, CURL_SOCKET_TIMEOUT, 0);
}

/* Waits at most ms for activity on the engine's transfers (or a curl timer). curl_multi_poll
 * (7.66) waits even when curl has no socket to watch yet; curl_multi_wait before it returns at
 * once then, so the fallback sleeps for what is left of curl's own timeout, within ms. */
static CURLMcode wait_activity(fb_engine *e, int ms) {
#if FB_CURL_VER_GE(7, 66, 0)
    return curl_multi_poll(e->multi, NULL, 0, ms, NULL);
#else
    int numfds = 0;
    long t = -1;
    double t0 = now_ms();
    CURLMcode mc = curl_multi_wait(e->multi, NULL, 0, ms, &numfds);
    if (mc != CURLM_OK || numfds > 0) return mc;
    ms -= (int)(now_ms() - t0);
    if (ms <= 0) return mc;
    curl_multi_timeout(e->multi, &t);
    if (t >= 0 && t < ms) ms = (int)t;
    if (ms > 0) {
        struct timespec ts;
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long)(ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    return mc;
#endif
}

/* engine:run([wait_ms]) -> transfers still running. The driver for scripts: waits at most wait_ms
 * (default 1000) for activity, then acts on it. On Linux with curl's socket_action on an epoll set
 * of the engine's own (the one event_fd() returns), unless sockets() has been in use; elsewhere
 * with curl_multi_perform around wait_activity. Do not mix with socket_action. */
static int fb_engine_run(lua_State *L) {
    fb_engine *e = check_engine(L);
    lua_Integer wait = luaL_optinteger(L, 2, 1000);
    int ms = wait <= 0 ? 0 : wait > 86400000 ? 86400000 : (int)wait;
    int running = 0;
    CURLMcode mc;
    close_deferred(e); /* run() is the loop: nothing else watches the sockets */
#ifdef FB_HAVE_EPOLL
    if (e->epfd < 0 && !e->told) e->epfd = epoll_create1(EPOLL_CLOEXEC); /* failed: perform below */
    if (e->epfd >= 0) {
        e->run_epoll = 1;
        if ((mc = run_events(e, ms)) != CURLM_OK)
            return luaL_error(L, "featurebase: curl multi failed: %s", curl_multi_strerror(mc));
        lua_pushinteger(L, e->running);
        return 1;
    }
#endif
    mc = curl_multi_perform(e->multi, &running);
    collect(e);
    if (mc == CURLM_OK && e->ndone == 0 && ms > 0) {
        mc = wait_activity(e, ms);
        if (mc == CURLM_OK) mc = curl_multi_perform(e->multi, &running);
        collect(e);
    }
    e->nchanges = 0; /* socket changes matter to event loops only */
    e->deadline = -1;
    if (mc != CURLM_OK) return luaL_error(L, "featurebase: curl multi failed: %s", curl_multi_strerror(mc));
    lua_pushinteger(L, e->running);
    return 1;
}

/* engine:done([max]) -> {{id=, value=, response=} | {id=, err=}, ...}: completed transfers (at
 * most max), oldest first, each result exactly what client:perform returns (fb_conn_push_result). */
static int fb_engine_done(lua_State *L) {
    fb_engine *e = check_engine(L);
    lua_Integer max = luaL_optinteger(L, 2, (lua_Integer)e->ndone);
    size_t i, n = max < 0 ? 0 : (size_t)max < e->ndone ? (size_t)max : e->ndone;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        fb_slot *s = e->done[i];
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, s->id);
        lua_setfield(L, -2, "id");
        fb_conn_push_result(L, &s->conn, s->rc);
        if (lua_isnil(L, -2)) {
            lua_setfield(L, -3, "err");
            lua_pop(L, 1);
        } else {
            lua_setfield(L, -3, "response");
            lua_setfield(L, -2, "value");
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
    /* Only now are the slots free again: an error above left the queue as it was. */
    for (i = 0; i < n; i++) e->done[i]->state = FREE;
    e->ndone -= n;
    if (e->ndone > 0) memmove(e->done, e->done + n, e->ndone * sizeof *e->done);
    return 1;
}

/* engine:stats() -> {running=, pooled=, transfers=, connects=}: connects counts new connections,
 * so transfers - connects is how many reused a kept-alive one. */
static int fb_engine_stats(lua_State *L) {
    fb_engine *e = check_engine(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, e->running);
    lua_setfield(L, -2, "running");
    lua_pushinteger(L, (lua_Integer)e->nslots);
    lua_setfield(L, -2, "pooled");
    lua_pushinteger(L, (lua_Integer)e->transfers);
    lua_setfield(L, -2, "transfers");
    lua_pushinteger(L, (lua_Integer)e->connects);
    lua_setfield(L, -2, "connects");
    return 1;
}

static int fb_engine_tostring(lua_State *L) {
    fb_engine *e = (fb_engine *)luaL_checkudata(L, 1, FB_ENGINE_MT);
    if (!e->multi) lua_pushliteral(L, "featurebase.Engine (closed)");
    else lua_pushfstring(L, "featurebase.Engine (%s, %d running)", e->base_url, e->running);
    return 1;
}

void fb_multi_init(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"add", fb_engine_add},
        {"sockets", fb_engine_sockets},
#ifdef FB_HAVE_EPOLL
        {"event_fd", fb_engine_event_fd},
        {"events_action", fb_engine_events_action},
#endif
        {"timeout", fb_engine_timeout},
        {"socket_action", fb_engine_socket_action},
        {"timeout_action", fb_engine_timeout_action},
        {"run", fb_engine_run},
        {"done", fb_engine_done},
        {"stats", fb_engine_stats},
        {"close", fb_engine_close},
        {"__gc", fb_engine_close},
        {"__close", fb_engine_close},
        {"__tostring", fb_engine_tostring},
        {NULL, NULL}};
    luaL_newmetatable(L, FB_ENGINE_MT);
    fb_setfuncs(L, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, fb_engine_new);
    lua_setfield(L, -2, "engine");
    luaL_getmetatable(L, FB_CLIENT_MT); /* also client_handle:engine() */
    lua_pushcfunction(L, fb_engine_new);
    lua_setfield(L, -2, "engine");
    lua_pop(L, 1);
}
