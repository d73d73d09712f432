-- Every rule of ../shared/api/*.txt, each with a valid and an invalid case, checked by the C
-- validator alone (no network). 03-http_spec.lua shows that a refused request is never sent.
local core = require("featurebase.core")
local cjson = require("cjson")
local H = require("spec.helpers")

local A, C = H.ADMIN, H.CONTACT
local function rep(s, n) return string.rep(s, n) end

-- { description, base builder, change, expected failing field (nil = valid) }
local create_cases = {
  { "contact conversation as in the docs", H.contact_create, function() end, nil },
  { "admin email outreach as in the docs", H.admin_email, function() end, nil },
  { "bodyMarkdown missing", H.contact_create, function(p) p.bodyMarkdown = nil end, "bodyMarkdown" },
  { "bodyMarkdown empty", H.contact_create, function(p) p.bodyMarkdown = "" end, "bodyMarkdown" },
  { "bodyMarkdown one character", H.contact_create, function(p) p.bodyMarkdown = "x" end, nil },
  { "bodyMarkdown a number", H.contact_create, function(p) p.bodyMarkdown = 42 end, "bodyMarkdown" },
  { "bodyMarkdown a table", H.contact_create, function(p) p.bodyMarkdown = {} end, "bodyMarkdown" },
  { "bodyMarkdown invalid UTF-8", H.contact_create, function(p) p.bodyMarkdown = "caf\233" end, "bodyMarkdown" },
  { "bodyMarkdown overlong UTF-8", H.contact_create, function(p) p.bodyMarkdown = "\192\175" end, "bodyMarkdown" },
  { "bodyMarkdown UTF-16 surrogate", H.contact_create, function(p) p.bodyMarkdown = "\237\160\128" end, "bodyMarkdown" },
  { "bodyMarkdown 4-byte UTF-8", H.contact_create, function(p) p.bodyMarkdown = "ok \240\159\152\128" end, nil },
  { "bodyMarkdown with a NUL byte", H.contact_create, function(p) p.bodyMarkdown = "a\0b" end, "bodyMarkdown" },
  { "bodyMarkdown with newlines, tabs, quotes", H.contact_create, function(p) p.bodyMarkdown = "a\n\tb \"c\" \\" end, nil },
  { "from missing", H.contact_create, function(p) p.from = nil end, "from" },
  { "from a string", H.contact_create, function(p) p.from = C end, "from" },
  { "from.type missing", H.contact_create, function(p) p.from.type = nil end, "from.type" },
  { "from.type unknown", H.contact_create, function(p) p.from.type = "customer" end, "from.type" },
  { "from.id missing", H.contact_create, function(p) p.from.id = nil end, "from.id" },
  { "from.id 23 hex digits", H.contact_create, function(p) p.from.id = C:sub(2) end, "from.id" },
  { "from.id 25 hex digits", H.contact_create, function(p) p.from.id = C .. "0" end, "from.id" },
  { "from.id not hex", H.contact_create, function(p) p.from.id = rep("z", 24) end, "from.id" },
  { "from.id upper-case hex", H.contact_create, function(p) p.from.id = C:upper() end, nil },
  { "from.id a number", H.contact_create, function(p) p.from.id = 123 end, "from.id" },
  { "from with an unknown key", H.contact_create, function(p) p.from.name = "x" end, "from.name" },
  { "channel desktop", H.contact_create, function(p) p.channel = "desktop" end, nil },
  { "channel email (contact)", H.contact_create, function(p) p.channel = "email" end, nil },
  { "channel unknown", H.contact_create, function(p) p.channel = "sms" end, "channel" },
  { "channel a boolean", H.contact_create, function(p) p.channel = true end, "channel" },
  { "createdAt with milliseconds", H.contact_create, function(p) p.createdAt = "2025-01-15T10:30:00.000Z" end, nil },
  { "createdAt with an offset", H.contact_create, function(p) p.createdAt = "2024-02-29T23:59:59+05:30" end, nil },
  { "createdAt a leap second (23:59:60 UTC)", H.contact_create, function(p) p.createdAt = "2016-12-31T23:59:60Z" end, nil },
  { "createdAt a leap second in another zone", H.contact_create,
    function(p) p.createdAt = "2017-01-01T05:29:60+05:30" end, nil },
  { "createdAt second 60 not at the end of a UTC day", H.contact_create,
    function(p) p.createdAt = "2024-02-29T23:59:60+05:30" end, "createdAt" },
  { "createdAt second 60 mid-day", H.contact_create, function(p) p.createdAt = "2025-01-15T10:30:60Z" end, "createdAt" },
  { "createdAt featurebase.null", H.contact_create, function(p) p.createdAt = core.null end, nil },
  { "createdAt without a zone", H.contact_create, function(p) p.createdAt = "2025-01-15T10:30:00" end, "createdAt" },
  { "createdAt a date only", H.contact_create, function(p) p.createdAt = "2025-01-15" end, "createdAt" },
  { "createdAt February 30", H.contact_create, function(p) p.createdAt = "2025-02-30T10:30:00Z" end, "createdAt" },
  { "createdAt February 29 in 2023", H.contact_create, function(p) p.createdAt = "2023-02-29T10:30:00Z" end, "createdAt" },
  { "createdAt hour 24", H.contact_create, function(p) p.createdAt = "2025-01-15T24:00:00Z" end, "createdAt" },
  { "createdAt free text", H.contact_create, function(p) p.createdAt = "yesterday" end, "createdAt" },
  { "createdAt a negative Lua time", H.contact_create, function(p) p.createdAt = -1 end, "createdAt" },
  { "createdAt a boolean", H.contact_create, function(p) p.createdAt = true end, "createdAt" },
  { "subject of 500 characters", H.admin_email, function(p) p.subject = rep("é", 500) end, nil },
  { "subject of 501 characters", H.admin_email, function(p) p.subject = rep("a", 501) end, "subject" },
  { "subject a number", H.admin_email, function(p) p.subject = 1 end, "subject" },
  { "subject missing, admin email", H.admin_email, function(p) p.subject = nil end, "subject" },
  { "subject missing, admin desktop", H.admin_email, function(p) p.subject = nil; p.channel = "desktop" end, nil },
  { "subject missing, admin default channel", H.admin_email, function(p) p.subject = nil; p.channel = nil end, nil },
  { "subject on a contact conversation (the docs' curl example)", H.contact_create, function(p) p.subject = "Hi" end, nil },
  { "recipients missing for admin", H.admin_email, function(p) p.recipients = nil end, "recipients" },
  { "recipients on a contact conversation", H.contact_create,
    function(p) p.recipients = { to = { ids = { C } } } end, "recipients" },
  { "recipients a string", H.admin_email, function(p) p.recipients = "john@example.com" end, "recipients" },
  { "recipients.to missing", H.admin_email, function(p) p.recipients.to = nil end, "recipients.to" },
  { "recipients.to empty", H.admin_email, function(p) p.recipients.to = {} end, "recipients.to" },
  { "recipients.to with empty lists", H.admin_email,
    function(p) p.recipients.to = { emails = {}, ids = {} } end, "recipients.to" },
  { "recipients.to ids only", H.admin_email, function(p) p.recipients.to = { ids = { C } } end, nil },
  { "recipients.to emails and ids", H.admin_email,
    function(p) p.recipients.to = { emails = { "a@example.com" }, ids = { C } } end, nil },
  { "recipients.to.emails[2] without @", H.admin_email,
    function(p) p.recipients.to.emails[2] = "john.example.com" end, "recipients.to.emails[2]" },
  { "recipients.to.emails[1] with two @", H.admin_email,
    function(p) p.recipients.to.emails[1] = "a@b@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] with a space", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john doe@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] with CR LF", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john@example.com\r\nBcc: x@y.z" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] two addresses", H.admin_email,
    function(p) p.recipients.to.emails[1] = "a@example.com,b@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] empty local part", H.admin_email,
    function(p) p.recipients.to.emails[1] = "@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] with + and a subdomain", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john.doe+tag@mail.example-corp.co.uk" end, nil },
  { "recipients.to.emails[1] dot first", H.admin_email,
    function(p) p.recipients.to.emails[1] = ".john@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] dot last in the name", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john.@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] two dots", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john..doe@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] non-ASCII", H.admin_email,
    function(p) p.recipients.to.emails[1] = "jos\195\169@example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] host without a dot", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john@localhost" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] host label ending in -", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john@example-.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] host label starting with -", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john@-example.com" end, "recipients.to.emails[1]" },
  { "recipients.to.emails[1] host with _", H.admin_email,
    function(p) p.recipients.to.emails[1] = "john@ex_ample.com" end, "recipients.to.emails[1]" },
  { "recipients.to with 50 emails", H.admin_email, function(p)
    p.recipients.to.emails = {}
    for i = 1, 50 do p.recipients.to.emails[i] = "u" .. i .. "@example.com" end
  end, nil },
  { "recipients.to with 51 emails", H.admin_email, function(p)
    p.recipients.to.emails = {}
    for i = 1, 51 do p.recipients.to.emails[i] = "u" .. i .. "@example.com" end
  end, "recipients.to.emails" },
  { "recipients.bcc with 51 ids", H.admin_email, function(p)
    p.recipients.bcc = { ids = {} }
    for i = 1, 51 do p.recipients.bcc.ids[i] = H.CONTACT end
  end, "recipients.bcc.ids" },
  { "recipients.to.emails[1] a number", H.admin_email,
    function(p) p.recipients.to.emails[1] = 5 end, "recipients.to.emails[1]" },
  { "recipients.to.emails a string", H.admin_email,
    function(p) p.recipients.to.emails = "john@example.com" end, "recipients.to.emails" },
  { "recipients.to.emails with a hole", H.admin_email,
    function(p) p.recipients.to.emails = { "a@example.com", nil, "b@example.com" } end, "recipients.to.emails" },
  { "recipients.to.emails with a named key", H.admin_email,
    function(p) p.recipients.to.emails.x = "a@example.com" end, "recipients.to.emails" },
  { "recipients.to.ids[1] not an ObjectId", H.admin_email,
    function(p) p.recipients.to = { ids = { "user_123" } } end, "recipients.to.ids[1]" },
  { "recipients.to with an unknown key", H.admin_email,
    function(p) p.recipients.to.email = { "a@example.com" } end, "recipients.to.email" },
  { "recipients.cc ids", H.admin_email, function(p) p.recipients.cc = { ids = { C } } end, nil },
  { "recipients.cc empty", H.admin_email, function(p) p.recipients.cc = {} end, "recipients.cc" },
  { "recipients.cc.emails[2] bad", H.admin_email,
    function(p) p.recipients.cc.emails[2] = "nope" end, "recipients.cc.emails[2]" },
  { "recipients.bcc emails", H.admin_email, function(p) p.recipients.bcc = { emails = { "audit@example.com" } } end, nil },
  { "recipients.bcc.ids[1] bad", H.admin_email, function(p) p.recipients.bcc = { ids = { "x" } } end, "recipients.bcc.ids[1]" },
  { "recipients.bcc a list", H.admin_email, function(p) p.recipients.bcc = { "a@example.com" } end, "recipients.bcc" },
  { "recipients with an unknown key", H.admin_email,
    function(p) p.recipients.reply_to = { emails = { "a@example.com" } } end, "recipients.reply_to" },
  { "a typo: body_markdown", H.contact_create,
    function(p) p.body_markdown = p.bodyMarkdown; p.bodyMarkdown = nil end, "body_markdown" },
  { "an unknown key: title", H.contact_create, function(p) p.title = "x" end, "title" },
  { "a numeric key", H.contact_create, function(p) p[1] = "x" end, "params" },
}

local reply_cases = {
  { "admin reply as in the docs", H.admin_reply, function() end, nil },
  { "admin note as in the docs", H.admin_reply, function(p) p.messageType = "note" end, nil },
  { "contact reply with userId as in the docs", H.contact_reply, function() end, nil },
  { "contact reply with id", H.contact_reply, function(p) p.userId = nil; p.id = C end, nil },
  { "contact reply with id and userId", H.contact_reply, function(p) p.id = C end, nil },
  { "contact reply with neither id nor userId", H.contact_reply, function(p) p.userId = nil end, "id" },
  { "contact reply id not an ObjectId", H.contact_reply, function(p) p.id = "user_1" end, "id" },
  { "contact userId of 255 characters", H.contact_reply, function(p) p.userId = rep("ü", 255) end, nil },
  { "contact userId of 256 characters", H.contact_reply, function(p) p.userId = rep("u", 256) end, "userId" },
  { "contact userId empty", H.contact_reply, function(p) p.userId = "" end, "userId" },
  { "contact userId a number", H.contact_reply, function(p) p.userId = 123 end, "userId" },
  { "contact messageType note", H.contact_reply, function(p) p.messageType = "note" end, "messageType" },
  { "contact messageType missing", H.contact_reply, function(p) p.messageType = nil end, "messageType" },
  { "admin id missing", H.admin_reply, function(p) p.id = nil end, "id" },
  { "admin id not an ObjectId", H.admin_reply, function(p) p.id = "admin" end, "id" },
  { "admin with userId", H.admin_reply, function(p) p.userId = "u" end, "userId" },
  { "admin messageType unknown", H.admin_reply, function(p) p.messageType = "comment" end, "messageType" },
  { "admin messageType missing", H.admin_reply, function(p) p.messageType = nil end, "messageType" },
  { "type missing", H.admin_reply, function(p) p.type = nil end, "type" },
  { "type unknown", H.admin_reply, function(p) p.type = "bot" end, "type" },
  { "bodyMarkdown missing", H.admin_reply, function(p) p.bodyMarkdown = nil end, "bodyMarkdown" },
  { "bodyMarkdown empty", H.admin_reply, function(p) p.bodyMarkdown = "" end, "bodyMarkdown" },
  { "bodyMarkdown invalid UTF-8", H.admin_reply, function(p) p.bodyMarkdown = "\255" end, "bodyMarkdown" },
  { "skipNotifications true", H.admin_reply, function(p) p.skipNotifications = true end, nil },
  { "skipNotifications false", H.contact_reply, function(p) p.skipNotifications = false end, nil },
  { "skipNotifications a string", H.admin_reply, function(p) p.skipNotifications = "true" end, "skipNotifications" },
  { "skipNotifications a number", H.admin_reply, function(p) p.skipNotifications = 1 end, "skipNotifications" },
  { "a typo: message_type", H.admin_reply, function(p) p.message_type = "note" end, "message_type" },
}

local function check(encode, case)
  local name, base, change, field = case[1], case[2], case[3], case[4]
  it((field and "refuses " or "accepts ") .. name, function()
    local p = base()
    change(p)
    local path, body = encode(p)
    if field then
      assert.is_nil(path)
      assert.are.equal("invalid_request", body.kind)
      assert.are.equal(field, body.field)
      assert.are.equal(field, body.message:sub(1, #field)) -- the message names the field
      assert.truthy(tostring(body):find("invalid_request", 1, true))
    else
      assert.is_string(path, tostring(body))
      -- The body is the same request, as JSON (cjson reads back exactly what was given).
      local decoded = cjson.decode(body)
      local expected = H.copy(p)
      assert.are.same(expected, decoded)
    end
  end)
end

describe("create_conversation validation", function()
  for _, case in ipairs(create_cases) do check(H.encode_create, case) end

  it("writes the fields in the docs' JSON shape", function()
    local path, body = H.encode_create(H.admin_email())
    assert.are.equal("/v2/conversations", path)
    assert.are.equal('{"from":{"type":"admin","id":"' .. A .. '"},"bodyMarkdown":"Hi! Just following up.",'
      .. '"channel":"email","subject":"Following up","recipients":{"to":{"emails":["john@example.com"]},'
      .. '"cc":{"emails":["manager@example.com"]}}}', body)
  end)

  it("escapes control characters as JSON", function()
    local p = H.contact_create()
    p.bodyMarkdown = "a\1b\127"
    local _, body = H.encode_create(p)
    assert.truthy(body:find('"a\\u0001b\\u007f"', 1, true))
    assert.are.equal("a\1b\127", cjson.decode(body).bodyMarkdown)
  end)

  it("takes createdAt as a Lua time and sends it as ISO 8601 UTC with milliseconds", function()
    local p = H.contact_create()
    p.createdAt = 1736937000.25
    local _, body = H.encode_create(p)
    assert.are.equal("2025-01-15T10:30:00.250Z", cjson.decode(body).createdAt)
  end)

  it("ignores metatables: __index never supplies a field", function()
    local p = setmetatable({ from = { type = "contact", id = C } }, { __index = { bodyMarkdown = "hidden" } })
    local path, err = H.encode_create(p)
    assert.is_nil(path)
    assert.are.equal("bodyMarkdown", err.field)
  end)
end)

describe("reply validation", function()
  for _, case in ipairs(reply_cases) do
    check(function(p) return H.encode_reply("12345", p) end, case)
  end

  local ids = {
    { "12345", true }, { "a", true }, { "AbC9x", true }, { rep("1", 16), true }, { "AbC-9", false }, { "a_b", false },
    { rep("1", 17), false }, { "", false }, { "12/34", false }, { "..", false }, { "1?x=2", false },
    { "1#x", false }, { "%2F", false }, { "1 2", false }, { "1\n2", false },
  }
  for _, c in ipairs(ids) do
    it((c[2] and "accepts" or "refuses") .. " conversation id " .. string.format("%q", c[1]), function()
      local path, body = H.encode_reply(c[1], H.admin_reply())
      if c[2] then
        assert.are.equal("/v2/conversations/" .. c[1] .. "/reply", path)
        assert.is_string(body)
      else
        assert.is_nil(path)
        assert.are.equal("conversation_id", body.field)
      end
    end)
  end

  it("refuses a number as the conversation id (no coercion)", function()
    local path, err = H.encode_reply(12345, H.admin_reply())
    assert.is_nil(path)
    assert.are.equal("conversation_id", err.field)
  end)
end)

describe("rules", function()
  it("are exported from the one table the validator uses", function()
    assert.are.equal(24, core.rules.objectid_length)
    assert.are.equal(500, core.rules.subject_max)
    assert.are.equal(255, core.rules.user_id_max)
    assert.are.equal(16, core.rules.short_id_max)
    assert.are.equal(50, core.rules.recipients_max)
    assert.are.same({ "desktop", "email" }, core.rules.channels)
    assert.are.same({ "reply", "note" }, core.rules.admin_message_types)
  end)
end)
