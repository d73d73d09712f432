-- Every endpoint end to end against the fake Featurebase server (a real nginx), on the blocking
-- client and on the async engine: what the server receives, what comes back, paging across pages,
-- the return convention, retries of what is safe to repeat, refused blocking calls on a driven client.
local cjson = require("cjson")
local featurebase = require("featurebase")
local H = require("spec.helpers")

local A, T = H.ADMIN, "67ec1234abcd5678ef901234"
local unpack = table.unpack or unpack ---@diagnostic disable-line: deprecated

describe("API endpoints", function()
  local srv, client

  setup(function()
    srv = H.server()
    client = H.client(srv)
  end)

  teardown(function()
    client:close()
    srv:stop()
  end)

  before_each(function()
    srv:reset()
    srv:seed({ tags = { T }, admins = { A } })
  end)

  -- The last API request the server received.
  local function last()
    local r = srv:requests()
    return r[#r]
  end

  it("do the whole round: contact, conversation, reply, tags, participants, redaction, close, delete", function()
    local contact, err, res = client:upsert_contact({ email = "ada@example.com", name = "Ada", userId = "usr ada/1" })
    assert.is_table(contact, tostring(err))
    assert.are.equal(201, res.status) -- created
    assert.truthy(contact.id:match("^%x+$") and #contact.id == 24)
    local again
    again, err, res = client:upsert_contact({ userId = "usr ada/1", name = "Ada L." })
    assert.are.equal(contact.id, again.id, tostring(err))
    assert.are.equal(200, res.status) -- updated
    assert.are.equal(contact.id, assert(client:get_contact(contact.id)).id)
    assert.are.equal("Ada L.", assert(client:get_contact_by_user_id("usr ada/1")).name)
    assert.are.equal("/v2/contacts/by-user-id/usr%20ada%2F1", last().path)

    local conv = assert(client:create_conversation({ from = { type = "contact", id = contact.id },
      bodyMarkdown = "Hello" }))
    local part = assert(client:reply(conv.id, { type = "contact", id = contact.id, bodyMarkdown = "More",
      messageType = "reply" }))
    assert.is_table(assert(client:add_note(conv.id, A, "internal")))

    local full = assert(client:get_conversation(conv.id))
    assert.are.equal(conv.id, full.id)
    assert.is_true(#full.conversationParts >= 2)

    local closed = assert(client:update_conversation(conv.id, { state = "closed", actingAdminId = A }))
    assert.are.equal("closed", closed.state)
    assert.are.same({ method = "PATCH", body = { state = "closed", actingAdminId = A } },
      { method = last().method, body = cjson.decode(last().body) })
    local snoozed = assert(client:update_conversation(conv.id, { state = "snoozed", snoozedUntil = os.time() + 600,
      adminAssigneeId = A }))
    assert.are.equal("snoozed", snoozed.state)
    assert.are.equal(A, snoozed.adminAssigneeId)
    local unassigned = assert(client:update_conversation(conv.id, { state = "open",
      adminAssigneeId = featurebase.null, snoozedUntil = featurebase.null }))
    assert.is_nil(unassigned.adminAssigneeId) -- JSON null fields are absent from what comes back
    assert.truthy(last().body:find('"adminAssigneeId":null', 1, true))

    local tag = assert(client:add_tag(conv.id, { tagId = T, actingAdminId = A }))
    assert.are.equal(T, tag.id)
    assert.are.equal(1, #assert(client:get_conversation(conv.id)).tags)
    assert(client:remove_tag(conv.id, T, { actingAdminId = A }))
    assert.are.equal("DELETE", last().method)
    assert.are.equal("/v2/conversations/" .. conv.id .. "/tags/" .. T, last().path)
    assert.are.equal(0, #(assert(client:get_conversation(conv.id)).tags or {}))

    local bob = assert(client:upsert_contact({ email = "bob@example.com" }))
    local with_bob = assert(client:add_participant(conv.id, { participant = { email = "bob@example.com" } }))
    assert.are.equal(2, #with_bob.participants)
    local without = assert(client:remove_participant(conv.id, { id = bob.id }))
    assert.are.equal(1, #without.participants)
    assert.are.same({ "DELETE", { id = bob.id } }, { last().method, cjson.decode(last().body) })

    local redacted = assert(client:redact_part({ conversationId = conv.id, conversationPartId = part.id }))
    local found
    for _, p in ipairs(redacted.conversationParts) do if p.id == part.id then found = p end end
    assert.is_true(found.redacted)
    assert.are.equal("", found.bodyMarkdown)
    assert.are.equal("conversation_part", cjson.decode(last().body).type)

    local page = assert(client:list_conversations({ limit = 1 }))
    assert.are.equal("list", page.object)
    assert.are.equal(1, #page.data)
    assert.are.equal(1, #assert(client:list_contacts({ contactType = "all", limit = 1 })).data)

    local deleted = assert(client:delete_conversation(conv.id))
    assert.are.same({ id = conv.id, object = "conversation", deleted = true }, deleted)
    local none
    none, err = client:get_conversation(conv.id)
    assert.is_nil(none)
    assert.are.equal(404, err.status)
    assert.is_true(assert(client:delete_contact(bob.id)).deleted)
    assert.is_true(assert(client:delete_contact_by_user_id("usr ada/1")).deleted)
    assert.is_nil((client:get_contact(contact.id)))
  end)

  it("never send what they refuse, and name the field", function()
    local before = #srv:requests()
    local calls = {
      { "list_conversations", { limit = 0 } }, { "get_conversation", "a-b" },
      { "update_conversation", "1", { state = "snoozed" } }, { "delete_conversation", "" },
      { "add_participant", "1", { participant = {} } }, { "remove_participant", "1", {} },
      { "redact_part", { conversationId = "1" } }, { "add_tag", "1", { tagId = T } },
      { "remove_tag", "1", "x", { actingAdminId = A } }, { "list_contacts", { contactType = "x" } },
      { "upsert_contact", { name = "x" } }, { "get_contact", "x" }, { "get_contact_by_user_id", "" },
      { "delete_contact", "x" }, { "delete_contact_by_user_id", string.rep("u", 256) },
    }
    for _, c in ipairs(calls) do
      local value, err, extra = client[c[1]](client, unpack(c, 2, 4))
      assert.is_nil(value, c[1])
      assert.is_nil(extra)
      assert.are.equal("invalid_request", err.kind, c[1])
      assert.is_string(err.field)
    end
    assert.are.equal(before, #srv:requests())
  end)

  it("can be checked without sending anything (featurebase.check)", function()
    local before = #srv:requests()
    assert.is_true(featurebase.check("create_conversation", H.contact_create()))
    assert.is_true(featurebase.check("remove_tag", "42", T, { actingAdminId = A }))
    local ok, err = featurebase.check("update_conversation", "42", { state = "snoozed" })
    assert.is_nil(ok)
    assert.are.equal("snoozedUntil", err.field)
    ok, err = featurebase.check("get_contact", "nope")
    assert.is_nil(ok)
    assert.are.equal("contact_id", err.field)
    assert.has_error(function() featurebase.check("no_such_method") end)
    assert.are.equal(before, #srv:requests())
  end)

  it("raise on misuse, naming the argument", function()
    assert.has_error(function() client:update_conversation("1") end,
      "bad argument #2 to 'update_conversation' (table expected, got nil)")
    assert.has_error(function() client:list_conversations("open") end,
      "bad argument #1 to 'list_conversations' (table expected, got string)")
    assert.has_error(function() client:get_conversation_async("1") end,
      "bad argument #2 to 'get_conversation_async' (function expected, got nil)")
    assert.has_error(function() client.get_contact({}, "x") end)
  end)

  it("page through every item, fetching the next page only when needed", function()
    srv:seed({ conversations = 250 })
    local before = #srv:requests()
    local it = client:conversations({ limit = 100 })
    assert.is_table(it())
    assert.are.equal(before + 1, #srv:requests()) -- one page so far
    local n, seen = 1, {}
    for conv in it do
      n = n + 1
      assert.is_nil(seen[conv.id])
      seen[conv.id] = true
    end
    assert.are.equal(250, n)
    assert.are.equal(before + 3, #srv:requests())
    srv:seed({ contacts = 15 })
    local contacts = 0
    for _ in client:contacts({ limit = 10 }) do contacts = contacts + 1 end
    assert.are.equal(15, contacts)
  end)

  it("never end a listing early as if it were complete: a failed page raises the error", function()
    srv:seed({ conversations = 30 })
    srv:script({ { match = "GET /v2/conversations", modes = "status=400", skip = 1 } })
    local n = 0
    local ok, err = pcall(function()
      for _ in client:conversations({ limit = 10 }) do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.is_true(featurebase.is_error(err))
    assert.are.equal(400, err.status)
    assert.are.equal(10, n)
  end)

  it("retry what is safe to repeat, and report a retried DELETE answered 404 as done", function()
    local conv = assert(client:create_conversation(H.contact_create()))
    srv:script({ { match = "GET /v2/conversations/*", modes = "status=503" } })
    local got, err, res = client:get_conversation(conv.id)
    assert.is_table(got, tostring(err))
    assert.are.equal(2, res.attempts)
    -- the first DELETE did its work but its answer was lost (a 503 after acting stands for that here)
    assert(client:delete_conversation(conv.id))
    srv:script({ { match = "DELETE /v2/conversations/*", modes = "status=503" } })
    local deleted
    deleted, err, res = client:delete_conversation(conv.id)
    assert.are.same({ id = conv.id, object = "conversation", deleted = true }, deleted, tostring(err))
    assert.are.equal(404, res.status)
    assert.is_true(res.deleted_before)
    -- an unsafe request is not retried on a 503: it may have been acted on
    srv:script({ "status=503" })
    local _, cerr = client:create_conversation(H.contact_create())
    assert.are.equal(503, cerr.status)
    assert.are.equal(1, cerr.attempts)
  end)

  it("read the flat error shapes a real server has been seen to send", function()
    srv:script({ "status=401,flat" })
    local _, err = client:get_contact(H.CONTACT)
    assert.are.equal(401, err.status)
    assert.are.equal("Invalid API Key", err.message)
    srv:script({ "status=400,flat" })
    _, err = client:list_contacts()
    assert.are.equal(400, err.status)
    assert.truthy(err.message:find("^Validation error"))
  end)

  it("fail with exactly nil, err, so assert() prints the one-line message", function()
    local v, err, extra = client:get_conversation("nosuch")
    assert.is_nil(v)
    assert.is_nil(extra)
    assert.are.equal(404, err.status)
    assert.is_table(err.headers)
    assert.is_table(err.rate_limit)
    assert.are.equal(1, err.attempts)
    -- Lua 5.1's and 5.2's assert take only a string message (luaL_optstring): there it raises
    -- "bad argument #2 to 'assert'"; README "Errors" says what to write instead
    if (_VERSION == "Lua 5.1" or _VERSION == "Lua 5.2") and not jit then return end
    local out = H.run_lua("", ([[
      local fb = require("featurebase")
      local client = fb.new({ api_key = %q, base_url = %q })
      assert(client:get_conversation("nosuch"))
    ]]):format(H.KEY, srv.url))
    assert.truthy(out:find("featurebase: http 404", 1, true), out)
    assert.is_nil(out:find(H.KEY, 1, true))
  end)

  it("exist in an async form for every endpoint, with the same results", function()
    for _, ep in ipairs(featurebase.api) do
      assert.is_function(client[ep.name], ep.name)
      assert.is_function(client[ep.name .. "_async"], ep.name .. "_async")
    end
    local conv = assert(client:create_conversation(H.contact_create()))
    local got = {}
    client:get_conversation_async(conv.id, function(value, err, res) got.get = { value, err, res } end)
    client:update_conversation_async(conv.id, { state = "closed" }, function(value) got.update = value end)
    client:list_conversations_async({ limit = 5 }, function(value) got.list = value end)
    client:list_contacts_async(nil, function(value) got.contacts = value end)
    client:get_conversation_async("x-y", function(value, err) got.bad = { value, err } end)
    client:run()
    assert.are.equal(conv.id, got.get[1].id)
    assert.are.equal(200, got.get[3].status)
    assert.are.equal("closed", got.update.state)
    assert.are.equal("list", got.list.object)
    assert.are.equal("list", got.contacts.object)
    assert.is_nil(got.bad[1])
    assert.are.equal("conversation_id", got.bad[2].field)
    local results = client:map({
      { "get_conversation", conv.id }, { "add_tag", conv.id, { tagId = T, actingAdminId = A } },
      { "upsert_contact", { email = "map@example.com" } }, { "delete_conversation", conv.id },
    }, { concurrency = 1 })
    assert.are.equal(conv.id, results[1].value.id)
    assert.are.equal(T, results[2].value.id)
    assert.are.equal("map@example.com", results[3].value.email)
    assert.is_true(results[4].value.deleted)
  end)

  it("refuse a blocking call while the client's own loop drives it, naming the async form", function()
    local refused
    client:list_conversations_async(nil, function()
      refused = select(2, pcall(client.get_conversation, client, "1"))
    end)
    client:run()
    assert.truthy(tostring(refused):find("client:get_conversation_async", 1, true), tostring(refused))
    assert.is_table(assert(client:list_conversations())) -- once run() returns, blocking calls work again
  end)
end)
