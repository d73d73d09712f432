-- The client helpers: the exact request each one sends, createdAt as a Lua time, and errors that
-- name the API's field (data) or the helper's argument (misuse).
local featurebase = require("featurebase")
local H = require("spec.helpers")

local OTHER = "676f0f6765bdaa7d7d760f89"

describe("helpers", function()
  local srv, client, conv
  setup(function()
    srv = H.server()
    client = H.client(srv)
    conv = assert(client:create_conversation(H.contact_create()))
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)

  local function last()
    local r = srv:requests()
    return r[#r]
  end

  local function sent_nothing(f)
    local n = #srv:requests()
    f()
    assert.are.equal(n, #srv:requests())
  end

  describe("featurebase.iso8601", function()
    it("writes Lua times as UTC ISO 8601 with milliseconds", function()
      assert.are.equal("1970-01-01T00:00:00.000Z", featurebase.iso8601(0))
      assert.are.equal("2023-11-14T22:13:20.250Z", featurebase.iso8601(1700000000.25))
      assert.are.equal("1970-01-01T00:00:01.000Z", featurebase.iso8601(0.9996)) -- rounds into the next second
      assert.are.equal("9999-12-31T23:59:59.000Z", featurebase.iso8601(253402300799))
    end)
    it("refuses what is not a time it can write", function()
      for _, t in ipairs({ -1, 253402300800, 0 / 0, math.huge, "0" }) do assert.is_nil(featurebase.iso8601(t)) end
    end)
  end)

  describe("createdAt", function()
    it("takes a Lua time in create_conversation and sends UTC ISO 8601", function()
      local p = H.contact_create()
      p.createdAt = 1736937000 -- os.time() for 2025-01-15 10:30 UTC
      local c = assert(client:create_conversation(p))
      assert.are.equal("2025-01-15T10:30:00.000Z", last().json.createdAt)
      assert.are.equal("2025-01-15T10:30:00.000Z", c.createdAt)
      assert.is_number(p.createdAt) -- the caller's table is left alone
    end)
    it("passes ISO strings through unchanged and still checks them in C", function()
      local p = H.contact_create()
      p.createdAt = "2025-01-15T10:30:00+02:00"
      assert(client:create_conversation(p))
      assert.are.equal("2025-01-15T10:30:00+02:00", last().json.createdAt)
      p.createdAt = "yesterday"
      sent_nothing(function()
        local _, err = client:create_conversation(p)
        assert.are.equal("createdAt", err.field)
      end)
    end)
    it("refuses a time out of range, naming createdAt", function()
      local p = H.contact_create()
      p.createdAt = -5
      sent_nothing(function()
        local v, err = client:create_conversation(p)
        assert.is_nil(v)
        assert.are.equal("invalid_request", err.kind)
        assert.are.equal("createdAt", err.field)
        assert.matches("Lua time", tostring(err))
      end)
    end)
  end)

  describe("client:start_conversation", function()
    it("opens a conversation as the contact", function()
      local c = assert(client:start_conversation(H.CONTACT, "Hello"))
      assert.are.same({ from = { type = "contact", id = H.CONTACT }, bodyMarkdown = "Hello" }, last().json)
      assert.are.same({ type = "customer", id = H.CONTACT }, featurebase.author(c))
    end)
    it("takes channel, subject, createdAt and per-call options", function()
      assert(client:start_conversation(H.CONTACT, "Hello", { channel = "email", subject = "Hi", createdAt = 0,
        timeout = 5, max_retries = 0 }))
      assert.are.same({ from = { type = "contact", id = H.CONTACT }, bodyMarkdown = "Hello", channel = "email",
        subject = "Hi", createdAt = "1970-01-01T00:00:00.000Z" }, last().json)
    end)
    it("returns the API's field on bad data, and refuses unknown options", function()
      sent_nothing(function()
        local _, err = client:start_conversation("nope", "Hello")
        assert.are.equal("from.id", err.field)
        _, err = client:start_conversation(H.CONTACT, "")
        assert.are.equal("bodyMarkdown", err.field)
        _, err = client:start_conversation(H.CONTACT, "Hello", { chanel = "email" })
        assert.are.equal("chanel", err.field)
      end)
    end)
    it("raises on a wrong argument type, naming the argument", function()
      assert.has_error(function() client:start_conversation(42, "x") end,
        "bad argument #1 to 'start_conversation' (contact id expected, got number)")
      assert.has_error(function() client:start_conversation(H.CONTACT, nil) end,
        "bad argument #2 to 'start_conversation' (markdown string expected, got nil)")
      assert.has_error(function() client:start_conversation(H.CONTACT, "x", "fast") end,
        "bad argument #3 to 'start_conversation' (table of options expected, got string)")
      assert.has_error(function() client.start_conversation(H.CONTACT, "x") end,
        "bad argument #1 to 'start_conversation' (featurebase.Client expected, got string: "
        .. "call it as client:start_conversation(...))")
    end)
  end)

  describe("client:reply_as_contact", function()
    it("replies by contact id or by your own userId", function()
      local part = assert(client:reply_as_contact(conv.id, H.CONTACT, "Thanks"))
      assert.are.same({ type = "contact", id = H.CONTACT, messageType = "reply", bodyMarkdown = "Thanks" },
        last().json)
      assert.are.equal("user_msg", part.partType)
      assert(client:reply_as_contact(conv.id, { userId = "user_123" }, "Again", { skipNotifications = true }))
      assert.are.same({ type = "contact", userId = "user_123", messageType = "reply", bodyMarkdown = "Again",
        skipNotifications = true }, last().json)
    end)
    it("names the API's field on bad data", function()
      sent_nothing(function()
        local _, err = client:reply_as_contact(conv.id, "nope", "x")
        assert.are.equal("id", err.field)
        _, err = client:reply_as_contact("a/b", H.CONTACT, "x")
        assert.are.equal("conversation_id", err.field)
      end)
    end)
    it("raises on a wrong who", function()
      assert.has_error(function() client:reply_as_contact(conv.id, 7, "x") end,
        "bad argument #2 to 'reply_as_contact' (contact id or {userId = ...} expected, got number)")
      assert.has_error(function() client:reply_as_contact(conv.id, { user_id = "u" }, "x") end,
        "bad argument #2 to 'reply_as_contact' (who may hold id and userId, not user_id)")
    end)
  end)

  describe("client:reply_as_admin and client:add_note", function()
    it("reply visibly, or leave an internal note", function()
      local part = assert(client:reply_as_admin(conv.id, H.ADMIN, "Happy to help"))
      assert.are.same({ type = "admin", id = H.ADMIN, messageType = "reply", bodyMarkdown = "Happy to help" },
        last().json)
      assert.is_false(featurebase.is_note(part))
      part = assert(client:add_note(conv.id, H.ADMIN, "VIP", { skipNotifications = true }))
      assert.are.same({ type = "admin", id = H.ADMIN, messageType = "note", bodyMarkdown = "VIP",
        skipNotifications = true }, last().json)
      assert.is_true(featurebase.is_note(part))
    end)
    it("name the API's field or the argument", function()
      sent_nothing(function()
        local _, err = client:add_note(conv.id, "nope", "x")
        assert.are.equal("id", err.field)
      end)
      assert.has_error(function() client:add_note(conv.id, nil, "x") end,
        "bad argument #2 to 'add_note' (admin id expected, got nil)")
      assert.has_error(function() client:reply_as_admin(conv.id, H.ADMIN, {}) end,
        "bad argument #3 to 'reply_as_admin' (markdown string expected, got table)")
    end)
  end)

  describe("client:message_contacts", function()
    it("reaches out in-app to one or several contacts", function()
      local c = assert(client:message_contacts(H.ADMIN, H.CONTACT, "News!"))
      assert.are.same({ from = { type = "admin", id = H.ADMIN }, channel = "desktop", bodyMarkdown = "News!",
        recipients = { to = { ids = { H.CONTACT } } } }, last().json)
      assert.are.equal("admin_initiated", c.source.deliveredAs)
      assert(client:message_contacts(H.ADMIN, { H.CONTACT, OTHER }, "News!", { createdAt = 60 }))
      assert.are.same({ H.CONTACT, OTHER }, last().json.recipients.to.ids)
      assert.are.equal("1970-01-01T00:01:00.000Z", last().json.createdAt)
    end)
    it("names the API's field path, or the argument", function()
      sent_nothing(function()
        local _, err = client:message_contacts(H.ADMIN, { H.CONTACT, "bad" }, "x")
        assert.are.equal("recipients.to.ids[2]", err.field)
        _, err = client:message_contacts(H.ADMIN, {}, "x")
        assert.matches("^recipients%.to", err.field)
      end)
      assert.has_error(function() client:message_contacts(H.ADMIN, { H.CONTACT, 5 }, "x") end,
        "bad argument #2 to 'message_contacts' (contact_ids[2]: string expected, got number)")
    end)
  end)

  describe("client:send_email", function()
    it("sorts addresses and contact ids into emails and ids", function()
      local c = assert(client:send_email({ from = H.ADMIN, to = { "john@example.com", H.CONTACT },
        cc = "boss@example.com", bcc = { OTHER }, subject = "Your invoice", markdown = "Attached.",
        createdAt = 1 }))
      assert.are.same({
        from = { type = "admin", id = H.ADMIN }, channel = "email", subject = "Your invoice",
        bodyMarkdown = "Attached.", createdAt = "1970-01-01T00:00:01.000Z",
        recipients = { to = { emails = { "john@example.com" }, ids = { H.CONTACT } },
          cc = { emails = { "boss@example.com" } }, bcc = { ids = { OTHER } } },
      }, last().json)
      assert.are.equal("email", c.source.channel)
    end)
    it("names the API's field path for bad addresses", function()
      sent_nothing(function()
        local _, err = client:send_email({ from = H.ADMIN, to = { "a@example.com", "b@" }, subject = "s",
          markdown = "m" })
        assert.are.equal("recipients.to.emails[2]", err.field)
        _, err = client:send_email({ from = H.ADMIN, to = {}, subject = "s", markdown = "m" })
        assert.matches("^recipients%.to", err.field)
        _, err = client:send_email({ from = H.ADMIN, to = "a@example.com", subject = ("x"):rep(501),
          markdown = "m" })
        assert.are.equal("subject", err.field)
      end)
    end)
    it("raises on misuse, naming the argument", function()
      local ok = { from = H.ADMIN, to = "a@example.com", subject = "s", markdown = "m" }
      local function with(k, v)
        local t = H.copy(ok)
        t[k] = v
        return t
      end
      assert.has_error(function() client:send_email("x") end,
        "bad argument #1 to 'send_email' (table expected, got string)")
      assert.has_error(function() client:send_email(with("body", "m")) end,
        "bad argument #1 to 'send_email' (unknown field body: from, to, cc, bcc, subject, markdown, createdAt)")
      assert.has_error(function() client:send_email(with("subject", nil)) end,
        "bad argument #1 to 'send_email' (subject: string expected, got nil)")
      assert.has_error(function() client:send_email(with("to", nil)) end,
        "bad argument #1 to 'send_email' (to: required)")
      assert.has_error(function() client:send_email(with("cc", { "a@b.co", false })) end,
        "bad argument #1 to 'send_email' (cc[2]: string expected, got boolean)")
    end)
  end)
end)

describe("loading the helpers", function()
  -- In a fresh interpreter: featurebase.helpers and featurebase.import are loaded at the first use of
  -- one of their names (start-up time), not by require("featurebase"), new or an API call.
  it("waits for the first use of one of their names", function()
    local srv = H.server()
    local out = H.run_lua("", ([[
      local featurebase = require("featurebase")
      local function loaded(name) return package.loaded["featurebase." .. name] and name or "-" end
      local client = assert(featurebase.new({ api_key = %q, base_url = %q }))
      assert(client:create_conversation({ from = { type = "contact", id = %q }, bodyMarkdown = "Hi" }))
      io.write(loaded("helpers"), " ", loaded("import"), "; ")
      io.write(featurebase.STATES[1], " ", type(featurebase.image), " ", loaded("helpers"), " ", loaded("import"), "; ")
      io.write(type(client.start_conversation), " ", type(client.import), " ", loaded("import"), "; ")
      io.write(tostring(featurebase.no_such_name), " ", tostring(client.no_such_method))]]):format(H.KEY, srv.url,
      H.CONTACT))
    srv:stop()
    assert.are.equal("- -; open function helpers -; function function import; nil nil", out)
  end)
end)
