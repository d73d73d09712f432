/* The API's description (see fb_api.h): every request object as a schema, every endpoint as an
 * entry. A new endpoint is one entry here; the validator, core.encode, the client's methods (all
 * transports), the async forms and the generated docs all read it. Source: ../shared/api/. */
#include <math.h>
#include <string.h>
#include <time.h>
#include "fb_api.h"
#include "fb_rules.h"
#include "fb_validate.h"

static const char *const author_types[] = FB_LIST(FB_AUTHOR_TYPES);
static const char *const channels[] = FB_LIST(FB_CHANNELS);
static const char *const message_types[] = FB_LIST(FB_MESSAGE_TYPES);
static const char *const contact_message_types[] = FB_LIST(FB_CONTACT_MESSAGE_TYPES);
static const char *const states[] = FB_LIST(FB_STATES);
static const char *const contact_types[] = FB_LIST(FB_CONTACT_TYPES);
static const char *const redact_types[] = FB_LIST(FB_REDACT_TYPES);

#define REQ FB_REQUIRED
#define NUL FB_NULLABLE
#define STRING(name, flags, min, max, doc) { name, FB_STRING, flags, min, max, NULL, doc }
#define KIND(name, kind, flags, doc) { name, kind, flags, 0, 0, NULL, doc }
#define ENUM(name, flags, list, doc) { name, FB_ENUM, flags, 0, 0, list, doc }
#define OBJECT(name, flags, schema, doc) { name, FB_OBJECT, flags, 0, 0, &schema, doc }
#define ARRAY(name, flags, max, item, doc) { name, FB_ARRAY, flags, 0, max, &item, doc }
#define END { NULL, FB_STRING, 0, 0, 0, NULL, NULL }
#define ACTING_ADMIN(flags) KIND("actingAdminId", FB_OBJECTID, flags, "the admin the change is credited to (ObjectId)")

/* Array items. */
static const fb_field an_objectid = KIND("", FB_OBJECTID, 0, "an ObjectId");
static const fb_field an_email = { "", FB_EMAIL, 0, 0, FB_EMAIL_MAX, NULL, "an email address" };
static const fb_field a_role = STRING("", 0, 1, FB_ROLE_MAX, "a role id");

/* ---- rules across fields ---------------------------------------------------------------------- */

/* t[obj][name] as a string, or NULL (raw access; the string stays reachable from t). */
static const char *nested_string(vctx *c, int t, const char *obj, const char *name) {
    lua_State *L = c->L;
    const char *s = NULL;
    lua_pushstring(L, obj);
    lua_rawget(L, t);
    if (lua_istable(L, -1)) {
        lua_pushstring(L, name);
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return s;
}

static int is(const char *s, const char *value) { return s && strcmp(s, value) == 0; }

static int email_recipients_rule(vctx *c, int t, const char *path) {
    if (!fb_field_present(c, t, "emails") && !fb_field_present(c, t, "ids"))
        return fb_fail(c, path, "must name at least one recipient in emails or ids");
    lua_pushstring(c->L, "emails");
    lua_rawget(c->L, t);
    lua_pushstring(c->L, "ids");
    lua_rawget(c->L, t);
    if (fb_rawlen(c->L, -1) + fb_rawlen(c->L, -2) == 0) {
        lua_pop(c->L, 2);
        return fb_fail(c, path, "must name at least one recipient in emails or ids");
    }
    lua_pop(c->L, 2);
    return 1;
}

static int create_rule(vctx *c, int t, const char *path) {
    int is_admin = is(nested_string(c, t, "from", "type"), "admin");
    (void)path;
    if (fb_field_present(c, t, "recipients") && !is_admin)
        return fb_fail(c, "recipients", "is only for admin outreach; a contact's conversation has no recipients");
    if (!fb_field_present(c, t, "recipients") && is_admin)
        return fb_fail(c, "recipients", "is required when from.type is \"admin\" (who the outreach goes to)");
    if (is_admin && is(fb_field_string(c, t, "channel"), "email") && !fb_field_present(c, t, "subject"))
        return fb_fail(c, "subject", "is required when an admin writes on the email channel");
    return 1;
}

static int reply_rule(vctx *c, int t, const char *path) {
    (void)path;
    if (is(fb_field_string(c, t, "type"), "admin")) {
        if (!fb_field_present(c, t, "id"))
            return fb_fail(c, "id", "is required for an admin reply: the admin's %d-character ObjectId", FB_OBJECTID_LEN);
        if (fb_field_present(c, t, "userId"))
            return fb_fail(c, "userId", "is only for contact replies; an admin is named by id");
        return 1;
    }
    if (!fb_field_present(c, t, "id") && !fb_field_present(c, t, "userId"))
        return fb_fail(c, "id", "or userId is required for a contact reply (the contact's ObjectId, or your own user id)");
    if (is(fb_field_string(c, t, "messageType"), "note"))
        return fb_fail(c, "messageType", "must be \"reply\" for a contact: only admins write internal notes");
    return 1;
}

static int update_rule(vctx *c, int t, const char *path) {
    int snoozing = is(fb_field_string(c, t, "state"), "snoozed");
    int until = fb_field_present(c, t, "snoozedUntil") && !fb_field_null(c, t, "snoozedUntil");
    (void)path;
    if (snoozing && !until)
        return fb_fail(c, "snoozedUntil", "is required when state is \"snoozed\": until when (a future time)");
    if (until && !snoozing)
        return fb_fail(c, "snoozedUntil", "goes with state = \"snoozed\" (send both, or featurebase.null to clear it)");
    if (until) {
        double when;
        lua_pushliteral(c->L, "snoozedUntil");
        lua_rawget(c->L, t);
        when = fb_timestamp_seconds(c->L, -1);
        lua_pop(c->L, 1);
        if (when <= (double)time(NULL))
            return fb_fail(c, "snoozedUntil", "must be in the future when snoozing");
    }
    return 1;
}

static int participant_rule(vctx *c, int t, const char *path) {
    if (!fb_field_present(c, t, "id") && !fb_field_present(c, t, "userId") && !fb_field_present(c, t, "email"))
        return fb_fail(c, path, "must name the contact: id (ObjectId), userId or email");
    return 1;
}

static int redact_rule(vctx *c, int t, const char *path) {
    (void)path; /* the only value there is, filled in when absent */
    return fb_field_present(c, t, "type") || fb_emit_field(c, "type", "conversation_part", 17);
}

static int upsert_rule(vctx *c, int t, const char *path) {
    (void)path;
    if (!fb_field_present(c, t, "email") && !fb_field_present(c, t, "userId"))
        return fb_fail(c, "email", "or userId is required: who the contact is (userId wins when both match)");
    return 1;
}

/* ---- request objects ------------------------------------------------------------------------ */

static const fb_field from_fields[] = {
    ENUM("type", REQ, author_types, "\"contact\" or \"admin\""),
    KIND("id", FB_OBJECTID, REQ, "the contact's or admin's 24-character ObjectId"),
    END};
static const fb_schema from_schema = { "featurebase.Author", from_fields, NULL };

static const fb_field email_recipients_fields[] = {
    ARRAY("emails", 0, FB_RECIPIENTS_MAX, an_email, "email addresses"),
    ARRAY("ids", 0, FB_RECIPIENTS_MAX, an_objectid, "contact ObjectIds"),
    END};
static const fb_schema email_recipients = { "featurebase.Recipients", email_recipients_fields, email_recipients_rule };

static const fb_field recipients_fields[] = {
    OBJECT("to", REQ, email_recipients, "{emails = {...}, ids = {...}} with at least one recipient"),
    OBJECT("cc", 0, email_recipients, "copy"),
    OBJECT("bcc", 0, email_recipients, "blind copy"),
    END};
static const fb_schema recipients_schema = { "featurebase.RecipientSet", recipients_fields, NULL };

#define BODY_MARKDOWN STRING("bodyMarkdown", REQ, 1, 0, "the message, in markdown")

static const fb_field create_fields[] = {
    OBJECT("from", REQ, from_schema, "{type = \"contact\" or \"admin\", id = <24-hex ObjectId>}"),
    BODY_MARKDOWN,
    ENUM("channel", 0, channels, "\"desktop\" (default) or \"email\""),
    STRING("subject", 0, 0, FB_SUBJECT_MAX, "the email subject; required for an admin on the email channel"),
    OBJECT("recipients", 0, recipients_schema, "who admin outreach goes to"),
    KIND("createdAt", FB_TIMESTAMP, NUL, "when it was created (migrations): ISO 8601 or a Lua time"),
    END};
static const fb_schema create_schema = { "featurebase.CreateParams", create_fields, create_rule };

static const fb_field reply_fields[] = {
    ENUM("type", REQ, author_types, "\"contact\" or \"admin\""),
    KIND("id", FB_OBJECTID, 0, "the admin (required) or the contact"),
    STRING("userId", 0, 1, FB_USERID_MAX, "your own user id (contact replies)"),
    BODY_MARKDOWN,
    ENUM("messageType", REQ, message_types, "\"reply\" or \"note\" (admins only)"),
    KIND("skipNotifications", FB_BOOLEAN, 0, "send no notifications"),
    END};
static const fb_schema reply_schema = { "featurebase.ReplyParams", reply_fields, reply_rule };

static const fb_field mark_read_fields[] = {
    KIND("allAdmins", FB_BOOLEAN, NUL, "every admin that has a read receipt"),
    ARRAY("adminIds", 0, FB_MARK_READ_MAX, an_objectid, "these admins"),
    KIND("allContacts", FB_BOOLEAN, NUL, "every contact that has a read receipt"),
    ARRAY("contactIds", 0, FB_MARK_READ_MAX, an_objectid, "these contacts"),
    END};
static const fb_schema mark_read_schema = { "featurebase.MarkAsRead", mark_read_fields, NULL };

static const fb_field update_fields[] = {
    ACTING_ADMIN(0),
    ENUM("state", 0, states, "\"open\", \"closed\" or \"snoozed\""),
    KIND("snoozedUntil", FB_TIMESTAMP, NUL, "until when (required with state \"snoozed\"); featurebase.null clears it"),
    KIND("adminAssigneeId", FB_OBJECTID, NUL, "the admin to assign; featurebase.null unassigns"),
    KIND("teamAssigneeId", FB_OBJECTID, NUL, "the team to assign; featurebase.null unassigns"),
    STRING("title", 0, 0, FB_TITLE_MAX, "the conversation's title"),
    KIND("customAttributes", FB_JSON, 0, "custom attribute values by key"),
    OBJECT("markAsRead", 0, mark_read_schema, "whose read receipts to mark read"),
    END};
static const fb_schema update_schema = { "featurebase.UpdateConversationParams", update_fields, update_rule };

static const fb_field participant_fields[] = {
    KIND("id", FB_OBJECTID, 0, "the contact's ObjectId (customers and leads)"),
    STRING("userId", 0, 1, FB_USERID_MAX, "your own user id (customers)"),
    { "email", FB_EMAIL, 0, 0, FB_EMAIL_MAX, NULL, "the contact's email (customers)" },
    END};
static const fb_schema participant_schema = { "featurebase.ParticipantRef", participant_fields, participant_rule };

static const fb_field add_participant_fields[] = {
    OBJECT("participant", REQ, participant_schema, "{id = ..., userId = ... or email = ...}: who to add"),
    ACTING_ADMIN(0),
    END};
static const fb_schema add_participant_schema = { "featurebase.AddParticipantParams", add_participant_fields, NULL };

static const fb_field remove_participant_fields[] = {
    KIND("id", FB_OBJECTID, REQ, "the contact's ObjectId to remove"),
    ACTING_ADMIN(0),
    END};
static const fb_schema remove_participant_schema = { "featurebase.RemoveParticipantParams", remove_participant_fields, NULL };

static const fb_field redact_fields[] = {
    ENUM("type", 0, redact_types, "\"conversation_part\" (filled in when absent)"),
    KIND("conversationId", FB_SHORTID, REQ, "the conversation's id"),
    KIND("conversationPartId", FB_SHORTID, REQ, "the part's id (a user, admin, email or bot message)"),
    ACTING_ADMIN(0),
    END};
static const fb_schema redact_schema = { "featurebase.RedactParams", redact_fields, redact_rule };

static const fb_field add_tag_fields[] = {
    KIND("tagId", FB_OBJECTID, REQ, "the tag's ObjectId"),
    ACTING_ADMIN(REQ),
    END};
static const fb_schema add_tag_schema = { "featurebase.AddTagParams", add_tag_fields, NULL };

static const fb_field remove_tag_fields[] = {
    ACTING_ADMIN(REQ),
    END};
static const fb_schema remove_tag_schema = { "featurebase.RemoveTagParams", remove_tag_fields, NULL };

#define PAGING \
    { "limit", FB_INTEGER, 0, 1, FB_LIMIT_MAX, NULL, "items per page, 1-100 (default 10)" }, \
    STRING("cursor", 0, 1, FB_CURSOR_MAX, "the previous page's nextCursor, unchanged")

static const fb_field list_conversations_fields[] = {
    PAGING,
    { "tagIds", FB_ARRAY, FB_CSV, 0, 0, &an_objectid, "only conversations with all these tags (ObjectIds)" },
    END};
static const fb_schema list_conversations_schema = { "featurebase.ListConversationsQuery", list_conversations_fields, NULL };

static const fb_field list_contacts_fields[] = {
    PAGING,
    ENUM("contactType", 0, contact_types, "\"customer\" (default), \"lead\" or \"all\""),
    END};
static const fb_schema list_contacts_schema = { "featurebase.ListContactsQuery", list_contacts_fields, NULL };

#define CONTACT_TEXT(name, doc) STRING(name, 0, 0, FB_CONTACT_TEXT_MAX, doc)

static const fb_field company_fields[] = {
    STRING("id", REQ, 1, FB_CONTACT_TEXT_MAX, "your own company id"),
    STRING("name", REQ, 1, FB_CONTACT_TEXT_MAX, "the company's name"),
    { "monthlySpend", FB_NUMBER, 0, 0, 0, NULL, "0 or more" },
    { "companySize", FB_NUMBER, NUL, 0, 0, NULL, "employees, 0 or more" },
    CONTACT_TEXT("industry", "industry"),
    CONTACT_TEXT("website", "website"),
    CONTACT_TEXT("plan", "plan"),
    KIND("customFields", FB_PRIMITIVES, 0, "values: primitives or arrays of them"),
    KIND("createdAt", FB_TIMESTAMP, NUL, "when it was created in your system"),
    STRING("companyHash", 0, 0, FB_HASH_MAX, "HMAC-SHA256 of the company id"),
    END};
static const fb_schema company_schema = { "featurebase.CompanyParams", company_fields, NULL };
static const fb_field a_company = OBJECT("", 0, company_schema, "a company");

static const fb_field upsert_fields[] = {
    { "email", FB_EMAIL, 0, 0, FB_EMAIL_MAX, NULL, "the contact's email (one of email and userId)" },
    STRING("userId", 0, 1, FB_CONTACT_TEXT_MAX, "your own user id (one of email and userId; wins)"),
    CONTACT_TEXT("name", "the contact's name"),
    STRING("userHash", 0, 0, FB_HASH_MAX, "HMAC-SHA256 for identity verification"),
    { "profilePicture", FB_URI, NUL, 0, 2048, NULL, "a picture's URL" },
    ARRAY("companies", 0, FB_LIST_MAX, a_company, "the contact's companies"),
    KIND("createdAt", FB_TIMESTAMP, NUL, "when the contact was created in your system"),
    KIND("customFields", FB_PRIMITIVES, 0, "values: primitives or arrays of them"),
    KIND("subscribedToChangelog", FB_BOOLEAN, 0, "changelog emails"),
    STRING("locale", 0, 0, FB_LOCALE_MAX, "e.g. \"en\""),
    { "phone", FB_STRING, NUL, 0, FB_CONTACT_TEXT_MAX, NULL, "phone number" },
    ARRAY("roles", 0, FB_LIST_MAX, a_role, "role ids"),
    END};
static const fb_schema upsert_schema = { "featurebase.UpsertContactParams", upsert_fields, upsert_rule };

/* ---- path arguments --------------------------------------------------------------------------- */

static const fb_field conversation_arg[] = {
    KIND("conversation_id", FB_SHORTID, REQ, "the conversation's id (1-16 letters and digits)"), END};
static const fb_field tag_args[] = {
    KIND("conversation_id", FB_SHORTID, REQ, "the conversation's id (1-16 letters and digits)"),
    KIND("tag_id", FB_OBJECTID, REQ, "the tag's ObjectId"), END};
static const fb_field contact_arg[] = {
    KIND("contact_id", FB_OBJECTID, REQ, "the contact's ObjectId"), END};
static const fb_field user_arg[] = {
    STRING("user_id", REQ, 1, FB_USERID_MAX, "your own user id (sent percent-encoded)"), END};
static const fb_field no_args[] = {END};

/* ---- endpoints ------------------------------------------------------------------------------ */

#define SAFE 1
#define UNSAFE 0
const fb_endpoint fb_endpoints[] = {
    {"list_conversations", "GET", "/v2/conversations", no_args, NULL, &list_conversations_schema,
     FB_PARAMS_OPTIONAL, SAFE, NULL, "featurebase.ConversationList", "Lists conversations, a page at a time"},
    {"get_conversation", "GET", "/v2/conversations/{conversation_id}", conversation_arg, NULL, NULL,
     FB_NO_PARAMS, SAFE, NULL, "featurebase.Conversation", "Fetches a conversation with its parts (the latest 500)"},
    {"create_conversation", "POST", "/v2/conversations", no_args, &create_schema, NULL,
     FB_PARAMS_REQUIRED, UNSAFE, NULL, "featurebase.Conversation", "Opens a conversation"},
    {"reply", "POST", "/v2/conversations/{conversation_id}/reply", conversation_arg, &reply_schema, NULL,
     FB_PARAMS_REQUIRED, UNSAFE, NULL, "featurebase.ConversationPart", "Replies to a conversation, or leaves an internal note"},
    {"update_conversation", "PATCH", "/v2/conversations/{conversation_id}", conversation_arg, &update_schema, NULL,
     FB_PARAMS_REQUIRED, SAFE, NULL, "featurebase.Conversation", "Changes state, snooze, assignees, title, attributes or read receipts"},
    {"delete_conversation", "DELETE", "/v2/conversations/{conversation_id}", conversation_arg, NULL, NULL,
     FB_NO_PARAMS, SAFE, "conversation", "featurebase.Deleted", "Deletes a conversation and its parts, for good"},
    {"add_participant", "POST", "/v2/conversations/{conversation_id}/participants", conversation_arg,
     &add_participant_schema, NULL, FB_PARAMS_REQUIRED, UNSAFE, NULL, "featurebase.Conversation",
     "Adds a contact to a conversation"},
    {"remove_participant", "DELETE", "/v2/conversations/{conversation_id}/participants", conversation_arg,
     &remove_participant_schema, NULL, FB_PARAMS_REQUIRED, SAFE, NULL, "featurebase.Conversation",
     "Removes a contact from a conversation (never its last one)"},
    {"redact_part", "POST", "/v2/conversations/redact", no_args, &redact_schema, NULL,
     FB_PARAMS_REQUIRED, UNSAFE, NULL, "featurebase.Conversation", "Wipes a message's text for good"},
    {"add_tag", "POST", "/v2/conversations/{conversation_id}/tags", conversation_arg, &add_tag_schema, NULL,
     FB_PARAMS_REQUIRED, UNSAFE, NULL, "featurebase.Tag", "Tags a conversation"},
    {"remove_tag", "DELETE", "/v2/conversations/{conversation_id}/tags/{tag_id}", tag_args, &remove_tag_schema, NULL,
     FB_PARAMS_REQUIRED, SAFE, NULL, "featurebase.Tag", "Removes a tag from a conversation"},
    {"list_contacts", "GET", "/v2/contacts", no_args, NULL, &list_contacts_schema,
     FB_PARAMS_OPTIONAL, SAFE, NULL, "featurebase.ContactList", "Lists contacts (customers by default), a page at a time"},
    {"upsert_contact", "POST", "/v2/contacts", no_args, &upsert_schema, NULL,
     FB_PARAMS_REQUIRED, SAFE, NULL, "featurebase.Contact", "Creates or updates a contact, matched by userId or email"},
    {"get_contact", "GET", "/v2/contacts/{contact_id}", contact_arg, NULL, NULL,
     FB_NO_PARAMS, SAFE, NULL, "featurebase.Contact", "Fetches a contact by its Featurebase id"},
    {"get_contact_by_user_id", "GET", "/v2/contacts/by-user-id/{user_id}", user_arg, NULL, NULL,
     FB_NO_PARAMS, SAFE, NULL, "featurebase.Contact", "Fetches a customer by your own user id"},
    {"delete_contact", "DELETE", "/v2/contacts/{contact_id}", contact_arg, NULL, NULL,
     FB_NO_PARAMS, SAFE, "contact", "featurebase.Deleted", "Deletes a contact for good"},
    {"delete_contact_by_user_id", "DELETE", "/v2/contacts/by-user-id/{user_id}", user_arg, NULL, NULL,
     FB_NO_PARAMS, SAFE, "contact", "featurebase.Deleted", "Deletes a customer by your own user id, for good"},
    {NULL, NULL, NULL, NULL, NULL, NULL, FB_NO_PARAMS, 0, NULL, NULL, NULL}};

const fb_endpoint *fb_api_find(const char *name, size_t len) {
    const fb_endpoint *ep;
    for (ep = fb_endpoints; ep->name; ep++)
        if (strlen(ep->name) == len && memcmp(ep->name, name, len) == 0) return ep;
    return NULL;
}

/* ---- Lua -------------------------------------------------------------------------------------- */

/* The optional max_request_size argument at index i: a whole number of bytes >= 1. */
static size_t max_request_arg(lua_State *L, int i) {
    lua_Number v;
    if (lua_isnoneornil(L, i)) return FB_DEFAULT_MAX_REQUEST;
    v = luaL_checknumber(L, i);
    luaL_argcheck(L, v >= 1 && v == floor(v), i, "max_request_size must be a whole number of bytes >= 1");
    return v >= (lua_Number)((size_t)-1 / 2) ? (size_t)-1 / 2 : (size_t)v;
}

/* core.encode(endpoint, params|nil, max_request_size|nil, path_arg...) -> method, path, body|nil, safe
 * | nil, err. Nothing is sent: this is what every transport sends. */
static int fb_api_encode(lua_State *L) {
    size_t n;
    const char *name = luaL_checklstring(L, 1, &n);
    const fb_endpoint *ep = fb_api_find(name, n);
    size_t limit = max_request_arg(L, 3);
    luaL_argcheck(L, ep != NULL, 1, "not an endpoint of core.api");
    if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    return fb_validate_request(L, ep, 2, 4, limit);
}

static const char *const kind_names[] = {"string", "boolean", "number", "integer", "enum", "objectid", "shortid",
                                         "email", "timestamp", "uri", "object", "array", "json", "primitives"};

static void push_list(lua_State *L, const char *const *list) {
    int i;
    lua_newtable(L);
    for (i = 0; list[i]; i++) {
        lua_pushstring(L, list[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_schema(lua_State *L, const fb_schema *s);

/* {name=, kind=, required=, nullable=, csv=, min=, max=, values=, schema=, item=, doc=}; csv: a query value
 * that may also be one comma-joined string */
static void push_field(lua_State *L, const fb_field *f) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, f->name); lua_setfield(L, -2, "name");
    lua_pushstring(L, kind_names[f->kind]); lua_setfield(L, -2, "kind");
    lua_pushboolean(L, f->flags & FB_REQUIRED); lua_setfield(L, -2, "required");
    lua_pushboolean(L, f->flags & FB_NULLABLE); lua_setfield(L, -2, "nullable");
    if (f->flags & FB_CSV) { lua_pushboolean(L, 1); lua_setfield(L, -2, "csv"); }
    if (f->min > 0) { lua_pushnumber(L, f->min); lua_setfield(L, -2, "min"); }
    if (f->max > 0) { lua_pushnumber(L, f->max); lua_setfield(L, -2, "max"); }
    if (f->doc) { lua_pushstring(L, f->doc); lua_setfield(L, -2, "doc"); }
    if (f->kind == FB_ENUM) { push_list(L, (const char *const *)f->sub); lua_setfield(L, -2, "values"); }
    if (f->kind == FB_OBJECT) { push_schema(L, (const fb_schema *)f->sub); lua_setfield(L, -2, "schema"); }
    if (f->kind == FB_ARRAY) { push_field(L, (const fb_field *)f->sub); lua_setfield(L, -2, "item"); }
}

static void push_fields(lua_State *L, const fb_field *f) {
    int i;
    lua_newtable(L);
    for (i = 0; f[i].name; i++) {
        push_field(L, &f[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* {type=, fields={...}} */
static void push_schema(lua_State *L, const fb_schema *s) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, s->type); lua_setfield(L, -2, "type");
    push_fields(L, s->fields); lua_setfield(L, -2, "fields");
}

/* core.api: {{name=, method=, path=, args={field...}, body=schema|nil, query=schema|nil,
 * params="required"|"optional"|nil, safe=, deleted=, returns=, doc=}, ...} in description order. */
static void push_api(lua_State *L) {
    const fb_endpoint *ep;
    int i = 0;
    lua_newtable(L);
    for (ep = fb_endpoints; ep->name; ep++) {
        lua_createtable(L, 0, 11);
        lua_pushstring(L, ep->name); lua_setfield(L, -2, "name");
        lua_pushstring(L, ep->method); lua_setfield(L, -2, "method");
        lua_pushstring(L, ep->path); lua_setfield(L, -2, "path");
        push_fields(L, ep->args); lua_setfield(L, -2, "args");
        if (ep->body) { push_schema(L, ep->body); lua_setfield(L, -2, "body"); }
        if (ep->query) { push_schema(L, ep->query); lua_setfield(L, -2, "query"); }
        if (ep->params != FB_NO_PARAMS) {
            lua_pushstring(L, ep->params == FB_PARAMS_REQUIRED ? "required" : "optional");
            lua_setfield(L, -2, "params");
        }
        lua_pushboolean(L, ep->safe); lua_setfield(L, -2, "safe");
        if (ep->deleted) { lua_pushstring(L, ep->deleted); lua_setfield(L, -2, "deleted"); }
        lua_pushstring(L, ep->returns); lua_setfield(L, -2, "returns");
        lua_pushstring(L, ep->doc); lua_setfield(L, -2, "doc");
        lua_rawseti(L, -2, ++i);
    }
}

void fb_api_init(lua_State *L) {
    lua_pushcfunction(L, fb_api_encode);
    lua_setfield(L, -2, "encode");
    push_api(L);
    lua_setfield(L, -2, "api");
    lua_pushlightuserdata(L, NULL); /* JSON null: the same value as cjson.null */
    lua_setfield(L, -2, "null");
    /* core.rules: the limits and enumerations, for the wrapper and the tests */
    lua_newtable(L);
    lua_pushinteger(L, FB_OBJECTID_LEN); lua_setfield(L, -2, "objectid_length");
    lua_pushinteger(L, FB_SHORT_ID_MAX); lua_setfield(L, -2, "short_id_max");
    lua_pushinteger(L, FB_SUBJECT_MAX); lua_setfield(L, -2, "subject_max");
    lua_pushinteger(L, FB_USERID_MAX); lua_setfield(L, -2, "user_id_max");
    lua_pushinteger(L, FB_EMAIL_MAX); lua_setfield(L, -2, "email_max");
    lua_pushinteger(L, FB_RECIPIENTS_MAX); lua_setfield(L, -2, "recipients_max");
    lua_pushinteger(L, FB_LIMIT_MAX); lua_setfield(L, -2, "limit_max");
    lua_pushinteger(L, FB_CURSOR_MAX); lua_setfield(L, -2, "cursor_max");
    lua_pushliteral(L, FB_MIN_VERSION); lua_setfield(L, -2, "min_version");
    lua_pushliteral(L, FB_DEFAULT_VERSION); lua_setfield(L, -2, "default_version");
    lua_pushliteral(L, FB_DEFAULT_BASE_URL); lua_setfield(L, -2, "default_base_url");
    push_list(L, author_types); lua_setfield(L, -2, "author_types");
    push_list(L, channels); lua_setfield(L, -2, "channels");
    push_list(L, message_types); lua_setfield(L, -2, "admin_message_types");
    push_list(L, contact_message_types); lua_setfield(L, -2, "contact_message_types");
    push_list(L, states); lua_setfield(L, -2, "states");
    push_list(L, contact_types); lua_setfield(L, -2, "contact_types");
    lua_setfield(L, -2, "rules");
}
