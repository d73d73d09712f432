-- Readers for results (parts by type, notes, authors) and the API's enumerations.
local featurebase = require("featurebase")
local H = require("spec.helpers")

describe("readers", function()
  local srv, client, conv
  setup(function()
    srv = H.server()
    client = H.client(srv)
    local c = assert(client:start_conversation(H.CONTACT, "Hello"))
    assert(client:reply_as_admin(c.id, H.ADMIN, "Hi there"))
    assert(client:add_note(c.id, H.ADMIN, "VIP customer"))
    assert(client:reply_as_contact(c.id, H.CONTACT, "Thanks"))
    conv = assert(srv:conversation(c.id)) -- fetched by id: with its conversationParts
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)

  it("lists parts, all or by partType", function()
    local function bodies(parts)
      local t = {}
      for i, p in ipairs(parts) do t[i] = p.bodyMarkdown end
      return t
    end
    assert.are.same({ "Hello", "Hi there", "VIP customer", "Thanks" }, bodies(featurebase.parts(conv)))
    assert.are.same({ "VIP customer" }, bodies(featurebase.parts(conv, "admin_note")))
    assert.are.same({ "Hello", "Hi there", "Thanks" }, bodies(featurebase.parts(conv, { "user_msg", "admin_msg" })))
    assert.are.same({}, featurebase.parts(conv, "rating_submitted"))
    assert.are.same({}, featurebase.parts({ object = "conversation" })) -- not fetched by id: no parts
  end)

  it("tells notes and messages from events", function()
    local parts = featurebase.parts(conv)
    assert.are.same({ false, false, true, false }, {
      featurebase.is_note(parts[1]), featurebase.is_note(parts[2]), featurebase.is_note(parts[3]),
      featurebase.is_note(parts[4]) })
    assert.is_true(featurebase.is_message(parts[3]))
    assert.is_false(featurebase.is_message({ partType = "assign", adminAssigneeId = H.ADMIN }))
    assert.is_false(featurebase.is_note(nil))
  end)

  it("reads the author of a part or of a conversation's first message", function()
    local parts = featurebase.parts(conv)
    assert.are.same({ type = "customer", id = H.CONTACT }, featurebase.author(conv))
    assert.are.same({ type = "admin", id = H.ADMIN }, featurebase.author(parts[2]))
    assert.is_true(featurebase.is_from_contact(conv))
    assert.is_true(featurebase.is_from_contact(parts[4]))
    assert.is_false(featurebase.is_from_contact(parts[2]))
    assert.is_true(featurebase.is_from_contact({ author = { type = "lead", id = "x" } }))
    assert.is_false(featurebase.is_from_contact({ partType = "status" }))
    assert.is_nil(featurebase.author(42))
  end)

  it("raises on misuse", function()
    assert.has_error(function() featurebase.parts("12") end,
      "bad argument #1 to 'parts' (conversation table expected, got string)")
    assert.has_error(function() featurebase.parts(conv, 5) end,
      "bad argument #2 to 'parts' (part type or list of them expected, got number)")
  end)
end)

describe("enumerations", function()
  -- written out from the API reference, apart from the module's own tables
  local DOCS = {
    PART_TYPES = { "user_msg", "admin_msg", "admin_note", "email_msg", "bot_msg", "quick_reply_opts",
      "quick_reply_resp", "rating_requested", "rating_submitted", "attr_prompt", "attr_complete", "assign", "status",
      "tags", "workflow_wait", "priority", "part_add" },
    STATES = { "open", "closed", "snoozed" },
    CHANNELS = { "desktop", "email" },
    PART_CHANNELS = { "unknown", "desktop", "android", "ios", "email" },
    PARTICIPANT_TYPES = { "customer", "lead", "admin", "bot", "guest", "integration" },
    AUTHOR_TYPES = { "contact", "admin" },
    MESSAGE_TYPES = { "reply", "note" },
    USER_TYPES = { "admin", "customer", "lead" },
    DELIVERED_AS = { "customer_initiated", "admin_initiated" },
    BOT_STATES = { "active", "handed_off_to_human", "resolved" },
    TAG_ACTOR_TYPES = { "admin", "customer", "lead", "bot", "integration", "system", "workflow" },
    TAG_ACTIONS = { "added", "removed" },
    WORKFLOW_EVENT_TYPES = { "started", "finished", "interrupted" },
    CSAT_STATUSES = { "pending", "rated", "canceled", "expired" },
    CSAT_EMAIL_STATUSES = { "pending", "sent", "failed" },
    RATED_AGENT_TYPES = { "teammate", "fibi", "chatbot" },
  }

  it("lists every documented value, in order, and is a set of them", function()
    assert.are.equal(17, #featurebase.PART_TYPES)
    for name, values in pairs(DOCS) do
      local e = featurebase[name]
      assert.is_table(e, name)
      local list = {}
      for i, v in ipairs(e) do list[i] = v end
      assert.are.same(values, list, name)
      for _, v in ipairs(values) do assert.is_true(e[v], name .. "." .. v) end
      assert.is_nil(e.nope)
    end
  end)

  it("covers what the server sends", function()
    local srv = H.server()
    local client = H.client(srv)
    local c = assert(client:send_email({ from = H.ADMIN, to = "a@example.com", subject = "s", markdown = "m" }))
    assert(client:add_note(c.id, H.ADMIN, "n"))
    local full = srv:conversation(c.id)
    assert.is_true(featurebase.STATES[full.state])
    assert.is_true(featurebase.DELIVERED_AS[full.source.deliveredAs])
    assert.is_true(featurebase.PART_CHANNELS[full.source.channel])
    for _, p in ipairs(full.participants) do assert.is_true(featurebase.PARTICIPANT_TYPES[p.type]) end
    for _, p in ipairs(featurebase.parts(full)) do
      assert.is_true(featurebase.PART_TYPES[p.partType])
      assert.is_true(featurebase.PARTICIPANT_TYPES[p.author.type])
    end
    client:close()
    srv:stop()
  end)
end)
