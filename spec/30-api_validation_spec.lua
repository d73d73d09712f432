-- Every documented rule of the endpoints beyond create and reply (../shared/api/conversations-more.md,
-- contacts.md, common.md), each with a valid and an invalid case, checked by the C validator alone
-- through core.encode (no network). spec/31 shows that the client sends exactly this.
local core = require("featurebase.core")
local cjson = require("cjson")
local H = require("spec.helpers")

local A, C, T = H.ADMIN, H.CONTACT, "67ec1234abcd5678ef901234"
local null = core.null
local function rep(s, n) return string.rep(s, n) end
local function list(n, f)
  local t = {}
  for i = 1, n do t[i] = f(i) end
  return t
end
local FUTURE = os.time() + 3600

-- { endpoint, description, params (a function: fresh each time), path args, failing field (nil: valid) }
local cases = {
  -- GET /v2/conversations
  { "list_conversations", "no query", function() return nil end, {}, nil },
  { "list_conversations", "limit 1", function() return { limit = 1 } end, {}, nil },
  { "list_conversations", "limit 100", function() return { limit = 100 } end, {}, nil },
  { "list_conversations", "limit 0", function() return { limit = 0 } end, {}, "limit" },
  { "list_conversations", "limit 101", function() return { limit = 101 } end, {}, "limit" },
  { "list_conversations", "limit 1.5", function() return { limit = 1.5 } end, {}, "limit" },
  { "list_conversations", "limit a string", function() return { limit = "10" } end, {}, "limit" },
  { "list_conversations", "cursor of 512", function() return { cursor = rep("c", 512) } end, {}, nil },
  { "list_conversations", "cursor of 513", function() return { cursor = rep("c", 513) } end, {}, "cursor" },
  { "list_conversations", "cursor empty", function() return { cursor = "" } end, {}, "cursor" },
  { "list_conversations", "tagIds a list", function() return { tagIds = { A, T } } end, {}, nil },
  { "list_conversations", "tagIds comma-joined", function() return { tagIds = A .. "," .. T } end, {}, nil },
  { "list_conversations", "tagIds with a bad id", function() return { tagIds = { A, "tag" } } end, {}, "tagIds[2]" },
  { "list_conversations", "tagIds joined with a bad id", function() return { tagIds = A .. ",x" } end, {}, "tagIds[2]" },
  { "list_conversations", "an unknown filter", function() return { state = "open" } end, {}, "state" },
  -- GET /v2/conversations/{id}
  { "get_conversation", "a short id", function() return nil end, { "12345" }, nil },
  { "get_conversation", "an id of 16", function() return nil end, { rep("a", 16) }, nil },
  { "get_conversation", "an id of 17", function() return nil end, { rep("a", 17) }, "conversation_id" },
  { "get_conversation", "an id with -", function() return nil end, { "12-34" }, "conversation_id" },
  { "get_conversation", "an id with /", function() return nil end, { "1/../2" }, "conversation_id" },
  { "get_conversation", "no id", function() return nil end, {}, "conversation_id" },
  { "get_conversation", "a number id", function() return nil end, { 12345 }, "conversation_id" },
  -- PATCH /v2/conversations/{id}
  { "update_conversation", "close it", function() return { state = "closed", actingAdminId = A } end, { "1" }, nil },
  { "update_conversation", "reopen it", function() return { state = "open" } end, { "1" }, nil },
  { "update_conversation", "an unknown state", function() return { state = "pending" } end, { "1" }, "state" },
  { "update_conversation", "snooze without snoozedUntil", function() return { state = "snoozed" } end, { "1" },
    "snoozedUntil" },
  { "update_conversation", "snooze until a past time", function()
    return { state = "snoozed", snoozedUntil = "2020-01-01T00:00:00Z" } end, { "1" }, "snoozedUntil" },
  { "update_conversation", "snooze until a future ISO time", function()
    return { state = "snoozed", snoozedUntil = os.date("!%Y-%m-%dT%H:%M:%SZ", FUTURE) } end, { "1" }, nil },
  { "update_conversation", "snooze until a future Lua time", function()
    return { state = "snoozed", snoozedUntil = FUTURE } end, { "1" }, nil },
  { "update_conversation", "snooze until featurebase.null", function()
    return { state = "snoozed", snoozedUntil = null } end, { "1" }, "snoozedUntil" },
  { "update_conversation", "snoozedUntil without state", function() return { snoozedUntil = FUTURE } end, { "1" },
    "snoozedUntil" },
  { "update_conversation", "clear snoozedUntil", function() return { state = "open", snoozedUntil = null } end,
    { "1" }, nil },
  { "update_conversation", "snoozedUntil free text", function()
    return { state = "snoozed", snoozedUntil = "tomorrow" } end, { "1" }, "snoozedUntil" },
  { "update_conversation", "assign an admin", function() return { adminAssigneeId = A } end, { "1" }, nil },
  { "update_conversation", "unassign the admin", function() return { adminAssigneeId = null } end, { "1" }, nil },
  { "update_conversation", "assign a bad admin id", function() return { adminAssigneeId = "bob" } end, { "1" },
    "adminAssigneeId" },
  { "update_conversation", "unassign the team", function() return { teamAssigneeId = null } end, { "1" }, nil },
  { "update_conversation", "assign a team", function() return { teamAssigneeId = T } end, { "1" }, nil },
  { "update_conversation", "assign a team by name", function() return { teamAssigneeId = "support" } end, { "1" },
    "teamAssigneeId" },
  { "update_conversation", "a title of 255", function() return { title = rep("é", 255) } end, { "1" }, nil },
  { "update_conversation", "a title of 256", function() return { title = rep("t", 256) } end, { "1" }, "title" },
  { "update_conversation", "a null title", function() return { title = null } end, { "1" }, "title" },
  { "update_conversation", "customAttributes of any JSON", function()
    return { customAttributes = { tier = "gold", seats = 12, vip = true, tags = { "a", "b" }, extra = { x = null } } }
  end, { "1" }, nil },
  { "update_conversation", "customAttributes with a function", function()
    return { customAttributes = { f = print } } end, { "1" }, "customAttributes.f" },
  { "update_conversation", "customAttributes with NaN", function()
    return { customAttributes = { n = 0 / 0 } } end, { "1" }, "customAttributes.n" },
  { "update_conversation", "customAttributes that contain themselves", function()
    local t = {}
    t.self = t
    return { customAttributes = t }
  end, { "1" }, nil --[[ field checked below ]] },
  { "update_conversation", "customAttributes a list", function() return { customAttributes = { 1, 2 } } end,
    { "1" }, "customAttributes" },
  { "update_conversation", "markAsRead for admins and contacts", function()
    return { markAsRead = { adminIds = { A }, contactIds = { C } } } end, { "1" }, nil },
  { "update_conversation", "markAsRead allAdmins null", function()
    return { markAsRead = { allAdmins = null, allContacts = true } } end, { "1" }, nil },
  { "update_conversation", "markAsRead allAdmins a string", function()
    return { markAsRead = { allAdmins = "yes" } } end, { "1" }, "markAsRead.allAdmins" },
  { "update_conversation", "markAsRead 255 adminIds", function()
    return { markAsRead = { adminIds = list(255, function() return A end) } } end, { "1" }, nil },
  { "update_conversation", "markAsRead 256 adminIds", function()
    return { markAsRead = { adminIds = list(256, function() return A end) } } end, { "1" }, "markAsRead.adminIds" },
  { "update_conversation", "markAsRead a bad contact id", function()
    return { markAsRead = { contactIds = { C, "c" } } } end, { "1" }, "markAsRead.contactIds[2]" },
  { "update_conversation", "markAsRead an unknown key", function()
    return { markAsRead = { everyone = true } } end, { "1" }, "markAsRead.everyone" },
  { "update_conversation", "a bad actingAdminId", function() return { actingAdminId = "me" } end, { "1" },
    "actingAdminId" },
  { "update_conversation", "priority (not settable)", function() return { priority = true } end, { "1" }, "priority" },
  { "update_conversation", "a bad id", function() return { state = "closed" } end, { "a_1" }, "conversation_id" },
  -- DELETE /v2/conversations/{id}
  { "delete_conversation", "an id", function() return nil end, { "42" }, nil },
  { "delete_conversation", "a bad id", function() return nil end, { "" }, "conversation_id" },
  -- POST /v2/conversations/{id}/participants
  { "add_participant", "by contact id", function() return { participant = { id = C }, actingAdminId = A } end,
    { "1" }, nil },
  { "add_participant", "by userId", function() return { participant = { userId = "u-1" } } end, { "1" }, nil },
  { "add_participant", "by email", function() return { participant = { email = "john@example.com" } } end, { "1" },
    nil },
  { "add_participant", "nobody", function() return { participant = {} } end, { "1" }, "participant" },
  { "add_participant", "no participant", function() return { actingAdminId = A } end, { "1" }, "participant" },
  { "add_participant", "a bad email", function() return { participant = { email = "john" } } end, { "1" },
    "participant.email" },
  { "add_participant", "a userId of 256", function() return { participant = { userId = rep("u", 256) } } end,
    { "1" }, "participant.userId" },
  { "add_participant", "a bad contact id", function() return { participant = { id = "x" } } end, { "1" },
    "participant.id" },
  { "add_participant", "an unknown key", function() return { participant = { id = C, name = "x" } } end, { "1" },
    "participant.name" },
  -- DELETE /v2/conversations/{id}/participants (JSON body)
  { "remove_participant", "by contact id", function() return { id = C, actingAdminId = A } end, { "1" }, nil },
  { "remove_participant", "no id", function() return { actingAdminId = A } end, { "1" }, "id" },
  { "remove_participant", "a bad id", function() return { id = "john" } end, { "1" }, "id" },
  { "remove_participant", "by email (not offered here)", function()
    return { id = C, email = "john@example.com" } end, { "1" }, "email" },
  -- POST /v2/conversations/redact
  { "redact_part", "type filled in", function() return { conversationId = "1", conversationPartId = "2" } end, {}, nil },
  { "redact_part", "type given", function()
    return { type = "conversation_part", conversationId = "1", conversationPartId = "2", actingAdminId = A } end,
    {}, nil },
  { "redact_part", "another type", function()
    return { type = "conversation", conversationId = "1", conversationPartId = "2" } end, {}, "type" },
  { "redact_part", "no conversationId", function() return { conversationPartId = "2" } end, {}, "conversationId" },
  { "redact_part", "no conversationPartId", function() return { conversationId = "1" } end, {},
    "conversationPartId" },
  { "redact_part", "a part id with _", function() return { conversationId = "1", conversationPartId = "p_2" } end,
    {}, "conversationPartId" },
  -- POST /v2/conversations/{id}/tags and DELETE .../tags/{tagId}
  { "add_tag", "a tag", function() return { tagId = T, actingAdminId = A } end, { "1" }, nil },
  { "add_tag", "no tagId", function() return { actingAdminId = A } end, { "1" }, "tagId" },
  { "add_tag", "no actingAdminId", function() return { tagId = T } end, { "1" }, "actingAdminId" },
  { "add_tag", "a tag by name", function() return { tagId = "urgent", actingAdminId = A } end, { "1" }, "tagId" },
  { "remove_tag", "a tag", function() return { actingAdminId = A } end, { "1", T }, nil },
  { "remove_tag", "no actingAdminId", function() return {} end, { "1", T }, "actingAdminId" },
  { "remove_tag", "a bad tag id", function() return { actingAdminId = A } end, { "1", "urgent" }, "tag_id" },
  { "remove_tag", "no tag id", function() return { actingAdminId = A } end, { "1" }, "tag_id" },
  -- GET /v2/contacts
  { "list_contacts", "every kind", function() return { contactType = "all", limit = 50 } end, {}, nil },
  { "list_contacts", "leads", function() return { contactType = "lead" } end, {}, nil },
  { "list_contacts", "an unknown kind", function() return { contactType = "admin" } end, {}, "contactType" },
  { "list_contacts", "limit 101", function() return { limit = 101 } end, {}, "limit" },
  -- POST /v2/contacts (upsert; additionalProperties false)
  { "upsert_contact", "by email", function() return { email = "john@example.com", name = "John" } end, {}, nil },
  { "upsert_contact", "by userId", function() return { userId = "usr_12345" } end, {}, nil },
  { "upsert_contact", "neither email nor userId", function() return { name = "John" } end, {}, "email" },
  { "upsert_contact", "a bad email", function() return { email = "john@" } end, {}, "email" },
  { "upsert_contact", "a name of 500", function() return { userId = "u", name = rep("n", 500) } end, {}, nil },
  { "upsert_contact", "a name of 501", function() return { userId = "u", name = rep("n", 501) } end, {}, "name" },
  { "upsert_contact", "a userId of 501", function() return { userId = rep("u", 501) } end, {}, "userId" },
  { "upsert_contact", "a userHash of 257", function() return { userId = "u", userHash = rep("h", 257) } end, {},
    "userHash" },
  { "upsert_contact", "a picture URL", function()
    return { userId = "u", profilePicture = "https://example.com/a.png" } end, {}, nil },
  { "upsert_contact", "no picture", function() return { userId = "u", profilePicture = null } end, {}, nil },
  { "upsert_contact", "a picture that is not a URL", function()
    return { userId = "u", profilePicture = "a.png" } end, {}, "profilePicture" },
  { "upsert_contact", "a company", function()
    return { userId = "u", companies = { { id = "c1", name = "Acme", monthlySpend = 500, plan = "enterprise",
      companySize = null, createdAt = "2024-01-01T00:00:00Z", customFields = { region = "EU" } } } } end, {}, nil },
  { "upsert_contact", "101 companies", function()
    return { userId = "u", companies = list(101, function(i) return { id = "c" .. i, name = "C" } end) } end, {},
    "companies" },
  { "upsert_contact", "a company without a name", function()
    return { userId = "u", companies = { { id = "c1" } } } end, {}, "companies[1].name" },
  { "upsert_contact", "a company with an empty id", function()
    return { userId = "u", companies = { { id = "", name = "Acme" } } } end, {}, "companies[1].id" },
  { "upsert_contact", "a negative monthlySpend", function()
    return { userId = "u", companies = { { id = "c", name = "A", monthlySpend = -1 } } } end, {},
    "companies[1].monthlySpend" },
  { "upsert_contact", "a company with an unknown key", function()
    return { userId = "u", companies = { { id = "c", name = "A", ceo = "x" } } } end, {}, "companies[1].ceo" },
  { "upsert_contact", "createdAt as a Lua time", function() return { userId = "u", createdAt = 1700000000 } end, {},
    nil },
  { "upsert_contact", "customFields of primitives and lists of them", function()
    return { userId = "u", customFields = { plan = "pro", seats = 3, trial = false, gone = null, tags = { "a", 1 } } }
  end, {}, nil },
  { "upsert_contact", "customFields with an object", function()
    return { userId = "u", customFields = { address = { city = "Paris" } } } end, {}, "customFields.address" },
  { "upsert_contact", "customFields with a list of lists", function()
    return { userId = "u", customFields = { m = { { 1 } } } } end, {}, "customFields.m[1]" },
  { "upsert_contact", "a locale of 11", function() return { userId = "u", locale = rep("l", 11) } end, {}, "locale" },
  { "upsert_contact", "no phone", function() return { userId = "u", phone = null } end, {}, nil },
  { "upsert_contact", "100 roles", function() return { userId = "u", roles = list(100, tostring) } end, {}, nil },
  { "upsert_contact", "101 roles", function() return { userId = "u", roles = list(101, tostring) } end, {}, "roles" },
  { "upsert_contact", "an empty role", function() return { userId = "u", roles = { "" } } end, {}, "roles[1]" },
  { "upsert_contact", "an unknown key", function() return { userId = "u", company = "Acme" } end, {}, "company" },
  { "upsert_contact", "a null name", function() return { userId = "u", name = null } end, {}, "name" },
  -- contacts by id and by your own user id
  { "get_contact", "an ObjectId", function() return nil end, { C }, nil },
  { "get_contact", "not an ObjectId", function() return nil end, { "usr_1" }, "contact_id" },
  { "delete_contact", "an ObjectId", function() return nil end, { C }, nil },
  { "delete_contact", "not an ObjectId", function() return nil end, { "../x" }, "contact_id" },
  { "get_contact_by_user_id", "any text", function() return nil end, { "usr 1/ü?#" }, nil },
  { "get_contact_by_user_id", "255 characters", function() return nil end, { rep("ü", 255) }, nil },
  { "get_contact_by_user_id", "256 characters", function() return nil end, { rep("u", 256) }, "user_id" },
  { "get_contact_by_user_id", "empty", function() return nil end, { "" }, "user_id" },
  { "delete_contact_by_user_id", "any text", function() return nil end, { "a.b" }, nil },
  { "delete_contact_by_user_id", "a NUL byte", function() return nil end, { "a\0b" }, "user_id" },
}

local function encode(name, params, args)
  return core.encode(name, params, nil, args[1], args[2])
end

describe("API validation", function()
  for _, case in ipairs(cases) do
    local name, what, params, args, field = case[1], case[2], case[3], case[4], case[5]
    it(("%s %s %s"):format(name, field and "refuses" or "accepts", what), function()
      local p = params()
      local method, path, body = encode(name, p, args)
      if field then
        assert.is_nil(method)
        assert.are.equal("invalid_request", path.kind)
        assert.are.equal(field, path.field, path.message)
        assert.are.equal(field, path.message:sub(1, #field)) -- the message names the field
      elseif what:find("contain themselves") then
        assert.is_nil(method)
        assert.truthy(path.field:find("^customAttributes%.self"), path.field)
      else
        assert.is_string(method, tostring(path))
        assert.is_string(path)
        if body then assert.is_table(cjson.decode(body)) end
      end
    end)
  end
end)

describe("API encoding", function()
  it("sends GET, PATCH, DELETE and POST as the endpoint says, with a body only where it has one", function()
    local m, p, b, safe = core.encode("get_conversation", nil, nil, "42")
    assert.are.same({ "GET", "/v2/conversations/42", nil, true }, { m, p, b, safe })
    m, p, b, safe = core.encode("update_conversation", { state = "closed" }, nil, "42")
    assert.are.same({ "PATCH", "/v2/conversations/42", '{"state":"closed"}', true }, { m, p, b, safe })
    m, p, b, safe = core.encode("remove_participant", { id = C }, nil, "42")
    assert.are.same({ "DELETE", "/v2/conversations/42/participants", '{"id":"' .. C .. '"}', true }, { m, p, b, safe })
    m, p, b, safe = core.encode("delete_contact", nil, nil, C)
    assert.are.same({ "DELETE", "/v2/contacts/" .. C, nil, true }, { m, p, b, safe })
    local verb, _, _, unsafe = core.encode("add_participant", { participant = { id = C } }, nil, "42")
    assert.are.equal("POST", verb)
    assert.is_false(unsafe) -- common.md: not safe to repeat
    assert.is_false(select(4, core.encode("redact_part", { conversationId = "1", conversationPartId = "2" })))
    assert.is_true(select(4, core.encode("upsert_contact", { userId = "u" })))
  end)

  it("builds query strings in C, percent-encoded, with tagIds as one comma-joined value", function()
    local _, p = core.encode("list_conversations", { limit = 100, tagIds = { A, T } })
    assert.are.equal("/v2/conversations?limit=100&tagIds=" .. A .. "," .. T, p)
    _, p = core.encode("list_contacts", { cursor = "a b/c+d=", contactType = "all" })
    assert.are.equal("/v2/contacts?cursor=a%20b%2Fc%2Bd%3D&contactType=all", p)
    _, p = core.encode("list_contacts", {})
    assert.are.equal("/v2/contacts", p)
  end)

  it("percent-encodes a user id so that it can never change the path", function()
    local _, p = core.encode("get_contact_by_user_id", nil, nil, "../../v2/conversations?x=1#y")
    assert.are.equal("/v2/contacts/by-user-id/%2E%2E%2F%2E%2E%2Fv2%2Fconversations%3Fx%3D1%23y", p)
    _, p = core.encode("delete_contact_by_user_id", nil, nil, "ü")
    assert.are.equal("/v2/contacts/by-user-id/%C3%BC", p)
  end)

  it("fills in the redaction type and writes featurebase.null as JSON null", function()
    local _, _, b = core.encode("redact_part", { conversationId = "1", conversationPartId = "2" })
    assert.are.equal("conversation_part", cjson.decode(b).type)
    _, _, b = core.encode("update_conversation", { adminAssigneeId = null, teamAssigneeId = null }, nil, "1")
    assert.are.equal('{"adminAssigneeId":null,"teamAssigneeId":null}', b)
  end)

  it("writes snoozedUntil given as a Lua time as ISO 8601 UTC", function()
    local _, _, b = core.encode("update_conversation", { state = "snoozed", snoozedUntil = 4102444800 }, nil, "1")
    assert.are.equal("2100-01-01T00:00:00.000Z", cjson.decode(b).snoozedUntil)
  end)

  it("describes every endpoint once, for the client's methods and docs", function()
    local names = {}
    for _, ep in ipairs(core.api) do
      names[#names + 1] = ep.name
      assert.truthy(ep.method:match("^[A-Z]+$"))
      assert.are.equal("/v2/", ep.path:sub(1, 4))
      assert.is_string(ep.doc)
      assert.is_string(ep.returns)
    end
    table.sort(names)
    assert.are.same({ "add_participant", "add_tag", "create_conversation", "delete_contact",
      "delete_contact_by_user_id", "delete_conversation", "get_contact", "get_contact_by_user_id",
      "get_conversation", "list_contacts", "list_conversations", "redact_part", "remove_participant", "remove_tag",
      "reply", "update_conversation", "upsert_contact" }, names)
  end)
end)
