-- The fake Featurebase server's conversations and contacts API, checked with plain luasocket (never the
-- project's client): every endpoint's answer and main errors, paging, cursors, seeding, flat errors,
-- per-endpoint scripted misbehaviour and the enforced rate limit.
local testing = require("featurebase.testing")
local http = require("socket.http")
local socket = require("socket")
local ltn12 = require("ltn12")
local cjson = require("cjson.safe")

local KEY = "sk_test_api_0123456789"
local ADMIN = "507f1f77bcf86cd799439011"
local ADMIN2 = "507f1f77bcf86cd799439012"
local TAG = "67ec1234abcd5678ef901234"
local TAG2 = "67ec5678abcd1234ef905678"
local LEAD = "aaaaaaaaaaaaaaaaaaaaaaaa"
local CUSTOMER = "bbbbbbbbbbbbbbbbbbbbbbbb"

local function iso_in(seconds)
  return os.date("!%Y-%m-%dT%H:%M:%S.000Z", os.time() + seconds)
end

describe("featurebase.testing fake API", function()
  local srv

  local function request(method, path, body, headers)
    local h = { authorization = "Bearer " .. KEY, ["content-type"] = "application/json",
      ["featurebase-version"] = "2026-01-01.nova" }
    for k, v in pairs(headers or {}) do h[k] = v or nil end
    if type(body) == "table" then body = assert(cjson.encode(body)) end
    body = body or ""
    h["content-length"] = tostring(#body)
    local out = {}
    local ok, status, rh = http.request({ url = srv.url .. path, method = method, headers = h,
      source = ltn12.source.string(body), sink = ltn12.sink.table(out) })
    if not ok then return nil, status end
    local raw = table.concat(out)
    return status, cjson.decode(raw), rh, raw
  end

  local function assert_error(status, body, want_status, want_code, want_param)
    assert.are.equal(want_status, status)
    assert.is_table(body and body.error, "no error envelope")
    assert.are.equal(want_code, body.error.code)
    assert.are.equal(want_status, body.error.status)
    assert.is_string(body.error.message)
    assert.is_string(body.error.type)
    if want_param then assert.are.equal(want_param, body.error.param) end
  end

  local function ids_of(list)
    local out = {}
    for i, c in ipairs(list) do out[i] = c.id end
    return out
  end

  -- a conversation with one participant (CUSTOMER), made through the API
  local function new_conversation()
    local status, c = request("POST", "/v2/conversations",
      { from = { type = "contact", id = CUSTOMER }, bodyMarkdown = "Hello" })
    assert.are.equal(201, status)
    return c.id
  end

  lazy_setup(function() srv = testing.start({ api_key = KEY }) end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function() srv:reset() end)

  describe("GET /v2/conversations", function()
    it("lists created conversations without their parts, oldest first, in a list envelope", function()
      local a, b = new_conversation(), new_conversation()
      local status, list, _, raw = request("GET", "/v2/conversations")
      assert.are.equal(200, status)
      assert.are.equal("list", list.object)
      assert.are.same({ a, b }, ids_of(list.data))
      assert.are.equal(cjson.null, list.nextCursor)
      assert.matches('"nextCursor":null', raw, 1, true)
      for _, c in ipairs(list.data) do
        assert.is_nil(c.conversationParts)
        assert.are.equal("conversation", c.object)
        assert.is_string(c.updatedAt)
      end
    end)

    it("answers an empty list as [] with no cursor", function()
      local status, _, _, raw = request("GET", "/v2/conversations")
      assert.are.equal(200, status)
      assert.are.equal('{"object":"list","data":[],"nextCursor":null}', raw)
    end)

    it("pages 250 seeded conversations 100 at a time: 3 pages, nothing missed or repeated", function()
      local seeded = srv:seed({ conversations = 250 }).conversations
      assert.are.equal(250, #seeded)
      local seen, got, pages, cursor = {}, {}, {}, nil
      repeat
        local status, list = request("GET", "/v2/conversations?limit=100"
          .. (cursor and ("&cursor=" .. cursor) or ""))
        assert.are.equal(200, status)
        pages[#pages + 1] = #list.data
        for _, c in ipairs(list.data) do
          assert.is_nil(seen[c.id], "duplicate " .. c.id)
          seen[c.id] = true
          got[#got + 1] = c.id
        end
        cursor = list.nextCursor ~= cjson.null and list.nextCursor or nil
        if cursor then assert.matches("^[%w%-_]+$", cursor) end
      until not cursor or #pages > 5
      assert.are.same({ 100, 100, 50 }, pages)
      assert.are.same(seeded, got)
    end)

    it("hands out cursors every worker accepts", function()
      local s2 = testing.start({ api_key = KEY, workers = 2 })
      finally(function() s2:stop() end)
      local saved = srv
      srv = s2
      finally(function() srv = saved end)
      s2:seed({ conversations = 30 })
      local got, cursor = 0, nil
      for _ = 1, 6 do  -- each request on a new connection: either worker may answer it
        local status, list = request("GET", "/v2/conversations?limit=5" .. (cursor and "&cursor=" .. cursor or ""))
        assert.are.equal(200, status)
        got = got + #list.data
        cursor = list.nextCursor ~= cjson.null and list.nextCursor or nil
      end
      assert.are.same({ 30, nil }, { got, cursor })
    end)

    it("defaults to 10 per page and checks limit", function()
      srv:seed({ conversations = 12 })
      local status, list = request("GET", "/v2/conversations")
      assert.are.equal(200, status)
      assert.are.equal(10, #list.data)
      assert.is_string(list.nextCursor)
      for _, bad in ipairs({ "0", "101", "abc", "1.5", "" }) do
        status, list = request("GET", "/v2/conversations?limit=" .. bad)
        assert_error(status, list, 400, "invalid_parameter", "limit")
      end
      status, list = request("GET", "/v2/conversations?state=open")
      assert_error(status, list, 400, "invalid_parameter", "state")
    end)

    it("refuses tampered, garbage, foreign and stale cursors with 400 invalid_cursor", function()
      srv:seed({ conversations = 5, contacts = 5 })
      local _, list = request("GET", "/v2/conversations?limit=2")
      local cursor = list.nextCursor
      assert.is_string(cursor)
      assert.are.equal(200, (request("GET", "/v2/conversations?limit=2&cursor=" .. cursor)))
      local function flip(i)  -- another base64url character at position i
        local ch = cursor:sub(i, i)
        return cursor:sub(1, i - 1) .. (ch == "A" and "B" or "A") .. cursor:sub(i + 1)
      end
      local _, clist = request("GET", "/v2/contacts?limit=2")
      for _, bad in ipairs({ flip(1), flip(math.floor(#cursor / 2)), flip(#cursor), cursor .. "A", cursor:sub(2), "garbage",
        "MTIz", string.rep("A", 600), clist.nextCursor, "%00" }) do
        local status, body = request("GET", "/v2/conversations?limit=2&cursor=" .. bad)
        assert_error(status, body, 400, "invalid_cursor", "cursor")
      end
      -- bound to the filter it was made for
      local status, body = request("GET", "/v2/conversations?limit=2&tagIds=" .. TAG .. "&cursor=" .. cursor)
      assert_error(status, body, 400, "invalid_cursor")
      srv:reset()
      srv:seed({ conversations = 5 })
      status, body = request("GET", "/v2/conversations?limit=2&cursor=" .. cursor)
      assert_error(status, body, 400, "invalid_cursor")
    end)

    it("filters by tagIds, all of them (comma-separated or repeated)", function()
      local ids = srv:seed({ conversations = { { tags = { TAG } }, { tags = { TAG, TAG2 } }, {},
        { tags = { { id = TAG2, name = "billing" } } } } }).conversations
      local _, one = request("GET", "/v2/conversations?tagIds=" .. TAG)
      assert.are.same({ ids[1], ids[2] }, ids_of(one.data))
      local _, both = request("GET", "/v2/conversations?tagIds=" .. TAG .. "," .. TAG2)
      assert.are.same({ ids[2] }, ids_of(both.data))
      local _, rep = request("GET", "/v2/conversations?tagIds=" .. TAG2 .. "&tagIds=" .. TAG)
      assert.are.same({ ids[2] }, ids_of(rep.data))
      local _, fourth = request("GET", "/v2/conversations/" .. ids[4])
      assert.are.same({ { type = "tag", id = TAG2, name = "billing" } }, fourth.tags)
      local status, body = request("GET", "/v2/conversations?tagIds=nothex")
      assert_error(status, body, 400, "invalid_parameter", "tagIds")
    end)
  end)

  describe("GET/PATCH/DELETE /v2/conversations/{id}", function()
    it("gets a conversation with its parts, and 404 for an unknown one", function()
      local id = new_conversation()
      request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "Hi", messageType = "reply" })
      local status, c = request("GET", "/v2/conversations/" .. id)
      assert.are.equal(200, status)
      assert.are.equal(id, c.id)
      assert.are.same({ "1", "2" }, ids_of(c.conversationParts))
      assert.are.equal(c.conversationParts[2].createdAt, c.updatedAt)
      local body
      status, body = request("GET", "/v2/conversations/nosuch1")
      assert_error(status, body, 404, "conversation_not_found")
      assert.are.equal("invalid_request_error", body.error.type)
    end)

    it("updates only the keys sent: state, snooze, assignees (null unassigns), title, attributes", function()
      local id = new_conversation()
      local status, c = request("PATCH", "/v2/conversations/" .. id,
        { state = "closed", adminAssigneeId = ADMIN, teamAssigneeId = TAG, title = "Billing",
          customAttributes = { plan = "pro" }, actingAdminId = ADMIN })
      assert.are.equal(200, status)
      assert.are.same({ "closed", ADMIN, TAG, "Billing", "pro" },
        { c.state, c.adminAssigneeId, c.teamAssigneeId, c.title, c.customAttributes.plan })
      local until_ = iso_in(3600)
      status, c = request("PATCH", "/v2/conversations/" .. id, { state = "snoozed", snoozedUntil = until_,
        adminAssigneeId = cjson.null, customAttributes = { tier = 2 } })
      assert.are.equal(200, status)
      assert.are.same({ "snoozed", until_, cjson.null, TAG, "Billing" },
        { c.state, c.snoozedUntil, c.adminAssigneeId, c.teamAssigneeId, c.title })
      assert.are.same({ plan = "pro", tier = 2 }, c.customAttributes)
      status, c = request("PATCH", "/v2/conversations/" .. id, { state = "open",
        markAsRead = { allAdmins = true, contactIds = { CUSTOMER } } })
      assert.are.equal(200, status)
      assert.are.same({ "open", cjson.null }, { c.state, c.snoozedUntil })
      assert.are.equal("open", srv:conversation(id).state)
      assert.are.equal(200, (request("PATCH", "/v2/conversations/" .. id, {})))
    end)

    local update_cases = {
      { "bad state", { state = "pending" }, "state" },
      { "snoozed without snoozedUntil", { state = "snoozed" }, "snoozedUntil", "missing_parameter" },
      { "snoozedUntil in the past", { state = "snoozed", snoozedUntil = "2020-01-01T00:00:00Z" }, "snoozedUntil" },
      { "snoozedUntil not a date", { state = "snoozed", snoozedUntil = "tomorrow" }, "snoozedUntil" },
      { "adminAssigneeId not an ObjectId", { adminAssigneeId = "bob" }, "adminAssigneeId" },
      { "title over 255", { title = string.rep("t", 256) }, "title" },
      { "customAttributes not an object", { customAttributes = "x" }, "customAttributes" },
      { "bad markAsRead id", { markAsRead = { adminIds = { "x" } } }, "markAsRead.adminIds[1]" },
      { "unknown markAsRead key", { markAsRead = { everyone = true } }, "markAsRead.everyone" },
      { "priority is not updatable", { priority = true }, "priority" },
      { "bad actingAdminId", { actingAdminId = "1" }, "actingAdminId" },
    }
    for _, case in ipairs(update_cases) do
      it("400 on update: " .. case[1], function()
        local id = new_conversation()
        local status, body = request("PATCH", "/v2/conversations/" .. id, case[2])
        assert_error(status, body, 400, case[4] or "invalid_parameter", case[3])
      end)
    end

    it("checks admins and teams against the seeded ones, once any are seeded", function()
      local id = new_conversation()
      assert.are.equal(200, (request("PATCH", "/v2/conversations/" .. id, { actingAdminId = ADMIN2 })))
      srv:seed({ admins = { ADMIN }, teams = { TAG } })
      local status, body = request("PATCH", "/v2/conversations/" .. id, { actingAdminId = ADMIN2, state = "closed" })
      assert_error(status, body, 403, "forbidden", "actingAdminId")
      assert.are.equal("authorization_error", body.error.type)
      status, body = request("PATCH", "/v2/conversations/" .. id, { adminAssigneeId = ADMIN2 })
      assert_error(status, body, 404, "admin_not_found", "adminAssigneeId")
      status, body = request("PATCH", "/v2/conversations/" .. id, { teamAssigneeId = TAG2 })
      assert_error(status, body, 404, "team_not_found", "teamAssigneeId")
      assert.are.equal(200, (request("PATCH", "/v2/conversations/" .. id,
        { actingAdminId = ADMIN, adminAssigneeId = ADMIN, teamAssigneeId = TAG })))
      assert.are.equal("open", srv:conversation(id).state)
      status, body = request("PATCH", "/v2/conversations/nosuch", { state = "closed" })
      assert_error(status, body, 404, "conversation_not_found")
    end)

    it("deletes a conversation for good", function()
      local a, b = new_conversation(), new_conversation()
      local status, body, _, raw = request("DELETE", "/v2/conversations/" .. a)
      assert.are.equal(200, status)
      assert.are.same({ id = a, object = "conversation", deleted = true }, body)
      assert.matches('"deleted":true', raw, 1, true)
      assert.are.equal(404, (request("GET", "/v2/conversations/" .. a)))
      assert.is_nil(srv:conversation(a))
      local _, list = request("GET", "/v2/conversations")
      assert.are.same({ b }, ids_of(list.data))
      status, body = request("DELETE", "/v2/conversations/" .. a)
      assert_error(status, body, 404, "conversation_not_found")
      status, body = request("POST", "/v2/conversations/" .. a .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "x", messageType = "reply" })
      assert_error(status, body, 404, "conversation_not_found")
    end)
  end)

  describe("participants", function()
    local function seed_people()
      srv:seed({ contacts = { { id = CUSTOMER, userId = "u1", email = "one@example.com" },
        { userId = "u2", email = "Two@Example.com" }, { id = LEAD, type = "lead", userId = "lead1",
          email = "lead@example.com" } } })
    end

    it("adds contacts by id (customers and leads), userId or email (customers only)", function()
      seed_people()
      local id = new_conversation()
      local _, two = request("GET", "/v2/contacts/by-user-id/u2")
      two = two.id
      local status, c = request("POST", "/v2/conversations/" .. id .. "/participants",
        { participant = { id = LEAD }, actingAdminId = ADMIN })
      assert.are.equal(200, status)
      assert.are.same({ { type = "customer", id = CUSTOMER }, { type = "lead", id = LEAD } }, c.participants)
      status, c = request("POST", "/v2/conversations/" .. id .. "/participants",
        { participant = { email = "two@example.com" } })
      assert.are.equal(200, status)
      assert.are.equal(two, c.participants[3].id)
      -- again, by userId: already there, nothing added
      status, c = request("POST", "/v2/conversations/" .. id .. "/participants", { participant = { userId = "u2" } })
      assert.are.equal(200, status)
      assert.are.equal(3, #c.participants)
      local body
      status, body = request("POST", "/v2/conversations/" .. id .. "/participants",
        { participant = { userId = "lead1" } })
      assert_error(status, body, 404, "contact_not_found")
      status, body = request("POST", "/v2/conversations/" .. id .. "/participants",
        { participant = { id = ADMIN } })
      assert_error(status, body, 404, "contact_not_found")
      status, body = request("POST", "/v2/conversations/" .. id .. "/participants", { participant = {} })
      assert_error(status, body, 400, "missing_parameter", "participant")
      status, body = request("POST", "/v2/conversations/" .. id .. "/participants", {})
      assert_error(status, body, 400, "missing_parameter", "participant")
      status, body = request("POST", "/v2/conversations/" .. id .. "/participants",
        { participant = { email = "not-an-email" } })
      assert_error(status, body, 400, "invalid_parameter", "participant.email")
      status, body = request("POST", "/v2/conversations/nosuch/participants", { participant = { id = LEAD } })
      assert_error(status, body, 404, "conversation_not_found")
    end)

    it("removes a participant with a JSON body on DELETE, never the last one", function()
      seed_people()
      local id = new_conversation()
      request("POST", "/v2/conversations/" .. id .. "/participants", { participant = { id = LEAD } })
      local status, c = request("DELETE", "/v2/conversations/" .. id .. "/participants",
        { id = CUSTOMER, actingAdminId = ADMIN })
      assert.are.equal(200, status)
      assert.are.same({ { type = "lead", id = LEAD } }, c.participants)
      assert.are.same({ { type = "lead", id = LEAD } }, srv:conversation(id).participants)
      local body
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/participants", { id = CUSTOMER })
      assert_error(status, body, 404, "participant_not_found", "id")
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/participants", { id = LEAD })
      assert_error(status, body, 400, "invalid_request")
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/participants")
      assert_error(status, body, 400, "missing_parameter", "id")
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/participants", { id = "u1" })
      assert_error(status, body, 400, "invalid_parameter", "id")
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/participants", '{"id":',
        { ["content-type"] = "application/json" })
      assert_error(status, body, 400, "invalid_json")
    end)
  end)

  describe("POST /v2/conversations/redact", function()
    it("wipes a message part and answers the conversation with its parts", function()
      local id = new_conversation()
      request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "secret", messageType = "reply" })
      request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "note", messageType = "note" })
      local status, c = request("POST", "/v2/conversations/redact",
        { type = "conversation_part", conversationId = id, conversationPartId = "2", actingAdminId = ADMIN })
      assert.are.equal(200, status)
      local p = c.conversationParts[2]
      assert.are.same({ "", "", true, "admin_msg" }, { p.bodyHtml, p.bodyMarkdown, p.redacted, p.partType })
      assert.are.equal("Hello", c.conversationParts[1].bodyMarkdown)
      assert.is_true(srv:conversation(id).conversationParts[2].redacted)
      local body
      status, body = request("POST", "/v2/conversations/redact",
        { type = "conversation_part", conversationId = id, conversationPartId = "3" })
      assert_error(status, body, 400, "invalid_request")
      status, body = request("POST", "/v2/conversations/redact",
        { type = "conversation_part", conversationId = id, conversationPartId = "9" })
      assert_error(status, body, 404, "conversation_part_not_found")
      status, body = request("POST", "/v2/conversations/redact",
        { type = "conversation_part", conversationId = "nosuch", conversationPartId = "1" })
      assert_error(status, body, 404, "conversation_not_found")
      status, body = request("POST", "/v2/conversations/redact",
        { type = "conversation", conversationId = id, conversationPartId = "1" })
      assert_error(status, body, 400, "invalid_parameter", "type")
      status, body = request("POST", "/v2/conversations/redact", { type = "conversation_part", conversationPartId = "1" })
      assert_error(status, body, 400, "missing_parameter", "conversationId")
      status, body = request("POST", "/v2/conversations/redact",
        { type = "conversation_part", conversationId = id, conversationPartId = "1-2" })
      assert_error(status, body, 400, "invalid_parameter", "conversationPartId")
    end)
  end)

  describe("tags", function()
    it("applies and removes tags, keeping the conversation's tags in sync", function()
      srv:seed({ tags = { { id = TAG, name = "billing" }, TAG2 } })
      local id = new_conversation()
      local status, t = request("POST", "/v2/conversations/" .. id .. "/tags", { tagId = TAG, actingAdminId = ADMIN })
      assert.are.equal(200, status)
      assert.are.same({ "tag", TAG, "billing", ADMIN }, { t.type, t.id, t.name, t.appliedBy })
      assert.is_string(t.appliedAt)
      request("POST", "/v2/conversations/" .. id .. "/tags", { tagId = TAG2, actingAdminId = ADMIN })
      request("POST", "/v2/conversations/" .. id .. "/tags", { tagId = TAG2, actingAdminId = ADMIN })  -- again
      assert.are.same({ { type = "tag", id = TAG, name = "billing" }, { type = "tag", id = TAG2, name = "tag-" .. TAG2 } },
        srv:conversation(id).tags)
      status, t = request("DELETE", "/v2/conversations/" .. id .. "/tags/" .. TAG, { actingAdminId = ADMIN })
      assert.are.equal(200, status)
      assert.are.same({ "tag", TAG, "billing", ADMIN }, { t.type, t.id, t.name, t.removedBy })
      assert.is_string(t.removedAt)
      assert.are.same({ TAG2 }, ids_of(srv:conversation(id).tags))
      local body
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/tags/" .. TAG, { actingAdminId = ADMIN })
      assert_error(status, body, 404, "resource_not_found")
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/tags/" .. TAG2)
      assert_error(status, body, 400, "missing_parameter", "actingAdminId")
      status, body = request("POST", "/v2/conversations/" .. id .. "/tags", { tagId = TAG })
      assert_error(status, body, 400, "missing_parameter", "actingAdminId")
      status, body = request("POST", "/v2/conversations/" .. id .. "/tags", { tagId = ADMIN, actingAdminId = ADMIN })
      assert_error(status, body, 404, "resource_not_found", "tagId")
      status, body = request("POST", "/v2/conversations/" .. id .. "/tags", { tagId = "x", actingAdminId = ADMIN })
      assert_error(status, body, 400, "invalid_parameter", "tagId")
      status, body = request("DELETE", "/v2/conversations/" .. id .. "/tags/x", { actingAdminId = ADMIN })
      assert_error(status, body, 400, "invalid_parameter", "tagId")
      status, body = request("POST", "/v2/conversations/nosuch/tags", { tagId = TAG, actingAdminId = ADMIN })
      assert_error(status, body, 404, "conversation_not_found")
    end)
  end)

  describe("contacts", function()
    it("upserts: 201 when created, 200 when updated, userId wins over email", function()
      local status, c = request("POST", "/v2/contacts", { email = "john@example.com", userId = "usr_1",
        name = "John", companies = { { id = "co_1", name = "Acme", monthlySpend = 500 } },
        customFields = { plan = "pro", seats = 3, flags = { "a", 1 } }, subscribedToChangelog = false })
      assert.are.equal(201, status)
      assert.are.same({ "contact", "customer", "John", "usr_1", "john@example.com", false },
        { c.object, c.type, c.name, c.userId, c.email, c.subscribedToChangelog })
      assert.matches("^%x+$", c.id)
      assert.are.equal(24, #c.id)
      assert.are.same({ "company", "co_1", "Acme", 500 }, { c.companies[1].object, c.companies[1].companyId,
        c.companies[1].name, c.companies[1].monthlySpend })
      local id = c.id
      -- same userId, new email: updated, not created
      status, c = request("POST", "/v2/contacts", { userId = "usr_1", email = "j@example.com", locale = "de" })
      assert.are.equal(200, status)
      assert.are.same({ id, "j@example.com", "John", "de" }, { c.id, c.email, c.name, c.locale })
      -- email alone finds it under its new email
      status, c = request("POST", "/v2/contacts", { email = "J@example.com", name = "Johnny" })
      assert.are.equal(200, status)
      assert.are.same({ id, "Johnny" }, { c.id, c.name })
      -- an unknown userId with a known email of a contact that has another userId: a new contact
      status, c = request("POST", "/v2/contacts", { userId = "usr_2", email = "j@example.com" })
      assert.are.equal(201, status)
      assert.are_not.equal(id, c.id)
      assert.are.equal("Johnny", srv:contact(id).name)
      local _, list = request("GET", "/v2/contacts")
      assert.are.equal(2, #list.data)
    end)

    local upsert_cases = {
      { "neither email nor userId", { name = "x" }, "email", "missing_parameter" },
      { "bad email", { email = "nope" }, "email" },
      { "unknown key", { email = "a@example.com", plan = "pro" }, "plan" },
      { "name over 500", { userId = "u", name = string.rep("n", 501) }, "name" },
      { "locale over 10", { userId = "u", locale = "en-US-x-long" }, "locale" },
      { "company without name", { userId = "u", companies = { { id = "c1", name = "A" }, { id = "c2" } } },
        "companies[2].name", "missing_parameter" },
      { "company unknown key", { userId = "u", companies = { { id = "c1", name = "A", size = 3 } } },
        "companies[1].size" },
      { "negative monthlySpend", { userId = "u", companies = { { id = "c1", name = "A", monthlySpend = -1 } } },
        "companies[1].monthlySpend" },
      { "nested customFields", { userId = "u", customFields = { a = { b = 1 } } }, "customFields.a" },
      { "roles not strings", { userId = "u", roles = { 1 } }, "roles[1]" },
      { "profilePicture not a URI", { userId = "u", profilePicture = "me.png" }, "profilePicture" },
      { "bad createdAt", { userId = "u", createdAt = "yesterday" }, "createdAt" },
    }
    for _, case in ipairs(upsert_cases) do
      it("400 on upsert: " .. case[1], function()
        local status, body = request("POST", "/v2/contacts", case[2])
        assert_error(status, body, 400, case[4] or "invalid_parameter", case[3])
        assert.are.same({}, (select(2, request("GET", "/v2/contacts?contactType=all"))).data)
      end)
    end

    it("lists customers by default, leads or all on request, paging with cursors", function()
      local ids = srv:seed({ contacts = { { type = "lead", email = "l1@example.com" }, {}, {},
        { type = "lead", userId = "l2" }, {} } }).contacts
      local _, list = request("GET", "/v2/contacts")
      assert.are.same({ ids[2], ids[3], ids[5] }, ids_of(list.data))
      _, list = request("GET", "/v2/contacts?contactType=lead")
      assert.are.same({ ids[1], ids[4] }, ids_of(list.data))
      local got, cursor = {}, nil
      repeat
        local status
        status, list = request("GET", "/v2/contacts?contactType=all&limit=2" .. (cursor and "&cursor=" .. cursor or ""))
        assert.are.equal(200, status)
        for _, c in ipairs(list.data) do got[#got + 1] = c.id end
        cursor = list.nextCursor ~= cjson.null and list.nextCursor or nil
      until not cursor
      assert.are.same(ids, got)
      local status, body = request("GET", "/v2/contacts?contactType=admin")
      assert_error(status, body, 400, "invalid_parameter", "contactType")
      _, list = request("GET", "/v2/contacts?contactType=lead&limit=1")
      status, body = request("GET", "/v2/contacts?contactType=customer&cursor=" .. list.nextCursor)
      assert_error(status, body, 400, "invalid_cursor")
    end)

    it("gets and deletes by id", function()
      local id = srv:seed({ contacts = { { id = LEAD, type = "lead", email = "l@example.com" } } }).contacts[1]
      assert.are.equal(LEAD, id)
      local status, c = request("GET", "/v2/contacts/" .. LEAD)
      assert.are.equal(200, status)
      assert.are.same({ LEAD, "lead", "l@example.com" }, { c.id, c.type, c.email })
      local body
      status, body = request("GET", "/v2/contacts/not-an-id")
      assert_error(status, body, 400, "invalid_id", "id")
      status, body = request("GET", "/v2/contacts/" .. CUSTOMER)
      assert_error(status, body, 404, "contact_not_found")
      status, body = request("DELETE", "/v2/contacts/" .. LEAD)
      assert.are.equal(200, status)
      assert.are.same({ id = LEAD, object = "contact", deleted = true }, body)
      assert.is_nil(srv:contact(LEAD))
      status, body = request("DELETE", "/v2/contacts/" .. LEAD)
      assert_error(status, body, 404, "contact_not_found")
      status, body = request("DELETE", "/v2/contacts/xyz")
      assert_error(status, body, 400, "invalid_id")
      -- an upsert by the deleted contact's email creates a fresh one
      assert.are.equal(201, (request("POST", "/v2/contacts", { email = "l@example.com" })))
    end)

    it("gets and deletes customers by a percent-decoded userId, never leads", function()
      local uid = "user 1/ä?&"
      local enc = uid:gsub("[^%w]", function(ch) return string.format("%%%02X", ch:byte()) end)
      local ids = srv:seed({ contacts = { { userId = uid }, { type = "lead", userId = "lead_1" } } }).contacts
      local status, c = request("GET", "/v2/contacts/by-user-id/" .. enc)
      assert.are.equal(200, status)
      assert.are.same({ ids[1], uid }, { c.id, c.userId })
      local body
      status, body = request("GET", "/v2/contacts/by-user-id/lead_1")
      assert_error(status, body, 404, "contact_not_found")
      status, body = request("DELETE", "/v2/contacts/by-user-id/lead_1")
      assert_error(status, body, 400, "invalid_request")
      status, body = request("GET", "/v2/contacts/by-user-id/" .. string.rep("u", 256))
      assert_error(status, body, 400, "invalid_parameter", "userId")
      status, body = request("DELETE", "/v2/contacts/by-user-id/" .. enc)
      assert.are.equal(200, status)
      assert.are.same({ id = ids[1], object = "contact", deleted = true }, body)
      status, body = request("DELETE", "/v2/contacts/by-user-id/" .. enc)
      assert_error(status, body, 404, "contact_not_found")
      assert.are.same({ ids[2] }, ids_of((select(2, request("GET", "/v2/contacts?contactType=all"))).data))
    end)
  end)

  describe("routing", function()
    it("answers 405 with Allow for a known path and another method", function()
      local status, body, h = request("PUT", "/v2/conversations/1")
      assert_error(status, body, 405, "method_not_allowed")
      assert.are.equal("DELETE, GET, PATCH", h["allow"])
      status, body, h = request("GET", "/v2/conversations/1/tags")
      assert_error(status, body, 405, "method_not_allowed")
      assert.are.equal("POST", h["allow"])
      status, body = request("POST", "/v2/contacts/" .. LEAD)
      assert_error(status, body, 405, "method_not_allowed")
    end)

    it("checks the key, the version and the content type on the new endpoints too", function()
      local status, body = request("GET", "/v2/contacts", nil, { authorization = "Bearer wrong" })
      assert_error(status, body, 401, "invalid_api_key")
      status, body = request("GET", "/v2/conversations", nil, { ["featurebase-version"] = "2025-12-12.clover" })
      assert_error(status, body, 400, "unsupported_version")
      status, body = request("PATCH", "/v2/conversations/1", "state=closed", { ["content-type"] = "text/plain" })
      assert_error(status, body, 415, "unsupported_media_type")
    end)
  end)

  describe("seeding", function()
    it("stores given conversations with their ids, parts and tags; new ids never collide", function()
      local out = srv:seed({ conversations = { { id = "2", title = "Seeded", state = "closed",
        participants = { CUSTOMER }, conversationParts = { { bodyMarkdown = "first" },
          { partType = "admin_msg", bodyMarkdown = "second", author = { type = "admin", id = ADMIN } } } } } })
      assert.are.same({ "2" }, out.conversations)
      local c = srv:conversation("2")
      assert.are.same({ "Seeded", "closed" }, { c.title, c.state })
      assert.are.same({ { type = "customer", id = CUSTOMER } }, c.participants)
      assert.are.same({ "1", "2" }, ids_of(c.conversationParts))
      assert.are.same({ "user_msg", "<p>first</p>" }, { c.conversationParts[1].partType, c.conversationParts[1].bodyHtml })
      assert.are.same({}, c.tags)
      local a, b = new_conversation(), new_conversation()
      assert.are.same({ "1", "3" }, { a, b })
      assert.are.equal(2, #srv:requests())  -- seeding records no API request
      assert.are.same({ "2", "1", "3" }, ids_of((select(2, request("GET", "/v2/conversations"))).data))
    end)

    it("raises on a bad seed", function()
      assert.has_error(function() srv:seed({ conversations = { { id = "no-dash" } } }) end)
      assert.has_error(function() srv:seed({ contacts = { { id = "short" } } }) end)
      assert.has_error(function() srv:seed({ admins = { "x" } }) end)
      assert.has_error(function() srv:seed({ conversations = { { tags = { "billing" } } } }) end)
      assert.has_error(function() srv:seed({ contacts = { { email = 5 } } }) end)
      assert.has_error(function() srv:seed({ conversations = -1 }) end)
      assert.are.same({}, (select(2, request("GET", "/v2/contacts"))).data)
    end)
  end)

  describe("flat errors", function()
    it("answers real and simulated errors in the flat shapes with the flat mode", function()
      local status, body = request("GET", "/v2/conversations/nosuch", nil, { ["x-fb-test"] = "flat" })
      assert.are.equal(404, status)
      assert.are.same({ message = "Conversation not found" }, body)
      status, body = request("GET", "/v2/contacts", nil, { ["x-fb-test"] = "flat", authorization = "Bearer no" })
      assert.are.equal(401, status)
      assert.are.same({ success = false, message = "Invalid API Key" }, body)
      status, body = request("GET", "/v2/contacts?limit=0", nil, { ["x-fb-test"] = "flat" })
      assert.are.equal(400, status)
      assert.are.same({ code = 400, message = "Validation error: limit must be an integer from 1 to 100" }, body)
      status, body = request("GET", "/v2/contacts", nil, { ["x-fb-test"] = "status=503,flat" })
      assert.are.equal(503, status)
      assert.are.same({ message = "Simulated 503 (X-Fb-Test)" }, body)
      status, body = request("GET", "/__fb/mode/flat,status=400/v2/contacts")
      assert.are.equal(400, status)
      assert.are.equal(400, body.code)
      assert.is_nil(body.error)
      -- success answers are left alone
      status, body = request("GET", "/v2/contacts", nil, { ["x-fb-test"] = "flat" })
      assert.are.same({ 200, "list" }, { status, body.object })
    end)
  end)

  describe("per-endpoint script", function()
    it("fails the 2nd list page only, leaving other endpoints alone", function()
      srv:seed({ conversations = 25 })
      srv:script({ { match = "GET /v2/conversations", modes = "status=503", skip = 1 } })
      local id = new_conversation()                                              -- a POST: not matched
      assert.are.equal(200, (request("GET", "/v2/conversations/" .. id)))      -- another path: not matched
      local status, list = request("GET", "/v2/conversations")
      assert.are.equal(200, status)                                              -- skipped
      local body
      status, body = request("GET", "/v2/conversations?cursor=" .. list.nextCursor)
      assert_error(status, body, 503, "service_unavailable")                   -- fired
      assert.are.equal(200, (request("GET", "/v2/conversations?cursor=" .. list.nextCursor)))  -- used up
    end)

    it("matches * as one path segment and keeps plain string entries in order", function()
      local id = new_conversation()
      srv:script({ { match = "DELETE /v2/conversations/*", modes = "status=500" }, "status=502",
        { match = "* /v2/contacts", modes = "flat,status=409" } })
      assert.are.equal(502, (request("GET", "/v2/conversations/" .. id .. "/tags")))  -- the plain entry
      assert.are.equal(200, (request("GET", "/v2/conversations/" .. id)))
      -- ".../{id}/tags/{tagId}" is not "/v2/conversations/*": the real answer (tag not applied) comes back
      local status, body = request("DELETE", "/v2/conversations/" .. id .. "/tags/" .. TAG, { actingAdminId = ADMIN })
      assert_error(status, body, 404, "resource_not_found")
      assert.are.equal(500, (request("DELETE", "/v2/conversations/" .. id)))
      status, body = request("GET", "/v2/contacts")
      assert.are.same({ 409, "Simulated 409 (X-Fb-Test)" }, { status, body.message })
      assert.are.equal(200, (request("DELETE", "/v2/conversations/" .. id)))
    end)

    it("refuses an entry without match", function()
      assert.has_error(function() srv:script({ { modes = "status=500" } }) end)
    end)
  end)

  describe("rate limit", function()
    it("enforces rate_limit per window, with headers and a report", function()
      local s2 = testing.start({ api_key = KEY, rate_limit = 3, rate_window = 2 })
      finally(function() s2:stop() end)
      local saved = srv
      srv = s2
      finally(function() srv = saved end)
      -- start at the beginning of a window so all four requests fall into it
      local now = socket.gettime()
      socket.sleep((math.floor(now / 2) + 1) * 2 - now + 0.05)
      local seen = {}
      for i = 1, 4 do
        local status, body, h = request("GET", "/v2/contacts")
        seen[i] = { status, h["x-ratelimit-limit"], h["x-ratelimit-remaining"] }
        if i == 4 then
          assert_error(status, body, 429, "rate_limit_exceeded")
          assert.are.equal("rate_limit_error", body.error.type)
        end
        local reset = tonumber(h["x-ratelimit-reset"])
        assert.is_true(reset >= os.time() and reset <= os.time() + 3, tostring(reset))
      end
      assert.are.same({ { 200, "3", "2" }, { 200, "3", "1" }, { 200, "3", "0" }, { 429, "3", "0" } }, seen)
      local r = s2:rate()
      assert.are.same({ 3, 2, true, 4, 1, 1 }, { r.limit, r.window, r.enforced, r.requests, r.limited, r.windows })
      socket.sleep(2.05)
      assert.are.equal(200, (request("GET", "/v2/contacts")))
      r = s2:rate()
      assert.are.same({ 1, 2 }, { r.limited, r.windows })
      -- control endpoints are never limited nor counted
      assert.are.equal(200, (request("GET", "/__fb/health")))
      assert.are.equal(5, s2:rate().requests)
    end)

    it("counts but never refuses without rate_limit", function()
      for _ = 1, 3 do request("GET", "/v2/contacts") end
      local r = srv:rate()
      assert.are.same({ 2000, 60, false, 3, 0 }, { r.limit, r.window, r.enforced, r.requests, r.limited })
    end)
  end)
end)
