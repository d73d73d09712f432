#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "fb_validate.h"
#include "fb_buf.h"
#include "fb_error.h"
#include "fb_rules.h"

/* The state of one validation: the Lua state, the body being written, and the first failure. */
typedef struct vctx {
    lua_State *L;
    fb_buf *out;
    size_t limit; /* max_request_size: the body may not grow past it */
    int oom;
    char field[128];
    char msg[384];
} vctx;

static const char *const create_keys[] = FB_LIST(FB_CREATE_KEYS);
static const char *const from_keys[] = FB_LIST(FB_FROM_KEYS);
static const char *const recipients_keys[] = FB_LIST(FB_RECIPIENTS_KEYS);
static const char *const email_recipients_keys[] = FB_LIST(FB_EMAIL_RECIPIENTS_KEYS);
static const char *const reply_keys[] = FB_LIST(FB_REPLY_KEYS);
static const char *const author_types[] = FB_LIST(FB_AUTHOR_TYPES);
static const char *const channels[] = FB_LIST(FB_CHANNELS);
static const char *const contact_message_types[] = FB_LIST(FB_CONTACT_MESSAGE_TYPES);
static const char *const admin_message_types[] = FB_LIST(FB_ADMIN_MESSAGE_TYPES);

/* Records the first failure; the message always starts with the field's path. Returns 0. */
static int fail(vctx *c, const char *field, const char *fmt, ...) {
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
        if (c < 0x80) { i++; count++; continue; }
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

/* Plausible, not RFC 5322: one '@' with something on each side, no white space, no control
 * characters and none of the separators that would smuggle a second address into one string. */
static int is_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    size_t i;
    if (n > FB_EMAIL_MAX || !at || at == s || at == s + n - 1) return 0;
    if (memchr(at + 1, '@', n - (size_t)(at - s) - 1)) return 0;
    if (at[1] == '.' || s[n - 1] == '.') return 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7f || strchr(",;<>\"()[]\\", ch)) return 0;
    }
    return 1;
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
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) return 1;
    if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return 0;
    return digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
}

/* The path id goes into the URL: only characters that need no escaping, so no '/', '..', '?',
 * '#', '%' or space can ever change which endpoint is called. */
static int is_conversation_id(const char *s, size_t n) {
    size_t i;
    if (n < 1 || n > FB_CONVERSATION_ID_MAX) return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_'))
            return 0;
    }
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

/* ---- checks on Lua values ----------------------------------------------------------------- */

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

/* "one of \"a\", \"b\"" into buf, for messages. */
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

/* Copies a key into printable ASCII for an error message (keys can hold any bytes). */
const char *fb_validate_printable(const char *s, size_t n, char *buf, size_t size) {
    size_t i;
    if (n == 0) return "\"\""; /* an empty key still gets a visible field name (found by fuzzing) */
    if (n > size - 1) n = size - 1;
    for (i = 0; i < n; i++) buf[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[n] = '\0';
    return buf;
}

static int join(char *buf, size_t size, const char *prefix, const char *name) {
    snprintf(buf, size, "%s%s%s", prefix, *prefix ? "." : "", name);
    return 1;
}

/* Refuses any key not in allowed, by name: a typo such as body_markdown must not vanish. */
static int check_keys(vctx *c, int t, const char *const *allowed, const char *prefix) {
    lua_State *L = c->L;
    char name[64], path[sizeof c->field], list[256];
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1); /* the value; the key stays for lua_next */
        if (lua_type(L, -1) != LUA_TSTRING) {
            const char *what = *prefix ? prefix : "params";
            const char *tn = luaL_typename(L, -1);
            lua_pop(L, 1);
            return fail(c, what, "has a key of type %s; only these fields are known: %s", tn,
                        list_text(list, sizeof list, allowed));
        } else {
            size_t n;
            const char *k = lua_tolstring(L, -1, &n);
            if (strlen(k) != n || !in_list(k, allowed)) {
                join(path, sizeof path, prefix, fb_validate_printable(k, n, name, sizeof name));
                lua_pop(L, 1);
                return fail(c, path, "is not a known field (known here: %s)", list_text(list, sizeof list, allowed));
            }
        }
    }
    return 1;
}

/* Pushes t[name] (raw: metatables are never consulted) and returns its type. */
static int get(lua_State *L, int t, const char *name) {
    lua_pushstring(L, name);
    lua_rawget(L, t);
    return lua_type(L, -1);
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
    if (n + 2 <= room && (n < room / 6 || json_size(s, n) <= room)) return 1;
    return fail(c, path, "is too large: the request body would pass max_request_size (%lu bytes)",
                (unsigned long)c->limit);
}

/* A string that is valid UTF-8 with no NUL byte; its length in code points goes to *cps. */
static int check_text(vctx *c, int i, const char *path, const char **s, size_t *n, long *cps) {
    long len;
    if (lua_type(c->L, i) != LUA_TSTRING)
        return fail(c, path, "must be a string, got %s", luaL_typename(c->L, i));
    *s = lua_tolstring(c->L, i, n);
    if (!fits(c, path, *s, *n)) return 0;
    if (memchr(*s, '\0', *n)) return fail(c, path, "must not contain NUL bytes");
    len = utf8_length((const unsigned char *)*s, *n);
    if (len < 0) return fail(c, path, "must be valid UTF-8");
    if (cps) *cps = len;
    return 1;
}

static int check_enum(vctx *c, int i, const char *path, const char *const *values, const char **s) {
    size_t n;
    char list[128];
    if (!check_text(c, i, path, s, &n, NULL)) return 0;
    if (!in_list(*s, values)) return fail(c, path, "must be one of %s", list_text(list, sizeof list, values));
    return 1;
}

static int check_objectid(vctx *c, int i, const char *path, const char **s, size_t *n) {
    if (!check_text(c, i, path, s, n, NULL)) return 0;
    if (!is_objectid(*s, *n)) return fail(c, path, "must be a 24-character hexadecimal ObjectId");
    return 1;
}

/* ---- the JSON body, written as it is checked ---------------------------------------------- */

static int emit(vctx *c, const char *s) {
    if (!fb_buf_addstr(c->out, s)) c->oom = 1;
    return !c->oom;
}

static int emit_key(vctx *c, const char *key) {
    fb_buf *b = c->out;
    if (b->len && b->data[b->len - 1] != '{' && !emit(c, ",")) return 0;
    if (!fb_buf_json_string(b, key, strlen(key))) c->oom = 1;
    return !c->oom && emit(c, ":");
}

static int emit_string(vctx *c, const char *s, size_t n) {
    if (!fb_buf_json_string(c->out, s, n)) c->oom = 1;
    return !c->oom;
}

static int emit_field(vctx *c, const char *key, const char *s, size_t n) {
    return emit_key(c, key) && emit_string(c, s, n);
}

/* A required, non-empty bodyMarkdown. */
static int body_markdown(vctx *c, int p) {
    const char *s;
    size_t n;
    if (get(c->L, p, "bodyMarkdown") == LUA_TNIL)
        return fail(c, "bodyMarkdown", "is required: the message, in markdown");
    if (!check_text(c, -1, "bodyMarkdown", &s, &n, NULL)) return 0;
    if (n == 0) return fail(c, "bodyMarkdown", "must not be empty");
    emit_field(c, "bodyMarkdown", s, n);
    lua_pop(c->L, 1);
    return !c->oom;
}

/* emails or ids of an EmailRecipients object: an array (keys 1..n) of checked strings.
 * Returns the count, or -1 on failure. */
static long recipient_list(vctx *c, int r, const char *prefix, const char *key) {
    lua_State *L = c->L;
    char path[96], item[112];
    size_t len, count = 0, i;
    int is_ids = key[0] == 'i';
    join(path, sizeof path, prefix, key);
    if (get(L, r, key) == LUA_TNIL) { lua_pop(L, 1); return 0; }
    if (!lua_istable(L, -1))
        return fail(c, path, "must be an array of strings, got %s", luaL_typename(L, -1)) - 1;
    len = fb_rawlen(L, -1);
    lua_pushnil(L);
    while (lua_next(L, -2)) { lua_pop(L, 1); count++; }
    if (count != len) return fail(c, path, "must be an array (a sequence 1..n with no other keys)") - 1;
    if (!emit_key(c, key) || !emit(c, "[")) return -1;
    for (i = 1; i <= len; i++) {
        const char *s;
        size_t n;
        snprintf(item, sizeof item, "%s[%lu]", path, (unsigned long)i);
        lua_rawgeti(L, -1, (int)i);
        if (is_ids) {
            if (!check_objectid(c, -1, item, &s, &n)) return -1;
        } else {
            if (!check_text(c, -1, item, &s, &n, NULL)) return -1;
            if (!is_email(s, n))
                return fail(c, item, "must be a plausible email address (one @, no spaces or control characters)") - 1;
        }
        if ((i > 1 && !emit(c, ",")) || !emit_string(c, s, n)) return -1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return emit(c, "]") ? (long)len : -1;
}

/* recipients.to / .cc / .bcc: {emails = {...}, ids = {...}} with at least one of either. */
static int email_recipients(vctx *c, int rs, const char *key) {
    lua_State *L = c->L;
    char path[64];
    int r;
    long emails, ids;
    join(path, sizeof path, "recipients", key);
    if (get(L, rs, key) == LUA_TNIL) {
        lua_pop(L, 1);
        if (key[0] == 't') return fail(c, path, "is required: {emails = {...}, ids = {...}} with at least one recipient");
        return 1;
    }
    if (!lua_istable(L, -1)) return fail(c, path, "must be a table {emails = {...}, ids = {...}}, got %s", luaL_typename(L, -1));
    r = lua_gettop(L);
    if (!check_keys(c, r, email_recipients_keys, path)) return 0;
    if (!emit_key(c, key) || !emit(c, "{")) return 0;
    if ((emails = recipient_list(c, r, path, "emails")) < 0) return 0;
    if ((ids = recipient_list(c, r, path, "ids")) < 0) return 0;
    if (emails + ids == 0) return fail(c, path, "must name at least one recipient in emails or ids");
    lua_pop(L, 1);
    return emit(c, "}");
}

static int recipients(vctx *c, int p, int is_admin) {
    lua_State *L = c->L;
    int rs;
    if (get(L, p, "recipients") == LUA_TNIL) {
        lua_pop(L, 1);
        if (is_admin) return fail(c, "recipients", "is required when from.type is \"admin\" (who the outreach goes to)");
        return 1;
    }
    if (!is_admin) return fail(c, "recipients", "is only for admin outreach; a contact's conversation has no recipients");
    if (!lua_istable(L, -1)) return fail(c, "recipients", "must be a table {to = ..., cc = ..., bcc = ...}, got %s", luaL_typename(L, -1));
    rs = lua_gettop(L);
    if (!check_keys(c, rs, recipients_keys, "recipients")) return 0;
    if (!emit_key(c, "recipients") || !emit(c, "{")) return 0;
    if (!email_recipients(c, rs, "to") || !email_recipients(c, rs, "cc") || !email_recipients(c, rs, "bcc"))
        return 0;
    lua_pop(L, 1);
    return emit(c, "}");
}

/* POST /v2/conversations */
static int validate_create(vctx *c, int p) {
    lua_State *L = c->L;
    const char *type, *id, *channel = NULL, *s;
    size_t n, idn;
    long cps;
    int f, is_admin;
    if (!check_keys(c, p, create_keys, "")) return 0;
    if (!emit(c, "{")) return 0;

    if (get(L, p, "from") == LUA_TNIL)
        return fail(c, "from", "is required: {type = \"contact\" or \"admin\", id = <24-hex ObjectId>}");
    if (!lua_istable(L, -1)) return fail(c, "from", "must be a table {type = ..., id = ...}, got %s", luaL_typename(L, -1));
    f = lua_gettop(L);
    if (!check_keys(c, f, from_keys, "from")) return 0;
    if (get(L, f, "type") == LUA_TNIL) return fail(c, "from.type", "is required: \"contact\" or \"admin\"");
    if (!check_enum(c, -1, "from.type", author_types, &type)) return 0;
    if (get(L, f, "id") == LUA_TNIL) return fail(c, "from.id", "is required: the %s's 24-character ObjectId", type);
    if (!check_objectid(c, -1, "from.id", &id, &idn)) return 0;
    is_admin = strcmp(type, "admin") == 0;
    if (!emit_key(c, "from") || !emit(c, "{") || !emit_field(c, "type", type, strlen(type)) ||
        !emit_field(c, "id", id, idn) || !emit(c, "}"))
        return 0;
    lua_pop(L, 3);

    if (!body_markdown(c, p)) return 0;

    if (get(L, p, "channel") != LUA_TNIL) {
        if (!check_enum(c, -1, "channel", channels, &channel)) return 0;
        if (!emit_field(c, "channel", channel, strlen(channel))) return 0;
    }
    lua_pop(L, 1);

    if (get(L, p, "subject") != LUA_TNIL) {
        if (!check_text(c, -1, "subject", &s, &n, &cps)) return 0;
        if (cps > FB_SUBJECT_MAX) return fail(c, "subject", "must be at most %d characters, got %ld", FB_SUBJECT_MAX, cps);
        if (!emit_field(c, "subject", s, n)) return 0;
    } else if (is_admin && channel && strcmp(channel, "email") == 0) {
        return fail(c, "subject", "is required when an admin writes on the email channel");
    }
    lua_pop(L, 1);

    if (!recipients(c, p, is_admin)) return 0;

    if (get(L, p, "createdAt") != LUA_TNIL) {
        if (!check_text(c, -1, "createdAt", &s, &n, NULL)) return 0;
        if (!is_timestamp(s, n))
            return fail(c, "createdAt", "must be an ISO 8601 / RFC 3339 timestamp such as 2025-01-15T10:30:00.000Z");
        if (!emit_field(c, "createdAt", s, n)) return 0;
    }
    lua_pop(L, 1);
    return emit(c, "}");
}

/* POST /v2/conversations/{id}/reply */
static int validate_reply(vctx *c, int p) {
    lua_State *L = c->L;
    const char *type, *s, *mtype;
    size_t n;
    long cps;
    int is_admin, has_id = 0;
    if (!check_keys(c, p, reply_keys, "")) return 0;
    if (!emit(c, "{")) return 0;

    if (get(L, p, "type") == LUA_TNIL) return fail(c, "type", "is required: \"contact\" or \"admin\"");
    if (!check_enum(c, -1, "type", author_types, &type)) return 0;
    is_admin = strcmp(type, "admin") == 0;
    if (!emit_field(c, "type", type, strlen(type))) return 0;

    if (get(L, p, "id") != LUA_TNIL) {
        if (!check_objectid(c, -1, "id", &s, &n)) return 0;
        if (!emit_field(c, "id", s, n)) return 0;
        has_id = 1;
    } else if (is_admin) {
        return fail(c, "id", "is required for an admin reply: the admin's 24-character ObjectId");
    }
    lua_pop(L, 1);

    if (get(L, p, "userId") != LUA_TNIL) {
        if (is_admin) return fail(c, "userId", "is only for contact replies; an admin is named by id");
        if (!check_text(c, -1, "userId", &s, &n, &cps)) return 0;
        if (n == 0 || cps > FB_USERID_MAX) return fail(c, "userId", "must be 1 to %d characters, got %ld", FB_USERID_MAX, cps);
        if (!emit_field(c, "userId", s, n)) return 0;
    } else if (!is_admin && !has_id) {
        return fail(c, "id", "or userId is required for a contact reply (the contact's ObjectId, or your own user id)");
    }
    lua_pop(L, 1);

    if (!body_markdown(c, p)) return 0;

    if (get(L, p, "messageType") == LUA_TNIL)
        return fail(c, "messageType", is_admin ? "is required: \"reply\" or \"note\"" : "is required: \"reply\"");
    if (!check_enum(c, -1, "messageType", is_admin ? admin_message_types : contact_message_types, &mtype)) {
        if (!is_admin && lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "note") == 0)
            return fail(c, "messageType", "must be \"reply\" for a contact: only admins write internal notes");
        return 0;
    }
    if (!emit_field(c, "messageType", mtype, strlen(mtype))) return 0;
    lua_pop(L, 1);

    if (get(L, p, "skipNotifications") != LUA_TNIL) {
        if (!lua_isboolean(L, -1))
            return fail(c, "skipNotifications", "must be a boolean, got %s", luaL_typename(L, -1));
        if (!emit_key(c, "skipNotifications") || !emit(c, lua_toboolean(L, -1) ? "true" : "false")) return 0;
    }
    lua_pop(L, 1);
    return emit(c, "}");
}

/* Runs a validator over the params at index p; on success pushes the body, else nil, err.
 * limit is max_request_size in bytes. */
static int run(lua_State *L, int p, int (*validate)(vctx *, int), size_t limit) {
    vctx c;
    int base = lua_gettop(L), ok;
    memset(&c, 0, sizeof c);
    c.L = L;
    c.limit = limit;
    luaL_checkstack(L, 24, "featurebase: params nested too deeply");
    c.out = fb_buf_scratch(L);
    ok = validate(&c, p);
    if (ok && c.out->len > limit) /* the few bytes of keys and brackets after the last string */
        ok = fail(&c, "params", "make a request body of %lu bytes, more than max_request_size (%lu bytes)",
                  (unsigned long)c.out->len, (unsigned long)limit);
    lua_settop(L, base); /* drop what the checks left behind */
    if (!ok) {
        if (c.oom) return luaL_error(L, "featurebase: not enough memory to build the request");
        fb_error_return(L, "invalid_request", c.msg);
        fb_error_setfield(L, "field", c.field);
        return 2;
    }
    lua_pushlstring(L, c.out->data, c.out->len);
    if (c.out->cap > 1024 * 1024) fb_buf_free(c.out); /* one big body must not pin its memory for ever */
    return 1;
}

/* The optional max_request_size argument at index i: a whole number of bytes >= 1. */
static size_t max_request_arg(lua_State *L, int i) {
    lua_Number v;
    if (lua_isnoneornil(L, i)) return FB_DEFAULT_MAX_REQUEST;
    v = luaL_checknumber(L, i);
    luaL_argcheck(L, v >= 1 && v == floor(v), i, "max_request_size must be a whole number of bytes >= 1");
    return v >= (lua_Number)((size_t)-1 / 2) ? (size_t)-1 / 2 : (size_t)v;
}

/* core.encode_create(params [, max_request_size]) -> path, body | nil, err */
static int fb_validate_encode_create(lua_State *L) {
    size_t limit = max_request_arg(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushliteral(L, "/v2/conversations");
    run(L, 1, validate_create, limit);
    return 2; /* path, body or nil, err: both are the top two */
}

/* core.encode_reply(conversation_id, params [, max_request_size]) -> path, body | nil, err */
static int fb_validate_encode_reply(lua_State *L) {
    const char *id;
    size_t n, limit = max_request_arg(L, 3);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_type(L, 1) != LUA_TSTRING) {
        fb_error_return(L, "invalid_request", lua_pushfstring(L, "conversation_id must be a string, got %s", luaL_typename(L, 1)));
        fb_error_setfield(L, "field", "conversation_id");
        return 2;
    }
    id = lua_tolstring(L, 1, &n);
    if (!is_conversation_id(id, n)) {
        fb_error_return(L, "invalid_request",
                        "conversation_id must be 1 to 16 letters, digits, '-' or '_' (no '/', '.', '?', '#', '%' or spaces)");
        fb_error_setfield(L, "field", "conversation_id");
        return 2;
    }
    lua_pushfstring(L, "/v2/conversations/%s/reply", id);
    run(L, 2, validate_reply, limit);
    return 2;
}

/* core.rules: the limits and enumerations above, for the wrapper and the tests. */
static void push_list(lua_State *L, const char *name, const char *const *list) {
    int i;
    lua_newtable(L);
    for (i = 0; list[i]; i++) {
        lua_pushstring(L, list[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, name);
}

void fb_validate_init(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"encode_create", fb_validate_encode_create},
        {"encode_reply", fb_validate_encode_reply},
        {NULL, NULL}};
    fb_setfuncs(L, funcs);
    lua_newtable(L);
    lua_pushinteger(L, FB_OBJECTID_LEN); lua_setfield(L, -2, "objectid_length");
    lua_pushinteger(L, FB_SUBJECT_MAX); lua_setfield(L, -2, "subject_max");
    lua_pushinteger(L, FB_USERID_MAX); lua_setfield(L, -2, "user_id_max");
    lua_pushinteger(L, FB_CONVERSATION_ID_MAX); lua_setfield(L, -2, "conversation_id_max");
    lua_pushinteger(L, FB_EMAIL_MAX); lua_setfield(L, -2, "email_max");
    lua_pushliteral(L, FB_MIN_VERSION); lua_setfield(L, -2, "min_version");
    push_list(L, "create_keys", create_keys);
    push_list(L, "from_keys", from_keys);
    push_list(L, "recipients_keys", recipients_keys);
    push_list(L, "email_recipients_keys", email_recipients_keys);
    push_list(L, "reply_keys", reply_keys);
    push_list(L, "author_types", author_types);
    push_list(L, "channels", channels);
    push_list(L, "contact_message_types", contact_message_types);
    push_list(L, "admin_message_types", admin_message_types);
    lua_setfield(L, -2, "rules");
}
