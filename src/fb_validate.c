#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "fb_validate.h"
#include "fb_error.h"
#include "fb_rules.h"

#define MAX_JSON_DEPTH 32 /* customAttributes and the like: deeper is a mistake (or a cycle) */

/* Records the first failure; the message always starts with the field's path. Returns 0. */
int fb_fail(vctx *c, const char *field, const char *fmt, ...) {
    va_list ap;
    int n;
    snprintf(c->field, sizeof c->field, "%s", field);
    n = snprintf(c->msg, sizeof c->msg, "%s ", field);
    if (n < 0 || (size_t)n >= sizeof c->msg) n = 0;
    va_start(ap, fmt);
    vsnprintf(c->msg + n, sizeof c->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}
#define fail fb_fail

/* ---- checks on plain C strings ------------------------------------------------------------ */

/* Code points in s, or -1 when s is not UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
static long utf8_length(const unsigned char *s, size_t n) {
    size_t i = 0;
    long count = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned long cp;
        if (c < 0x80) {
            /* ASCII, most text: 8 bytes at a time while no byte has its high bit set */
            uint64_t w;
            while (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) i += 8, count += 8;
            if (i < n && s[i] < 0x80) i++, count++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return -1;
        if (n - i <= k) return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += k + 1;
        count++;
    }
    return count;
}

static int is_objectid(const char *s, size_t n) {
    size_t i;
    if (n != FB_OBJECTID_LEN) return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) return 0;
    }
    return 1;
}

static int is_alnum(int ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* An address by the usual `format: email` reading (the OpenAPI description's): a local part of
 * letters, digits and !#$%&'*+/=?^_`{|}~- in dot-separated runs (no dot first, last or twice), one
 * '@', and a host of two or more dot-separated labels of letters, digits and inner hyphens. ASCII
 * only, so nothing can smuggle a second address or a header into one string. */
static int is_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    size_t i, local, label = 0, labels = 1;
    if (n > FB_EMAIL_MAX || !at || at == s) return 0;
    local = (size_t)(at - s);
    if (s[0] == '.' || s[local - 1] == '.') return 0;
    for (i = 0; i < local; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') { if (s[i + 1] == '.') return 0; continue; }
        if (!is_alnum(ch) && !strchr("!#$%&'*+/=?^_`{|}~-", ch)) return 0;
    }
    for (i = local + 1; i <= n; i++) {
        unsigned char ch = i < n ? (unsigned char)s[i] : '.';
        if (ch == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-') return 0;
            if (i < n) labels++;
            label = 0;
        } else if (is_alnum(ch) || (ch == '-' && label > 0)) {
            label++;
        } else return 0;
    }
    return labels >= 2;
}

static int digits(const char *s, int n, int *v) {
    int i;
    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

static int valid_date(int y, int m, int d) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
    return !(m == 2 && d == 29 && !leap);
}

/* RFC 3339 date-time: 2025-01-15T10:30:00Z, with optional fraction and a Z or +hh:mm offset. */
static int is_timestamp(const char *s, size_t n) {
    int y, mo, d, h, mi, sec, oh, om;
    size_t i = 19;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return 0;
    if (!valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 60) return 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == start) return 0;
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        oh = om = 0;
    } else {
        if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return 0;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59) return 0;
        if (s[i] == '-') oh = -oh, om = -om;
    }
    /* second 60 is a leap second: only in the last minute of a UTC day */
    return sec < 60 || ((h * 60 + mi - oh * 60 - om) % 1440 + 1440) % 1440 == 1439;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long days_from_civil(long y, long m, long d) {
    long era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Conversation and part ids: 1-16 letters and digits. They go into URLs as they are, so nothing
 * in them ('/', '..', '?', '#', '%', space) can change which endpoint is called. */
static int is_short_id(const char *s, size_t n) {
    size_t i;
    if (n < 1 || n > FB_SHORT_ID_MAX) return 0;
    for (i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i])) return 0;
    return 1;
}

const char *fb_validate_header_value(const char *s, size_t n) {
    size_t i;
    if (n == 0) return "must not be empty";
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) return "must not contain control characters (CR, LF, NUL, ...)";
    }
    return NULL;
}

const char *fb_validate_version(const char *s, size_t n) {
    int y, m, d;
    size_t i;
    const char *reason = "must look like YYYY-MM-DD.name, e.g. " FB_DEFAULT_VERSION;
    if (n < 12 || s[4] != '-' || s[7] != '-' || s[10] != '.') return reason;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d) || !valid_date(y, m, d))
        return reason;
    for (i = 11; i < n; i++)
        if (s[i] < 'a' || s[i] > 'z') return reason;
    if (memcmp(s, FB_MIN_VERSION, 10) < 0)
        return "must be " FB_DEFAULT_VERSION " or newer: the conversations endpoints do not exist before it";
    return NULL;
}

/* Seconds since 1970 of the timestamp string or Lua time at index i (already validated). */
double fb_timestamp_seconds(lua_State *L, int i) {
    const char *s;
    size_t n, k = 19;
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    double t;
    if (lua_type(L, i) == LUA_TNUMBER) return lua_tonumber(L, i);
    s = lua_tolstring(L, i, &n);
    if (!s || n < 20) return 0;
    digits(s, 4, &y); digits(s + 5, 2, &mo); digits(s + 8, 2, &d);
    digits(s + 11, 2, &h); digits(s + 14, 2, &mi); digits(s + 17, 2, &sec);
    t = (double)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    if (s[k] == '.') {
        double scale = 0.1;
        for (k++; k < n && s[k] >= '0' && s[k] <= '9'; k++, scale /= 10) t += (s[k] - '0') * scale;
    }
    if (k + 6 == n && digits(s + k + 1, 2, &oh) && digits(s + k + 4, 2, &om))
        t -= (s[k] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return t;
}

/* ---- checks on Lua values ----------------------------------------------------------------- */

static int is_null(lua_State *L, int i) {
    return lua_type(L, i) == LUA_TLIGHTUSERDATA && lua_touserdata(L, i) == NULL;
}

/* A value's type for messages: JSON null is named as what the caller wrote. */
static const char *tname(lua_State *L, int i) {
    return is_null(L, i) ? "featurebase.null" : luaL_typename(L, i);
}

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

/* "\"a\", \"b\"" into buf, for messages. */
static const char *list_text(char *buf, size_t size, const char *const *list) {
    size_t n = 0;
    buf[0] = '\0';
    for (; *list && n < size; list++) {
        int w = snprintf(buf + n, size - n, "%s\"%s\"", n ? ", " : "", *list);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

/* The known keys of a schema, for messages. */
static const char *field_names(char *buf, size_t size, const fb_field *f) {
    size_t n = 0;
    buf[0] = '\0';
    for (; f->name && n < size; f++) {
        int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", f->name);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

/* Copies a key into printable ASCII for an error message (keys can hold any bytes). */
const char *fb_validate_printable(const char *s, size_t n, char *buf, size_t size) {
    size_t i;
    if (n == 0) return "\"\""; /* an empty key still gets a visible field name (found by fuzzing) */
    if (n > size - 1) n = size - 1;
    for (i = 0; i < n; i++) buf[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[n] = '\0';
    return buf;
}

static size_t append(char *buf, size_t size, size_t n, const char *s) {
    size_t len = strlen(s);
    if (len > size - 1 - n) len = size - 1 - n;
    memcpy(buf + n, s, len);
    buf[n + len] = '\0';
    return n + len;
}

/* "prefix.name" ("name" when prefix is empty), cut to size: runs for every field of every call,
 * so without snprintf (which cost 6k instructions per create_conversation) */
static void join(char *buf, size_t size, const char *prefix, const char *name) {
    size_t n = append(buf, size, 0, prefix);
    if (*prefix) n = append(buf, size, n, ".");
    append(buf, size, n, name);
}


/* Pushes t[name] (raw: metatables are never consulted) and returns its type. */
static int get(lua_State *L, int t, const char *name) {
    lua_pushstring(L, name);
    lua_rawget(L, t);
    return lua_type(L, -1);
}

const char *fb_field_string(vctx *c, int t, const char *name) {
    const char *s = get(c->L, t, name) == LUA_TSTRING ? lua_tostring(c->L, -1) : NULL;
    lua_pop(c->L, 1); /* the string stays reachable from t */
    return s;
}

int fb_field_present(vctx *c, int t, const char *name) {
    int present = get(c->L, t, name) != LUA_TNIL;
    lua_pop(c->L, 1);
    return present;
}

int fb_field_null(vctx *c, int t, const char *name) {
    int null;
    get(c->L, t, name);
    null = is_null(c->L, -1);
    lua_pop(c->L, 1);
    return null;
}

/* Whether field number i of a schema is in the mask check_keys made (fields past 64: always). */
#define FB_PRESENT(mask, i) ((i) >= 64 || ((mask) >> (i)&1u))

/* Refuses any key the schema does not name: a typo such as body_markdown must not vanish. Marks
 * in *present the fields t has, so that only those are looked up (most fields are optional). */
static int check_keys(vctx *c, int t, const fb_field *fields, const char *prefix, unsigned long long *present) {
    lua_State *L = c->L;
    char name[64], path[sizeof c->field], list[256];
    *present = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const fb_field *f;
        size_t n;
        int i;
        const char *k;
        lua_pop(L, 1); /* the value; the key stays for lua_next */
        if (lua_type(L, -1) != LUA_TSTRING) {
            const char *tn = tname(L, -1);
            lua_pop(L, 1);
            return fail(c, *prefix ? prefix : "params", "has a key of type %s; only these fields are known: %s", tn,
                        field_names(list, sizeof list, fields));
        }
        k = lua_tolstring(L, -1, &n);
        for (f = fields, i = 0; f->name; f++, i++)
            if (f->name[0] == k[0] && strlen(f->name) == n && memcmp(f->name, k, n) == 0) break;
        if (!f->name) {
            join(path, sizeof path, prefix, fb_validate_printable(k, n, name, sizeof name));
            lua_pop(L, 1);
            return fail(c, path, "is not a known field (known here: %s)", field_names(list, sizeof list, fields));
        }
        if (i < 64) *present |= 1ull << i;
    }
    return 1;
}

/* Bytes s takes in JSON, quotes and escapes included. */
static size_t json_size(const char *s, size_t n) {
    size_t i, m = n + 2;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b' || ch == '\f') m += 1;
        else if (ch < 0x20 || ch == 0x7f) m += 5;
    }
    return m;
}

/* Whether a string of n bytes still fits in the body: checked before anything is scanned or
 * copied, so a 50 MiB string costs nothing. The body written so far counts too. */
static int fits(vctx *c, const char *path, const char *s, size_t n) {
    size_t room = c->limit - (c->out->len < c->limit ? c->out->len : c->limit);
    if (n + 2 <= room && (n < room / 6 || json_size(s, n) * (c->query ? 3 : 1) <= room)) return 1;
    return fail(c, path, "is too large: the request body would pass max_request_size (%lu bytes)",
                (unsigned long)c->limit);
}

/* A string that is valid UTF-8 with no NUL byte; its length in code points goes to *cps. */
static int check_text(vctx *c, int i, const char *path, const char **s, size_t *n, long *cps) {
    long len;
    if (lua_type(c->L, i) != LUA_TSTRING)
        return fail(c, path, "must be a string, got %s", tname(c->L, i));
    *s = lua_tolstring(c->L, i, n);
    if (!fits(c, path, *s, *n)) return 0;
    if (memchr(*s, '\0', *n)) return fail(c, path, "must not contain NUL bytes");
    len = utf8_length((const unsigned char *)*s, *n);
    if (len < 0) return fail(c, path, "must be valid UTF-8");
    if (cps) *cps = len;
    return 1;
}

/* ---- writing: JSON, or a query string ----------------------------------------------------- */

static int emit(vctx *c, const char *s) {
    if (!fb_buf_addstr(c->out, s)) c->oom = 1;
    return !c->oom;
}

/* A key: "key": in JSON (with the comma before it unless first), key= in a query. */
static int emit_key(vctx *c, const char *key) {
    fb_buf *b = c->out;
    if (c->query) return (b->len == c->qstart || emit(c, "&")) && emit(c, key) && emit(c, "=");
    if (b->len && b->data[b->len - 1] != '{' && b->data[b->len - 1] != '[' && !emit(c, ",")) return 0;
    /* the schema's own names: plain ASCII, nothing to escape */
    if (!fb_buf_add(b, "\"", 1) || !fb_buf_addstr(b, key) || !fb_buf_add(b, "\":", 2)) c->oom = 1;
    return !c->oom;
}

/* A key of a JSON object being written (any bytes: it is checked to be UTF-8 first). */
static int emit_json_key(vctx *c, const char *s, size_t n) {
    fb_buf *b = c->out;
    if (b->data[b->len - 1] != '{' && !emit(c, ",")) return 0;
    if (!fb_buf_json_string(b, s, n) || !fb_buf_add(b, ":", 1)) c->oom = 1;
    return !c->oom;
}

/* Percent-encodes all but RFC 3986's unreserved letters, digits and "-_~" ('.' too, so that no
 * path segment can be read as "." or ".."). */
static int percent_encode(fb_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[3];
        if (is_alnum(ch) || ch == '-' || ch == '_' || ch == '~') {
            if (!fb_buf_add(b, s + i, 1)) return 0;
            continue;
        }
        esc[0] = '%'; esc[1] = hex[ch >> 4]; esc[2] = hex[ch & 15];
        if (!fb_buf_add(b, esc, 3)) return 0;
    }
    return 1;
}

static int emit_string(vctx *c, const char *s, size_t n) {
    if (!(c->query ? percent_encode(c->out, s, n) : fb_buf_json_string(c->out, s, n))) c->oom = 1;
    return !c->oom;
}

int fb_emit_field(vctx *c, const char *key, const char *s, size_t n) {
    return emit_key(c, key) && emit_string(c, s, n);
}

static int emit_number(vctx *c, lua_Number x) {
    char num[40];
    if (x == floor(x) && fabs(x) < 9007199254740992.0) snprintf(num, sizeof num, "%.0f", (double)x);
    else snprintf(num, sizeof num, "%.17g", (double)x);
    return emit(c, num);
}

/* ---- values ------------------------------------------------------------------------------- */

/* Lua 5.3+ integers past 2^53 have no exact double, so JSON (read as doubles) would change them. */
static int exact_number(lua_State *L, int i) {
    if (fb_isinteger(L, i)) {
        lua_Number x = (lua_Number)lua_tointeger(L, i);
        return fabs(x) <= 9007199254740992.0 && (lua_Integer)x == lua_tointeger(L, i);
    }
    return 1;
}

static int check_object(vctx *c, int t, const fb_schema *s, const char *prefix);

/* Any JSON value (customAttributes): tables with keys 1..n are arrays, others objects with string
 * keys; featurebase.null is null. prims: 1 = primitives or arrays of primitives (customFields). */
static int json_value(vctx *c, int i, const char *path, int depth, int prims) {
    lua_State *L = c->L;
    const char *s;
    size_t n, len, count = 0, k;
    char item[sizeof c->field];
    i = fb_absindex(L, i);
    switch (lua_type(L, i)) {
    case LUA_TBOOLEAN: return emit(c, lua_toboolean(L, i) ? "true" : "false");
    case LUA_TNUMBER:
        if (!isfinite(lua_tonumber(L, i))) return fail(c, path, "must be a finite number (JSON has no NaN or infinity)");
        if (!exact_number(L, i)) return fail(c, path, "must be an integer of at most 2^53 in size (what JSON carries exactly)");
        return emit_number(c, lua_tonumber(L, i));
    case LUA_TSTRING: return check_text(c, i, path, &s, &n, NULL) && emit_string(c, s, n);
    case LUA_TLIGHTUSERDATA:
        if (is_null(L, i)) return emit(c, "null");
        break;
    case LUA_TTABLE:
        if (depth > MAX_JSON_DEPTH || !lua_checkstack(L, 6))
            return fail(c, path, "is nested too deeply (more than %d levels, or a table that contains itself)", MAX_JSON_DEPTH);
        len = fb_rawlen(L, i);
        lua_pushnil(L);
        while (lua_next(L, i)) { lua_pop(L, 1); count++; }
        if (len > 0 && count == len) { /* an array */
            if (prims == 2) return fail(c, path, "must hold primitives only (a string, number, boolean or featurebase.null)");
            if (!emit(c, "[")) return 0;
            for (k = 1; k <= len; k++) {
                snprintf(item, sizeof item, "%s[%lu]", path, (unsigned long)k);
                lua_rawgeti(L, i, (int)k);
                if ((k > 1 && !emit(c, ",")) || !json_value(c, -1, item, depth + 1, prims ? 2 : 0)) return 0;
                lua_pop(L, 1);
            }
            return emit(c, "]");
        }
        if (prims) return fail(c, path, "must be a string, number, boolean, featurebase.null or an array of those");
        if (!emit(c, "{")) return 0;
        lua_pushnil(L);
        while (lua_next(L, i)) {
            char name[64];
            if (lua_type(L, -2) != LUA_TSTRING)
                return fail(c, path, "mixes array items and named keys, or has a key of type %s: "
                                     "a JSON object needs string keys", tname(L, -2));
            s = lua_tolstring(L, -2, &n);
            join(item, sizeof item, path, fb_validate_printable(s, n, name, sizeof name));
            if (utf8_length((const unsigned char *)s, n) < 0 || memchr(s, '\0', n))
                return fail(c, item, "is a key that is not valid UTF-8 text");
            if (!emit_json_key(c, s, n) || !json_value(c, -1, item, depth + 1, 0)) return 0;
            lua_pop(L, 1);
        }
        return emit(c, "}");
    default: break;
    }
    return fail(c, path, "must be a JSON value (string, number, boolean, table or featurebase.null), got %s",
                tname(L, i));
}

/* A map of string keys (customAttributes, customFields): the keys, then each value as above. */
static int json_map(vctx *c, int i, const char *path, int prims) {
    lua_State *L = c->L;
    char item[sizeof c->field], name[64];
    i = fb_absindex(L, i);
    if (!lua_istable(L, i)) return fail(c, path, "must be a table of named values, got %s", tname(L, i));
    if (!lua_checkstack(L, 6)) return fail(c, path, "is nested too deeply");
    if (!emit(c, "{")) return 0;
    lua_pushnil(L);
    while (lua_next(L, i)) {
        const char *s;
        size_t n;
        if (lua_type(L, -2) != LUA_TSTRING)
            return fail(c, path, "has a key of type %s: its keys are names (strings)", tname(L, -2));
        s = lua_tolstring(L, -2, &n);
        join(item, sizeof item, path, fb_validate_printable(s, n, name, sizeof name));
        if (n == 0 || utf8_length((const unsigned char *)s, n) < 0 || memchr(s, '\0', n))
            return fail(c, item, "is a key that is not valid, non-empty UTF-8 text");
        if (!emit_json_key(c, s, n) || !json_value(c, -1, item, 1, prims)) return 0;
        lua_pop(L, 1);
    }
    return emit(c, "}");
}

/* "from 1 to 500 characters" style bounds, for messages. */
static void bounds_text(char *buf, size_t size, const fb_field *f, const char *unit) {
    if (f->max > 0 && f->min > 0) snprintf(buf, size, "%.0f to %.0f %s", f->min, f->max, unit);
    else if (f->max > 0) snprintf(buf, size, "at most %.0f %s", f->max, unit);
    else snprintf(buf, size, "at least %.0f %s", f->min, unit);
}

/* A scalar path argument or field value of the kinds that are strings. Leaves s, n. */
static int check_string_kind(vctx *c, int i, const fb_field *f, const char *path, const char **s, size_t *n) {
    long cps;
    char list[256], range[64];
    if (!check_text(c, i, path, s, n, &cps)) return 0;
    switch (f->kind) {
    case FB_STRING:
        if ((f->min > 0 && cps < (long)f->min) || (f->max > 0 && cps > (long)f->max)) {
            if (f->min == 1 && cps == 0 && f->max == 0) return fail(c, path, "must not be empty");
            bounds_text(range, sizeof range, f, "characters");
            return fail(c, path, "must be %s, got %ld", range, cps);
        }
        return 1;
    case FB_ENUM:
        if (!in_list(*s, (const char *const *)f->sub))
            return fail(c, path, "must be one of %s", list_text(list, sizeof list, (const char *const *)f->sub));
        return 1;
    case FB_OBJECTID:
        if (!is_objectid(*s, *n)) return fail(c, path, "must be a %d-character hexadecimal ObjectId", FB_OBJECTID_LEN);
        return 1;
    case FB_SHORTID:
        if (!is_short_id(*s, *n)) return fail(c, path, "must be 1 to %d letters and digits", FB_SHORT_ID_MAX);
        return 1;
    case FB_EMAIL:
        if ((f->max > 0 && *n > (size_t)f->max) || !is_email(*s, *n))
            return fail(c, path, "must be a valid email address (name@example.com: ASCII, no spaces, "
                                 "no dot first, last or twice in the name)");
        return 1;
    case FB_TIMESTAMP:
        if (!is_timestamp(*s, *n))
            return fail(c, path, "must be an ISO 8601 / RFC 3339 timestamp such as 2025-01-15T10:30:00.000Z, "
                                 "or a Lua time (os.time())");
        return 1;
    case FB_URI:
        if ((strncmp(*s, "https://", 8) != 0 && strncmp(*s, "http://", 7) != 0) || (f->max > 0 && *n > (size_t)f->max) ||
            fb_validate_header_value(*s, *n) || memchr(*s, ' ', *n))
            return fail(c, path, "must be an http(s) URL without spaces");
        return 1;
    default: return fail(c, path, "has a kind the validator does not know (a bug)");
    }
}

/* A Lua time as the API's timestamp: 2025-01-15T10:30:00.000Z (UTC, milliseconds). */
static int emit_lua_time(vctx *c, int i, const char *path) {
    lua_Number t = lua_tonumber(c->L, i);
    char iso[80];
    time_t sec;
    struct tm tm;
    long ms;
    if (!(t >= 0 && t < 253402300800.0))
        return fail(c, path, "must be an ISO 8601 string or a Lua time (os.time()) from 1970 to 9999, got the number %g", (double)t);
    sec = (time_t)floor(t);
    ms = (long)floor((t - (lua_Number)sec) * 1000 + 0.5);
    if (ms >= 1000) sec++, ms = 0;
    gmtime_r(&sec, &tm);
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return emit_string(c, iso, strlen(iso));
}

/* Checks the value at i against field f and writes it (its key is already written). */
static int value(vctx *c, int i, const fb_field *f, const char *path) {
    lua_State *L = c->L;
    const char *s;
    size_t n;
    char range[64];
    i = fb_absindex(L, i);
    switch (f->kind) {
    case FB_BOOLEAN:
        if (!lua_isboolean(L, i)) return fail(c, path, "must be a boolean, got %s", tname(L, i));
        return emit(c, lua_toboolean(L, i) ? "true" : "false");
    case FB_NUMBER:
    case FB_INTEGER: {
        lua_Number x = lua_tonumber(L, i);
        const char *what = f->kind == FB_INTEGER ? "whole number" : "number";
        if (lua_type(L, i) != LUA_TNUMBER) return fail(c, path, "must be a %s, got %s", what, tname(L, i));
        if (!exact_number(L, i)) return fail(c, path, "must be an integer of at most 2^53 in size (what JSON carries exactly)");
        if (!isfinite(x) || (f->kind == FB_INTEGER && x != floor(x)) || x < f->min || (f->max > 0 && x > f->max)) {
            if (f->max > 0) snprintf(range, sizeof range, "from %.0f to %.0f", f->min, f->max);
            else snprintf(range, sizeof range, "of %.0f or more", f->min);
            return fail(c, path, "must be a %s %s, got %g", what, range, (double)x);
        }
        return emit_number(c, x);
    }
    case FB_TIMESTAMP:
        if (lua_type(L, i) == LUA_TNUMBER) return emit_lua_time(c, i, path);
        return check_string_kind(c, i, f, path, &s, &n) && emit_string(c, s, n);
    case FB_OBJECT:
        if (!lua_istable(L, i)) return fail(c, path, "must be a table, got %s", tname(L, i));
        return check_object(c, i, (const fb_schema *)f->sub, path);
    case FB_JSON: return json_map(c, i, path, 0);
    case FB_PRIMITIVES: return json_map(c, i, path, 1);
    case FB_ARRAY: {
        const fb_field *item = (const fb_field *)f->sub;
        char at[sizeof c->field];
        size_t len, count = 0, k;

        if (c->query && (f->flags & FB_CSV) && lua_type(L, i) == LUA_TSTRING) { /* "a,b": each one checked */
            const char *all = lua_tolstring(L, i, &n), *end = all + n;
            size_t piece = 1;
            for (s = all;; piece++) {
                const char *comma = memchr(s, ',', (size_t)(end - s));
                snprintf(at, sizeof at, "%s[%lu]", path, (unsigned long)piece);
                lua_pushlstring(L, s, comma ? (size_t)(comma - s) : (size_t)(end - s));
                if ((piece > 1 && !emit(c, ",")) || !value(c, -1, item, at)) return 0;
                lua_pop(L, 1);
                if (!comma) return 1;
                s = comma + 1;
            }
        }
        if (!lua_istable(L, i)) return fail(c, path, "must be an array of values, got %s", tname(L, i));
        len = fb_rawlen(L, i);
        lua_pushnil(L);
        while (lua_next(L, i)) { lua_pop(L, 1); count++; }
        if (count != len) return fail(c, path, "must be an array (a sequence 1..n with no other keys)");
        if ((f->min > 0 && len < (size_t)f->min) || (f->max > 0 && len > (size_t)f->max)) {
            bounds_text(range, sizeof range, f, "items");
            return fail(c, path, "must hold %s, got %lu", range, (unsigned long)len);
        }
        if (!c->query && !emit(c, "[")) return 0;
        for (k = 1; k <= len; k++) {
            snprintf(at, sizeof at, "%s[%lu]", path, (unsigned long)k);
            lua_rawgeti(L, i, (int)k);
            if (k > 1 && !emit(c, ",")) return 0;
            if (!value(c, -1, item, at)) return 0;
            lua_pop(L, 1);
        }
        return c->query || emit(c, "]");
    }
    default:
        return check_string_kind(c, i, f, path, &s, &n) && emit_string(c, s, n);
    }
}

/* A table checked and written against schema s: every field in order, then the schema's rule. */
static int check_object(vctx *c, int t, const fb_schema *s, const char *prefix) {
    lua_State *L = c->L;
    const fb_field *f;
    char path[sizeof c->field];
    unsigned long long present;
    int i;
    t = fb_absindex(L, t);
    if (!lua_checkstack(L, 8)) return fail(c, *prefix ? prefix : "params", "is nested too deeply");
    if (!check_keys(c, t, s->fields, prefix, &present)) return 0;
    if (!c->query && !emit(c, "{")) return 0;
    for (f = s->fields, i = 0; f->name; f++, i++) {
        if (!FB_PRESENT(present, i) || get(L, t, f->name) == LUA_TNIL) {
            if (FB_PRESENT(present, i)) lua_pop(L, 1);
            if (!(f->flags & FB_REQUIRED)) continue;
            join(path, sizeof path, prefix, f->name);
            return fail(c, path, "is required%s%s", f->doc ? ": " : "", f->doc ? f->doc : "");
        }
        join(path, sizeof path, prefix, f->name);
        if (is_null(L, -1)) {
            if (!(f->flags & FB_NULLABLE))
                return fail(c, path, "cannot be featurebase.null (only fields the API lets you clear can)");
            if (!emit_key(c, f->name) || !emit(c, "null")) return 0;
        } else if (!emit_key(c, f->name) || !value(c, -1, f, path)) {
            return 0;
        }
        lua_pop(L, 1);
    }
    if (s->rule && !s->rule(c, t, prefix)) return 0;
    return c->query || emit(c, "}");
}

/* Writes the path: the endpoint's template with each {name} replaced by its checked argument. */
static int build_path(vctx *c, const fb_endpoint *ep, int args) {
    const char *p = ep->path;
    const fb_field *a = ep->args;
    while (*p) {
        const char *open = strchr(p, '{'), *s;
        size_t n;
        if (!open) return emit(c, p);
        if (!fb_buf_add(c->out, p, (size_t)(open - p))) { c->oom = 1; return 0; }
        if (lua_isnoneornil(c->L, args)) return fail(c, a->name, "is required: %s", a->doc);
        if (!check_string_kind(c, args, a, a->name, &s, &n)) return 0;
        if (!percent_encode(c->out, s, n)) { c->oom = 1; return 0; }
        p = strchr(open, '}') + 1;
        a++, args++;
    }
    return 1;
}

int fb_validate_request(lua_State *L, const fb_endpoint *ep, int p, int args, size_t limit) {
    vctx c;
    int base = lua_gettop(L), ok, has_params = p && !lua_isnoneornil(L, p);
    memset(&c, 0, sizeof c);
    c.L = L;
    c.limit = limit;
    luaL_checkstack(L, 24, "featurebase: params nested too deeply");
    c.out = fb_buf_scratch(L);
    ok = build_path(&c, ep, args);
    if (ok && ep->query && has_params) { /* "?k=v&..." after the path; none when nothing is set */
        size_t at = c.out->len;
        c.query = 1;
        c.qstart = at + 1;
        ok = emit(&c, "?") && check_object(&c, p, ep->query, "");
        if (ok && c.out->len == c.qstart) c.out->len = at;
        c.query = 0;
    }
    if (ok) lua_pushlstring(L, c.out->data, c.out->len); /* the path */
    if (ok && ep->body) {
        c.out->len = 0;
        if (has_params) {
            ok = check_object(&c, p, ep->body, "");
        } else if (ep->params == FB_PARAMS_REQUIRED) {
            ok = fail(&c, "params", "are required: a table");
        } else {
            ok = emit(&c, "{}");
        }
        if (ok && c.out->len > limit) /* the few bytes of keys and brackets after the last string */
            ok = fail(&c, "params", "make a request body of %lu bytes, more than max_request_size (%lu bytes)",
                      (unsigned long)c.out->len, (unsigned long)limit);
    }
    if (!ok) {
        lua_settop(L, base); /* drop what the checks left behind */
        if (c.oom) return luaL_error(L, "featurebase: not enough memory to build the request");
        fb_error_return(L, "invalid_request", c.msg);
        fb_error_setfield(L, "field", c.field);
        return 2;
    }
    lua_settop(L, base + 1); /* the path */
    lua_pushstring(L, ep->method);
    lua_insert(L, base + 1);
    if (ep->body) lua_pushlstring(L, c.out->data, c.out->len);
    else lua_pushnil(L);
    lua_pushboolean(L, ep->safe);
    if (c.out->cap > 1024 * 1024) fb_buf_free(c.out); /* one big body must not pin its memory for ever */
    return 4;
}
