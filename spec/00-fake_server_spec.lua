-- The fake Featurebase server (featurebase.testing), checked with plain luasocket, never the project's client.
local testing = require("featurebase.testing")
local http = require("socket.http")
local socket = require("socket")
local ltn12 = require("ltn12")
local cjson = require("cjson.safe")

local KEY = "sk_test_spec_0123456789"
local CONTACT = "676f0f6765bdaa7d7d760f88"
local ADMIN = "507f1f77bcf86cd799439011"
local ISO = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  local stat = f and f:read("*a")
  if f then f:close() end
  return stat ~= nil and not stat:match("^%d+ %b() [ZX]")
end

-- os.execute: a number on 5.1/LuaJIT, true|nil on 5.2+
local function succeeds(cmd)
  local r = os.execute(cmd)
  return r == 0 or r == true
end

local function children(pid)
  local p = io.popen("pgrep -P " .. pid)
  local out = p:read("*a")
  p:close()
  local list = {}
  for c in out:gmatch("%d+") do list[#list + 1] = c end
  return list
end

describe("featurebase.testing fake server", function()
  local srv

  -- headers: defaults for a valid API call; a header set to false is left out
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

  local function contact_create(extra)
    local b = { from = { type = "contact", id = CONTACT }, bodyMarkdown = "Hello, I have a question." }
    for k, v in pairs(extra or {}) do b[k] = v end
    return b
  end

  local function admin_create(extra)
    local b = { from = { type = "admin", id = ADMIN }, bodyMarkdown = "Hi! Following up.", channel = "email",
      subject = "Following up", recipients = { to = { emails = { "john@example.com" }, ids = { CONTACT } },
        cc = { emails = { "manager@example.com" } } } }
    for k, v in pairs(extra or {}) do b[k] = v or nil end
    return b
  end

  local function new_conversation()
    local status, conv = request("POST", "/v2/conversations", contact_create())
    assert.are.equal(201, status)
    return conv.id
  end

  local function assert_error(status, body, want_status, want_code, want_param)
    assert.are.equal(want_status, status)
    assert.is_table(body and body.error)
    assert.are.equal(want_code, body.error.code)
    assert.are.equal(want_status, body.error.status)
    assert.is_string(body.error.message)
    assert.is_string(body.error.type)
    if want_param then assert.are.equal(want_param, body.error.param) end
  end

  lazy_setup(function()
    srv = testing.start({ api_key = KEY })
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  before_each(function()
    srv:reset()
  end)

  it("exposes url, port and api_key", function()
    assert.are.equal("http://127.0.0.1:" .. srv.port, srv.url)
    assert.are.equal(KEY, srv.api_key)
    assert.are.equal(200, (request("GET", "/__fb/health")))
  end)

  describe("POST /v2/conversations", function()
    it("creates a contact conversation shaped like the docs", function()
      local status, c, h = request("POST", "/v2/conversations", contact_create({ channel = "desktop" }))
      assert.are.equal(201, status)
      assert.are.equal("application/json", h["content-type"])
      assert.are.equal("conversation", c.object)
      assert.are.equal("1", c.id)
      assert.are.equal("open", c.state)
      assert.is_false(c.priority)
      assert.are.equal(cjson.null, c.adminAssigneeId)
      assert.are.same({ { type = "customer", id = CONTACT } }, c.participants)
      assert.are.same({}, c.tags)
      assert.are.same({ channel = "desktop", deliveredAs = "customer_initiated",
        bodyHtml = "<p>Hello, I have a question.</p>", bodyMarkdown = "Hello, I have a question.",
        author = { type = "customer", id = CONTACT } }, c.source)
      assert.matches(ISO, c.createdAt)
      assert.matches(ISO, c.updatedAt)
      assert.is_string(c.title)
      assert.are.equal(1, #c.conversationParts)
      local p = c.conversationParts[1]
      assert.are.equal("user_msg", p.partType)
      assert.are.equal("conversation_part", p.object)
      assert.are.equal("1", p.id)
      assert.is_false(p.redacted)
    end)

    it("hands out sequential short ids and keeps a given createdAt", function()
      local _, a = request("POST", "/v2/conversations", contact_create())
      local _, b = request("POST", "/v2/conversations", contact_create({ createdAt = "2025-01-15T10:30:00.000Z" }))
      assert.are.equal(tostring(tonumber(a.id) + 1), b.id)
      assert.are.equal("2025-01-15T10:30:00.000Z", b.createdAt)
      assert.is_true(#b.id <= 16)
    end)

    it("escapes markdown into bodyHtml paragraphs", function()
      local _, c = request("POST", "/v2/conversations", contact_create({ bodyMarkdown = "a <b> & c\n\nsecond" }))
      assert.are.equal("<p>a &lt;b&gt; &amp; c</p><p>second</p>", c.source.bodyHtml)
    end)

    it("creates an admin email outreach", function()
      local status, c = request("POST", "/v2/conversations", admin_create())
      assert.are.equal(201, status)
      assert.are.equal("admin_initiated", c.source.deliveredAs)
      assert.are.equal("email", c.source.channel)
      assert.are.equal("Following up", c.source.subject)
      assert.are.same({ type = "admin", id = ADMIN }, c.source.author)
      assert.are.equal("email_msg", c.conversationParts[1].partType)
      local ids = {}
      for _, p in ipairs(c.participants) do
        assert.are.equal("customer", p.type)
        ids[p.id] = true
      end
      assert.is_true(ids[CONTACT])
      assert.are.equal(3, #c.participants)  -- the id plus one derived id per email
    end)

    it("creates an in-app admin outreach without subject", function()
      local status, c = request("POST", "/v2/conversations", admin_create({ channel = "desktop", subject = false,
        recipients = { to = { ids = { CONTACT } } } }))
      assert.are.equal(201, status)
      assert.are.equal("admin_msg", c.conversationParts[1].partType)
      assert.are.same({ { type = "customer", id = CONTACT } }, c.participants)
    end)

    it("sends rate-limit and request-id headers that count down", function()
      local _, _, h1 = request("POST", "/v2/conversations", contact_create())
      local _, _, h2 = request("POST", "/v2/conversations", contact_create())
      assert.are.equal("2000", h1["x-ratelimit-limit"])
      assert.matches("^req_%d+$", h1["x-request-id"])
      assert.are_not.equal(h1["x-request-id"], h2["x-request-id"])
      local reset = tonumber(h1["x-ratelimit-reset"])
      assert.are.equal(0, reset % 60)
      assert.is_true(reset > os.time() - 1)
      if h1["x-ratelimit-reset"] == h2["x-ratelimit-reset"] then  -- same minute
        assert.are.equal(tonumber(h1["x-ratelimit-remaining"]) - 1, tonumber(h2["x-ratelimit-remaining"]))
      end
    end)
  end)

  describe("POST /v2/conversations/{id}/reply", function()
    it("appends contact replies, admin replies and notes with their partType", function()
      local id = new_conversation()
      local s1, p1 = request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "contact", id = CONTACT, bodyMarkdown = "Thanks!", messageType = "reply" })
      assert.are.equal(201, s1)
      assert.are.equal("conversation_part", p1.object)
      assert.are.equal("2", p1.id)
      assert.are.equal("user_msg", p1.partType)
      assert.are.same({ type = "customer", id = CONTACT }, p1.author)
      assert.are.equal("desktop", p1.channel)
      assert.are.equal("<p>Thanks!</p>", p1.bodyHtml)
      assert.matches(ISO, p1.createdAt)
      assert.is_false(p1.redacted)

      local s2, p2 = request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "Happy to help", messageType = "reply", skipNotifications = true })
      assert.are.equal(201, s2)
      assert.are.equal("3", p2.id)
      assert.are.equal("admin_msg", p2.partType)
      assert.are.same({ type = "admin", id = ADMIN }, p2.author)

      local s3, p3 = request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "Escalating", messageType = "note" })
      assert.are.equal(201, s3)
      assert.are.equal("admin_note", p3.partType)

      local conv = srv:conversation(id)
      assert.are.equal(4, #conv.conversationParts)
      assert.are.equal("admin_note", conv.conversationParts[4].partType)
      assert.are.equal(p3.createdAt, conv.updatedAt)
    end)

    it("gives a userId-only contact a stable derived author id", function()
      local id = new_conversation()
      local reply = { type = "contact", userId = "user_123", bodyMarkdown = "hi", messageType = "reply" }
      local _, a = request("POST", "/v2/conversations/" .. id .. "/reply", reply)
      local _, b = request("POST", "/v2/conversations/" .. id .. "/reply", reply)
      assert.matches("^%x+$", a.author.id)
      assert.are.equal(24, #a.author.id)
      assert.are.equal(a.author.id, b.author.id)
    end)

    it("answers 404 for an unknown conversation", function()
      local status, body = request("POST", "/v2/conversations/999999/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "x", messageType = "reply" })
      assert.are.same({ error = { type = "invalid_request_error", code = "conversation_not_found",
        message = "Conversation not found", param = "id", status = 404 } }, body)
      assert.are.equal(404, status)
    end)
  end)

  describe("request checks", function()
    it("rejects a wrong or missing API key with 401", function()
      local want = { error = { type = "authentication_error", code = "invalid_api_key",
        message = "Invalid API key", status = 401 } }
      local status, body = request("POST", "/v2/conversations", contact_create(), { authorization = "Bearer nope" })
      assert.are.equal(401, status)
      assert.are.same(want, body)
      status, body = request("POST", "/v2/conversations", contact_create(), { authorization = false })
      assert.are.equal(401, status)
      assert.are.same(want, body)
    end)

    it("rejects an older Featurebase-Version, accepts newer ones and none", function()
      local status, body = request("POST", "/v2/conversations", contact_create(),
        { ["featurebase-version"] = "2025-12-12.clover" })
      assert_error(status, body, 400, "unsupported_version")
      assert.matches("2026-01-01.nova or newer", body.error.message, 1, true)
      assert.are.equal(201, (request("POST", "/v2/conversations", contact_create(),
        { ["featurebase-version"] = "2026-08-19.orbit" })))
      assert.are.equal(201, (request("POST", "/v2/conversations", contact_create(),
        { ["featurebase-version"] = false })))
      status, body = request("POST", "/v2/conversations", contact_create(), { ["featurebase-version"] = "nova" })
      assert_error(status, body, 400, "unsupported_version")
    end)

    it("answers 404 for other paths, 405 for other methods, 415 and 400 for bad bodies", function()
      local status, body = request("POST", "/v2/other", contact_create())
      assert_error(status, body, 404, "resource_not_found")
      local h
      status, body, h = request("PUT", "/v2/conversations")
      assert_error(status, body, 405, "method_not_allowed")
      assert.are.equal("GET, POST", h["allow"])
      status, body = request("POST", "/v2/conversations", cjson.encode(contact_create()),
        { ["content-type"] = "text/plain" })
      assert_error(status, body, 415, "unsupported_media_type")
      assert.are.equal(201, (request("POST", "/v2/conversations", contact_create(),
        { ["content-type"] = "application/json; charset=utf-8" })))
      status, body = request("POST", "/v2/conversations", '{"from": ')
      assert_error(status, body, 400, "invalid_json")
      status, body = request("POST", "/v2/conversations", '["x"]')
      assert_error(status, body, 400, "invalid_json")
    end)

    local e500 = string.rep("\195\169", 500)  -- 500 characters, 1000 bytes
    local create_cases = {
      { "missing bodyMarkdown", { bodyMarkdown = false }, "bodyMarkdown", "missing_parameter" },
      { "empty bodyMarkdown", { bodyMarkdown = "" }, "bodyMarkdown" },
      { "missing from", { from = false }, "from", "missing_parameter" },
      { "bad from.type", { from = { type = "user", id = CONTACT } }, "from.type" },
      { "short from.id", { from = { type = "contact", id = "123" } }, "from.id" },
      { "bad channel", { channel = "sms" }, "channel" },
      { "bad createdAt", { createdAt = "yesterday" }, "createdAt" },
      { "subject over 500 characters", { subject = e500 .. "x" }, "subject" },
      { "recipients on a contact", { recipients = { to = { ids = { CONTACT } } } }, "recipients" },
      { "unknown top-level key", { priority = true }, "priority" },
    }
    for _, case in ipairs(create_cases) do
      it("400 on create: " .. case[1], function()
        local b = contact_create()
        for k, v in pairs(case[2]) do b[k] = v or nil end
        local status, body = request("POST", "/v2/conversations", b)
        assert_error(status, body, 400, case[4] or "invalid_parameter", case[3])
        assert.are.same("invalid_request_error", body.error.type)
      end)
    end

    local admin_cases = {
      { "admin without recipients", { recipients = false }, "recipients", "missing_parameter" },
      { "empty recipients.to", { recipients = { to = { emails = {} } } }, "recipients.to", "missing_parameter" },
      { "bad second email", { recipients = { to = { emails = { "a@example.com", "nope" } } } },
        "recipients.to.emails[2]" },
      { "bad cc id", { recipients = { to = { ids = { CONTACT } }, cc = { ids = { "xyz" } } } },
        "recipients.cc.ids[1]" },
      { "email without subject", { subject = false }, "subject", "missing_parameter" },
    }
    for _, case in ipairs(admin_cases) do
      it("400 on create: " .. case[1], function()
        local b = admin_create()
        for k, v in pairs(case[2]) do b[k] = v or nil end
        local status, body = request("POST", "/v2/conversations", b)
        assert_error(status, body, 400, case[4] or "invalid_parameter", case[3])
      end)
    end

    it("counts the subject limit in characters, not bytes", function()
      assert.are.equal(201, (request("POST", "/v2/conversations", contact_create({ subject = e500 }))))
    end)

    local reply_cases = {
      { "contact note", { type = "contact", id = CONTACT, messageType = "note" }, "messageType" },
      { "contact without id or userId", { type = "contact", messageType = "reply" }, "id", "missing_parameter" },
      { "userId over 255", { type = "contact", userId = string.rep("u", 256), messageType = "reply" }, "userId" },
      { "admin without id", { type = "admin", messageType = "reply" }, "id", "missing_parameter" },
      { "admin with bad messageType", { type = "admin", id = ADMIN, messageType = "chat" }, "messageType" },
      { "non-boolean skipNotifications",
        { type = "admin", id = ADMIN, messageType = "reply", skipNotifications = "yes" },
        "skipNotifications" },
      { "bad type", { type = "bot", id = ADMIN, messageType = "reply" }, "type" },
      { "unknown key", { type = "admin", id = ADMIN, messageType = "reply", channel = "email" }, "channel" },
    }
    for _, case in ipairs(reply_cases) do
      it("400 on reply: " .. case[1], function()
        local id = new_conversation()
        local b = { bodyMarkdown = "text" }
        for k, v in pairs(case[2]) do b[k] = v end
        local status, body = request("POST", "/v2/conversations/" .. id .. "/reply", b)
        assert_error(status, body, 400, case[4] or "invalid_parameter", case[3])
      end)
    end

    it("400 invalid_id on a conversation id longer than 16 characters or not alphanumeric", function()
      local status, body = request("POST", "/v2/conversations/" .. string.rep("1", 17) .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "x", messageType = "reply" })
      assert_error(status, body, 400, "invalid_id", "id")
      status, body = request("GET", "/v2/conversations/a%2Fb")
      assert_error(status, body, 400, "invalid_id", "id")
    end)
  end)

  describe("recording", function()
    it("records every API request in order and reset() forgets them and the state", function()
      local id = new_conversation()
      request("POST", "/v2/nowhere", "raw body", { ["x-extra"] = "1" })
      local list = srv:requests()
      assert.are.equal(2, #list)
      assert.are.equal("POST", list[1].method)
      assert.are.equal("/v2/conversations", list[1].path)
      assert.are.equal("Bearer " .. KEY, list[1].headers.authorization)
      assert.are.equal("2026-01-01.nova", list[1].headers["featurebase-version"])
      assert.are.equal("Hello, I have a question.", list[1].json.bodyMarkdown)
      assert.are.equal("raw body", list[2].body)
      assert.is_nil(list[2].json)
      assert.are.equal("1", list[2].headers["x-extra"])
      assert.matches("^req_%d+$", list[1].id)

      srv:reset()
      assert.are.same({}, srv:requests())
      local status = request("POST", "/v2/conversations/" .. id .. "/reply",
        { type = "admin", id = ADMIN, bodyMarkdown = "x", messageType = "reply" })
      assert.are.equal(404, status)
      assert.are.equal("1", new_conversation())
    end)
  end)

  describe("X-Fb-Test switch", function()
    it("delay=<ms> answers normally after the delay", function()
      local t0 = socket.gettime()
      local status = request("POST", "/v2/conversations", contact_create(), { ["x-fb-test"] = "delay=200" })
      assert.are.equal(201, status)
      assert.is_true(socket.gettime() - t0 >= 0.19)
    end)

    it("status=<code> answers that status with an error body", function()
      local status, body = request("POST", "/v2/conversations", contact_create(), { ["x-fb-test"] = "status=503" })
      assert_error(status, body, 503, "service_unavailable")
      assert.are.equal("api_error", body.error.type)
      assert.are.same({}, srv:conversation("1") or {})  -- nothing was created
    end)

    it("429 with retry-after", function()
      local status, body, h = request("POST", "/v2/conversations", contact_create(),
        { ["x-fb-test"] = "429, retry-after=2" })
      assert_error(status, body, 429, "rate_limit_exceeded")
      assert.are.equal("rate_limit_error", body.error.type)
      assert.are.equal("2", h["retry-after"])
      assert.are.equal("0", h["x-ratelimit-remaining"])
    end)

    it("close drops the connection without an answer", function()
      local status, err = request("POST", "/v2/conversations", contact_create(), { ["x-fb-test"] = "close" })
      assert.is_nil(status)
      assert.is_string(err)
      assert.are.equal(1, #srv:requests())  -- still recorded
    end)

    it("malformed, empty and html bodies", function()
      local function with(mode)
        return request("POST", "/v2/conversations", contact_create(), { ["x-fb-test"] = mode })
      end
      local status, body, _, raw = with("malformed")
      assert.are.equal(201, status)
      assert.is_nil(body)
      assert.is_true(#raw > 0)
      status, body, _, raw = with("empty")
      assert.are.equal(201, status)
      assert.are.equal("", raw)
      assert.is_nil(body)
      local h
      status, body, h, raw = with("html")
      assert.is_nil(body)
      assert.are.equal(502, status)
      assert.matches("^text/html", h["content-type"])
      assert.matches("<html>", raw, 1, true)
    end)

    it("combines modes and rejects unknown ones", function()
      local t0 = socket.gettime()
      local status = request("POST", "/v2/conversations", contact_create(), { ["x-fb-test"] = "delay=100,status=500" })
      assert.are.equal(500, status)
      assert.is_true(socket.gettime() - t0 >= 0.09)
      local body
      status, body = request("POST", "/v2/conversations", contact_create(), { ["x-fb-test"] = "explode" })
      assert_error(status, body, 400, "invalid_test_mode")
    end)

    it("script() queues modes for requests without the header", function()
      srv:script({ "status=503", "close" })
      assert.are.equal(503, (request("POST", "/v2/conversations", contact_create())))
      assert.is_nil((request("POST", "/v2/conversations", contact_create())))
      assert.are.equal(201, (request("POST", "/v2/conversations", contact_create())))
      assert.are.equal(3, #srv:requests())
    end)
  end)

  describe("lifecycle", function()
    it("runs with several workers", function()
      local saved, s2 = srv, testing.start({ api_key = "k2", workers = 2 })
      srv = s2  -- request() talks to srv
      finally(function() srv = saved; s2:stop() end)  -- busted keeps one finally per test
      for _ = 1, 5 do
        assert.are.equal(201, (request("POST", "/v2/conversations", contact_create(), { authorization = "Bearer k2" })))
      end
      assert.are.equal(5, #s2:requests())
    end)

    it("stop() ends nginx and its workers, removes the temp dir and is idempotent", function()
      local s2 = testing.start({ api_key = "k3" })
      finally(function() s2:stop() end)
      local f = assert(io.open(s2.dir .. "/nginx.pid"))
      local pid = tonumber(f:read("*a"):match("%d+"))
      f:close()
      local pids = children(pid)
      pids[#pids + 1] = pid
      assert.is_true(#pids >= 2)
      s2:stop()
      for _, p in ipairs(pids) do assert.is_false(alive(p)) end
      assert.is_nil(io.open(s2.dir .. "/nginx.conf"))
      -- "[-]p" so the pattern doesn't match pgrep's own shell
      assert.is_false(succeeds("pgrep -f 'nginx.*[-]p " .. s2.dir .. "/' >/dev/null"))
      s2:stop()
      assert.is_nil((http.request(s2.url .. "/__fb/health")))
    end)

    it("raises a clear error when nginx cannot start", function()
      local ok, err = pcall(testing.start, { nginx = "/nonexistent/nginx" })
      assert.is_false(ok)
      assert.matches("could not start", err, 1, true)
    end)
  end)
end)
