/* core.webhook_verify(secret, headers, body, opts) and core.webhook_sign(secret, timestamp, body).
 *
 * Signed string = the X-Webhook-Timestamp value as received, ".", the raw body bytes; key = the
 * whole secret ("whsec_" included) as bytes; signature = lowercase hex of the HMAC-SHA256. The
 * secret is only ever handed to HMAC(): no message, error field or log line is built from it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "fb_decode.h"
#include "fb_error.h"
#include "fb_webhook.h"

#define MAC_LEN 32
#define SIG_H FB_WEBHOOK_SIGNATURE_HEADER
#define TS_H FB_WEBHOOK_TIMESTAMP_HEADER
#define REPEATED "is repeated with different values, or is not a string"

/* ASCII case-insensitive equality of a (key, len) with a NUL-terminated name. */
static int name_eq(const char *key, size_t len, const char *name) {
    size_t i;
    if (len != strlen(name)) return 0;
    for (i = 0; i < len; i++) {
        unsigned char a = (unsigned char)key[i], b = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z') a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (unsigned char)(b - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

/* Pushes the value at idx as a string: a string as it is, a whole number in decimal (a plain table
 * may hold the timestamp as a number). Returns 0 and pushes nothing for anything else. */
static int push_scalar(lua_State *L, int idx) {
    char num[32];
    lua_Number n;
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        return 1;
    }
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    n = lua_tonumber(L, idx);
    /* range first: converting NaN or 1e300 to an integer is undefined behaviour */
    if (!(n >= 0 && n <= 9007199254740992.0) || floor(n) != n) return 0;
    snprintf(num, sizeof num, "%lld", (long long)n);
    lua_pushstring(L, num);
    return 1;
}

/* Pushes a header value as one string: a string, a number, or a list of them all equal (what
 * ngx.req.get_headers() gives for a repeated header). Returns 0, pushing nothing, when the value
 * is none of those or the copies differ. */
static int push_header_value(lua_State *L, int idx) {
    size_t n, i;
    idx = fb_absindex(L, idx);
    if (!lua_istable(L, idx)) return push_scalar(L, idx);
    n = fb_rawlen(L, idx);
    if (n == 0 || n > 100) return 0;
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (!push_scalar(L, -1)) { lua_pop(L, 1 + (i > 1)); return 0; }
        lua_remove(L, -2);
        if (i > 1) {
            if (!lua_rawequal(L, -1, -2)) { lua_pop(L, 2); return 0; }
            lua_pop(L, 1);
        }
    }
    return 1;
}

/* Looks up a header in the table at t under its name in any case, or under alias ("signature",
 * "timestamp": the two values given directly). Pushes the value string and returns 1; pushes
 * nothing and returns 0 when absent, -1 when repeated with different values or not a string. */
static int get_header(lua_State *L, int t, const char *name, const char *alias) {
    int found = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        size_t klen;
        const char *key;
        if (lua_type(L, -2) != LUA_TSTRING) { lua_pop(L, 1); continue; }
        key = lua_tolstring(L, -2, &klen);
        if (!name_eq(key, klen, name) && !name_eq(key, klen, alias)) { lua_pop(L, 1); continue; }
        if (!push_header_value(L, -1)) { lua_pop(L, 2 + found); return -1; }
        lua_remove(L, -2); /* the raw value: key, string */
        if (found) {        /* below the key: the string found before */
            if (!lua_rawequal(L, -1, -3)) { lua_pop(L, 3); return -1; }
            lua_pop(L, 1);
        } else {
            lua_insert(L, -2); /* string, key */
            found = 1;
        }
    }
    return found;
}

/* Exactly 64 hex digits, either case, into 32 bytes. */
static int decode_hex(const char *s, size_t len, unsigned char *out) {
    size_t i;
    if (len != FB_WEBHOOK_SIG_HEX) return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else return 0;
        if (i % 2 == 0) out[i / 2] = (unsigned char)(v << 4);
        else out[i / 2] |= (unsigned char)v;
    }
    return 1;
}

/* Unix seconds: 1 to 18 decimal digits, nothing else (no sign, space or fraction); fits int64. */
static int parse_timestamp(const char *s, size_t len, int64_t *out) {
    int64_t v = 0;
    size_t i;
    if (len == 0 || len > 18) return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        if (v > (INT64_MAX - (s[i] - '0')) / 10) return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* HMAC-SHA256(secret, ts "." body) into mac. The signed string is built in a userdata (pushed,
 * GC-owned); no Lua call happens between it and the end of HMAC(). Returns 0 if OpenSSL failed. */
static int compute_mac(lua_State *L, const char *secret, size_t slen, const char *ts, size_t tlen,
                       const char *body, size_t blen, unsigned char *mac) {
    unsigned int mlen = 0;
    unsigned char *msg = (unsigned char *)lua_newuserdata(L, tlen + 1 + blen);
    memcpy(msg, ts, tlen);
    msg[tlen] = '.';
    if (blen) memcpy(msg + tlen + 1, body, blen);
    if (!HMAC(EVP_sha256(), secret, (int)slen, msg, tlen + 1 + blen, mac, &mlen) || mlen != MAC_LEN) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pop(L, 1);
    return 1;
}

/* The first character after JSON whitespace opens an object. */
static int starts_object(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i < len && s[i] == '{';
}

static const char *check_secret(lua_State *L, int arg, size_t *len) {
    const char *s;
    /* the value itself never goes into the message */
    luaL_argcheck(L, lua_type(L, arg) == LUA_TSTRING, arg, "secret must be a string (the webhook's whsec_...)");
    s = lua_tolstring(L, arg, len);
    luaL_argcheck(L, *len > 0 && *len <= 4096, arg, "secret must be 1 to 4096 bytes");
    return s;
}

static int fail(lua_State *L, const char *kind, const char *message, const char *header) {
    lua_pushnil(L);
    fb_error_push(L, kind, message);
    if (header) fb_error_setfield(L, "header", header);
    return 2;
}

/* opts.<name>: nil (default) or a finite number at least `min`. */
static double opt_number(lua_State *L, int opts, const char *name, double def, double min) {
    double v;
    if (opts == 0) return def;
    lua_getfield(L, opts, name);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    v = lua_type(L, -1) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    if (!(v >= min && v <= 1e15))
        luaL_error(L, "bad argument #4 to 'verify' (opts.%s must be a number, at least %d)", name, (int)min);
    return v;
}

/* core.webhook_verify(secret, headers, body [, opts]) -> event | nil, err.
 * headers: any table of header name (any case) -> value (string, or a list of equal strings), or
 * {signature=, timestamp=}. opts: tolerance (seconds, default 300), now (unix seconds, default the
 * clock). Order: headers, signature format, timestamp format, signature, age, JSON. */
static int fb_webhook_verify(lua_State *L) {
    size_t slen, siglen, tlen, blen;
    const char *secret = check_secret(L, 1, &slen);
    const char *sig, *ts, *body;
    unsigned char got[MAC_LEN], want[MAC_LEN];
    int64_t stamp;
    double tolerance, now, age;
    int opts = 0, r;
    luaL_checktype(L, 2, LUA_TTABLE);
    body = luaL_checklstring(L, 3, &blen);
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        opts = 4;
    }
    tolerance = opt_number(L, opts, "tolerance", FB_WEBHOOK_TOLERANCE, 0);
    now = opt_number(L, opts, "now", (double)time(NULL), 0);
    lua_settop(L, 4);

    r = get_header(L, 2, SIG_H, "signature"); /* 5 */
    if (r == 0) return fail(L, "missing_header", "the " SIG_H " header is missing", SIG_H);
    if (r < 0) return fail(L, "malformed_signature", "the " SIG_H " header " REPEATED, SIG_H);
    r = get_header(L, 2, TS_H, "timestamp"); /* 6 */
    if (r == 0) return fail(L, "missing_header", "the " TS_H " header is missing", TS_H);
    if (r < 0) return fail(L, "malformed_timestamp", "the " TS_H " header " REPEATED, TS_H);
    sig = lua_tolstring(L, 5, &siglen);
    ts = lua_tolstring(L, 6, &tlen);

    if (!decode_hex(sig, siglen, got))
        return fail(L, "malformed_signature", "the " SIG_H " header is not 64 hex digits", SIG_H);
    if (!parse_timestamp(ts, tlen, &stamp))
        return fail(L, "malformed_timestamp", "the " TS_H " header is not a whole number of seconds", TS_H);
    if (!compute_mac(L, secret, slen, ts, tlen, body, blen, want))
        return luaL_error(L, "featurebase: HMAC-SHA256 failed in OpenSSL");
    if (CRYPTO_memcmp(got, want, MAC_LEN) != 0)
        return fail(L, "signature_mismatch", "the signature does not match the body, timestamp and secret", SIG_H);

    age = now - (double)stamp;
    if (age > tolerance || -age > tolerance) {
        int old = age > 0;
        char msg[160];
        snprintf(msg, sizeof msg, "the timestamp is %.0f s %s (tolerance %g s)", ceil(old ? age : -age),
                 old ? "old" : "in the future", tolerance);
        fail(L, old ? "timestamp_too_old" : "timestamp_in_future", msg, TS_H);
        lua_pushinteger(L, (lua_Integer)stamp);
        lua_setfield(L, -2, "timestamp");
        return 2;
    }

    r = fb_decode_json(L, 3); /* 7: the event, or cjson's message */
    if (!r || !lua_istable(L, 7) || !starts_object(body, blen)) /* arrays decode to tables too */
        return fail(L, "invalid_json", r ? "the body is not a JSON object" :
                    lua_pushfstring(L, "the body is not a JSON object: %s", lua_tostring(L, 7)), NULL);
    return 1;
}

/* core.webhook_sign(secret, timestamp, body) -> lowercase hex HMAC-SHA256 of timestamp "." body.
 * timestamp: a string used as it is, or a whole number. */
static int fb_webhook_sign(lua_State *L) {
    static const char hex[] = "0123456789abcdef";
    size_t slen, tlen, blen, i;
    const char *secret = check_secret(L, 1, &slen);
    const char *ts, *body;
    unsigned char mac[MAC_LEN];
    char out[FB_WEBHOOK_SIG_HEX];
    luaL_argcheck(L, push_scalar(L, 2), 2, "timestamp must be a string or a whole number of seconds"); /* 4 */
    body = luaL_checklstring(L, 3, &blen);
    ts = lua_tolstring(L, -1, &tlen);
    if (!compute_mac(L, secret, slen, ts, tlen, body, blen, mac))
        return luaL_error(L, "featurebase: HMAC-SHA256 failed in OpenSSL");
    for (i = 0; i < MAC_LEN; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    lua_pushlstring(L, out, sizeof out);
    return 1;
}

void fb_webhook_init(lua_State *L) {
    lua_pushcfunction(L, fb_webhook_verify);
    lua_setfield(L, -2, "webhook_verify");
    lua_pushcfunction(L, fb_webhook_sign);
    lua_setfield(L, -2, "webhook_sign");
    lua_pushinteger(L, FB_WEBHOOK_TOLERANCE);
    lua_setfield(L, -2, "webhook_tolerance");
}
