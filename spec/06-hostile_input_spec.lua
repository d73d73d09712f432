-- Hostile input: whatever a stranger typed into a form, or a buggy caller built, is refused with an
-- invalid_request error naming the field, and nothing reaches the server.
local featurebase = require("featurebase")
local cjson = require("cjson")
local H = require("spec.helpers")

local MiB = 1024 * 1024
-- 50 MiB, made per test: a file-level string would stay alive for the whole busted run and let
-- the GC's heap grow to twice that in later specs (spec/08 measures RSS).
local function huge() return string.rep("a", 50 * MiB) end

local WRONG = {
  { "true", true }, { "false", false }, { "0", 0 }, { "1.5", 1.5 }, { "NaN", 0 / 0 }, { "inf", math.huge },
  { "-inf", -math.huge }, { "string", "x" }, { "table", {} }, { "function", print },
  { "thread", coroutine.create(function() end) }, { "userdata", io.stdout }, { "lightuserdata", cjson.null },
}

local function type_of(v)
  return v == cjson.null and "lightuserdata" or type(v)
end

-- t with the value at a dotted path such as "recipients.to.emails[1]" replaced.
local function with(t, path, v)
  t = H.copy(t)
  local keys = {}
  for part in path:gmatch("[^.]+") do
    local name, index = part:match("^(.-)%[(%d+)%]$")
    if name then
      keys[#keys + 1] = name
      keys[#keys + 1] = tonumber(index)
    else
      keys[#keys + 1] = part
    end
  end
  local node = t
  for i = 1, #keys - 1 do node = node[keys[i]] end
  node[keys[#keys]] = v
  return t
end

-- Every field of each request, with the Lua type it must have ("list": an array of strings).
local CREATE_FIELDS = {
  from = "table", ["from.type"] = "string", ["from.id"] = "string", bodyMarkdown = "string",
  channel = "string", subject = "string", createdAt = "time", recipients = "table",
  ["recipients.to"] = "table", ["recipients.cc"] = "table", ["recipients.to.emails"] = "list",
  ["recipients.to.emails[1]"] = "string", ["recipients.cc.ids"] = "list",
}
local REPLY_FIELDS = { type = "string", id = "string", bodyMarkdown = "string", messageType = "string",
  skipNotifications = "boolean" }

local function admin_create()
  local p = H.admin_email()
  p.recipients.cc.ids = { H.CONTACT }
  p.createdAt = "2025-01-15T10:30:00.000Z"
  return p
end

describe("hostile input", function()
  local srv, client

  setup(function()
    srv = H.server()
    client = H.client(srv)
  end)

  teardown(function()
    if client then client:close() end
    if srv then srv:stop() end
  end)

  before_each(function() srv:reset() end)
  -- the point of it all: whatever the case, the server heard nothing
  after_each(function() assert.are.equal(0, #srv:requests()) end)

  local function refused(field, value, err, res)
    assert.is_nil(value, field)
    assert.is_nil(res)
    assert.is_true(featurebase.is_error(err), field)
    assert.are.equal("invalid_request", err.kind, tostring(err))
    assert.are.equal(field, err.field, tostring(err))
    assert.truthy(err.message:find(field, 1, true), err.message)
    return err
  end

  local function create_refused(params, field)
    return refused(field, client:create_conversation(params))
  end

  local function reply_refused(id, params, field)
    return refused(field, client:reply(id, params))
  end

  -- the bases are valid: every refusal below comes from the one change made to them
  it("starts from valid requests", function()
    assert.truthy(H.encode_create(admin_create()))
    assert.truthy(H.encode_reply("abc", H.admin_reply()))
    assert.truthy(H.encode_reply("abc", H.contact_reply()))
  end)

  it("refuses every wrong type in every create field", function()
    for field, want in pairs(CREATE_FIELDS) do
      for _, w in ipairs(WRONG) do
        local name, v = w[1], w[2]
        local t = type_of(v)
        -- createdAt also takes a Lua time (os.time()): a finite number is fine, NaN and infinities are not
        local time_ok = want == "time" and (t == "string" or (t == "number" and v == v and v > -math.huge
          and v < math.huge and v >= 0))
        -- JSON null (featurebase.null, the same value as cjson.null) is sent only where the API allows it
        local null = v == require("featurebase").null
        local fits = t == want or time_ok or (want == "list" and t == "table") or (want == "table" and t == "table")
          or (null and field == "createdAt")
        if not fits then
          local err = create_refused(with(admin_create(), field, v), field)
          assert.truthy(err.message:find(null and "featurebase.null" or t == "lightuserdata" and "userdata" or t, 1,
            true), field .. " = " .. name .. ": " .. err.message)
        end
      end
    end
  end)

  it("refuses every wrong type in every reply field, and in conversation_id", function()
    for field, want in pairs(REPLY_FIELDS) do
      for _, w in ipairs(WRONG) do
        if type_of(w[2]) ~= want then reply_refused("abc", with(H.admin_reply(), field, w[2]), field) end
      end
    end
    for _, w in ipairs(WRONG) do
      if type(w[2]) ~= "string" then
        reply_refused("abc", with(H.contact_reply(), "userId", w[2]), "userId")
        reply_refused(w[2], H.admin_reply(), "conversation_id")
      end
    end
  end)

  it("ignores metatables: __index never supplies a field, __pairs never hides or adds one", function()
    local p = H.contact_create()
    local body = p.bodyMarkdown
    p.bodyMarkdown = nil
    create_refused(setmetatable(p, { __index = { bodyMarkdown = body } }), "bodyMarkdown")
    -- hostile metamethods are never called: a valid table wearing them encodes as it is
    local never = function() error("never called") end
    local path, json = H.encode_create(setmetatable(H.contact_create(),
      { __index = never, __newindex = never, __pairs = never, __len = never, __tostring = never }))
    assert.are.equal("/v2/conversations", path)
    assert.are.same(H.contact_create(), cjson.decode(json))
  end)

  it("ignores metatables on nested tables and lists", function()
    local p = H.contact_create()
    p.from = setmetatable({ type = "contact" }, { __index = { id = H.CONTACT } })
    create_refused(p, "from.id")
    -- __pairs offering only allowed keys cannot hide an unknown one
    p = H.contact_create()
    p.from.extra = 1
    p.from = setmetatable(p.from, { __pairs = function(t) return next, { type = t.type, id = t.id } end })
    create_refused(p, "from.extra")
    -- __len cannot make a list longer or shorter than its raw contents
    p = admin_create()
    p.recipients.to.emails = setmetatable({ "a@b.example", "not an email" }, { __len = function() return 1 end })
    create_refused(p, "recipients.to.emails[2]")
  end)

  it("refuses cycles without looping", function()
    local p = H.contact_create()
    p.from = p
    local conv, err = client:create_conversation(p)
    assert.is_nil(conv)
    assert.are.equal("invalid_request", err.kind)
    assert.truthy(err.field:find("^from%.%a+$"), err.field) -- from.from or from.bodyMarkdown: unknown keys
    p = admin_create()
    p.recipients.to = p.recipients
    conv, err = client:create_conversation(p)
    assert.is_nil(conv)
    assert.truthy(err.field:find("^recipients%.to%.%a+$"), err.field)
    p = admin_create()
    p.recipients.to.emails[2] = p.recipients.to.emails
    create_refused(p, "recipients.to.emails[2]")
  end)

  it("refuses deeply nested tables where strings belong", function()
    local deep = {}
    local node = deep
    for _ = 1, 100000 do
      node[1] = {}
      node = node[1]
    end
    -- (set directly: copying 100000 levels would overflow the copy, not the module)
    local p = H.contact_create()
    p.bodyMarkdown = deep
    create_refused(p, "bodyMarkdown")
    p = admin_create()
    p.recipients.to.emails = deep
    create_refused(p, "recipients.to.emails[1]")
    p = admin_create()
    p.recipients.to = deep
    create_refused(p, "recipients.to")
    local r = H.admin_reply()
    r.id = deep
    reply_refused("abc", r, "id")
  end)

  it("refuses 50 MiB strings in every string field, fast", function()
    local HUGE = huge()
    local started = os.clock()
    for _, field in ipairs({ "bodyMarkdown", "subject", "createdAt", "from.id", "from.type", "channel",
      "recipients.to.emails[1]" }) do
      create_refused(with(admin_create(), field, HUGE), field)
    end
    for _, field in ipairs({ "type", "id", "bodyMarkdown", "messageType" }) do
      reply_refused("abc", with(H.admin_reply(), field, HUGE), field)
    end
    reply_refused("abc", with(H.contact_reply(), "userId", HUGE), "userId")
    reply_refused(HUGE, H.admin_reply(), "conversation_id")
    assert.is_true(os.clock() - started < 5)
  end)

  it("refuses invalid UTF-8 and NUL bytes in every string field", function()
    local bad = { "\255", "a\192\128b", "\237\160\128", "\244\144\128\128", "caf\195", "a\0b" }
    for _, s in ipairs(bad) do
      for _, field in ipairs({ "bodyMarkdown", "subject", "createdAt", "from.id", "from.type", "channel",
        "recipients.to.emails[1]", "recipients.cc.ids[1]" }) do
        create_refused(with(admin_create(), field, s), field)
      end
      for _, field in ipairs({ "type", "id", "bodyMarkdown", "messageType" }) do
        reply_refused("abc", with(H.admin_reply(), field, s), field)
      end
      reply_refused("abc", with(H.contact_reply(), "userId", s), "userId")
      reply_refused(s, H.admin_reply(), "conversation_id")
    end
  end)

  it("refuses unknown keys of any type, naming them", function()
    create_refused(with(H.contact_create(), "body_markdown", "x"), "body_markdown")
    local p = H.contact_create()
    p[1] = "x"
    create_refused(p, "params")
    p = H.contact_create()
    p[{}] = "x"
    create_refused(p, "params")
    p = H.contact_create()
    p["evil\r\nkey"] = "x"
    create_refused(p, "evil??key")
  end)

  it("refuses conversation ids that could change the URL", function()
    for _, id in ipairs({ "/", "..", "../admin", "a/b", "?", "a?b=1", "#", "a#b", "%2F", "a%2Fb", "a b", " ",
      "aaaaaaaaaaaaaaaaa", "", "a\r\nb", "a\0", "caf\195\169", "a.b", "a+b", "a;b", "a\\b" }) do
      reply_refused(id, H.admin_reply(), "conversation_id")
    end
  end)

  it("refuses NaN and infinities in per-call options", function()
    for _, name in ipairs({ "timeout", "max_retries", "max_retry_wait", "deadline" }) do
      for _, v in ipairs({ 0 / 0, math.huge, -math.huge, -1 }) do
        refused(name, client:create_conversation(H.contact_create(), { [name] = v }))
      end
    end
    -- past a day: the C core's bound for timeouts, refused here rather than raised there
    refused("timeout", client:create_conversation(H.contact_create(), { timeout = 86401 }))
    refused("deadline", client:create_conversation(H.contact_create(), { deadline = 1e9 }))
  end)

  it("refuses every wrong type in per-call options", function()
    local want = { timeout = "number", max_retries = "number", max_retry_wait = "number", deadline = "number",
      retry_unsafe = "boolean" }
    for name, t in pairs(want) do
      for _, w in ipairs(WRONG) do
        if type(w[2]) ~= t then refused(name, client:reply("abc", H.admin_reply(), { [name] = w[2] })) end
      end
    end
    refused("api_key", client:create_conversation(H.contact_create(), { api_key = "x" }))
    refused("(a table key)", client:create_conversation(H.contact_create(), { [{}] = 1 }))
    -- a __pairs cannot smuggle options in, nor an __index
    local opts = setmetatable({}, { __pairs = function() return next, { timeout = 0 / 0 } end,
      __index = function() error("never called") end })
    srv:script({ "status=503" })
    local conv, err = client:create_conversation(H.contact_create(), opts)
    assert.is_nil(conv)
    assert.are.equal(503, err.status) -- sent with the client's options: nothing was smuggled in
    srv:reset()
  end)
end)

describe("hostile client options", function()
  local srv

  setup(function() srv = H.server() end)
  teardown(function() if srv then srv:stop() end end)
  after_each(function() assert.are.equal(0, #srv:requests()) end)

  local function refused(opts, field)
    local o = { api_key = H.KEY, base_url = srv.url }
    for k, v in pairs(opts) do o[k] = v end
    local client, err = featurebase.new(o)
    assert.is_nil(client, field)
    assert.are.equal("invalid_request", err.kind)
    assert.are.equal(field, err.field, tostring(err))
    return err
  end

  it("refuses every wrong type in every option", function()
    local want = { api_key = "string", base_url = "string", version = "string", timeout = "number",
      connect_timeout = "number", stall_timeout = "number", max_response_size = "number",
      max_request_size = "number", max_retries = "number", max_retry_wait = "number", deadline = "number",
      allow_insecure_http = "boolean", retry_unsafe = "boolean", log = "function" }
    for name, t in pairs(want) do
      for _, w in ipairs(WRONG) do
        local ok = type(w[2]) == t or (name == "log" and w[2] == false)
        if not ok then refused({ [name] = w[2] }, name) end
      end
    end
  end)

  it("refuses NaN, infinities and negatives in every number option", function()
    for _, name in ipairs({ "timeout", "connect_timeout", "stall_timeout", "max_response_size",
      "max_request_size", "max_retries", "max_retry_wait", "deadline" }) do
      for _, v in ipairs({ 0 / 0, math.huge, -math.huge, -1 }) do refused({ [name] = v }, name) end
    end
  end)

  it("refuses CR, LF, NUL and other control bytes in api_key and version (header injection)", function()
    for _, s in ipairs({ "\r\nX-Evil: 1", "\n", "\r", "\0", "\t", "\127", " " }) do
      refused({ api_key = "sk_test" .. s }, "api_key")
      refused({ version = "2026-01-01.nova" .. s }, "version")
      refused({ base_url = srv.url .. s }, "base_url")
    end
    refused({ api_key = "sk_caf\195\169" }, "api_key")
    refused({ api_key = "sk_\255" }, "api_key")
  end)

  it("refuses 50 MiB api_key, version and base_url", function()
    local HUGE = huge()
    refused({ api_key = HUGE }, "api_key")
    refused({ version = "2026-01-01." .. HUGE }, "version")
    refused({ base_url = "https://" .. HUGE }, "base_url")
  end)

  it("refuses base_url schemes other than https and http", function()
    for _, url in ipairs({ "file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/", "dict://127.0.0.1/",
      "ldap://127.0.0.1/", "HTTPS://example.com", "//example.com", "example.com", "javascript:alert(1)",
      "https://user:pw@example.com", "http://127.0.0.1@evil.example", "https://ex\195\164mple.com" }) do
      refused({ base_url = url }, "base_url")
    end
  end)

  it("refuses plain http to a host other than this machine, unless allow_insecure_http", function()
    for _, url in ipairs({ "http://example.com", "http://10.0.0.1", "http://127.0.0.1.evil.example",
      "http://127.evil.example", "http://localhost.evil.example", "http://127.0.0.256",
      "http://[::1].evil.example", "http://[::2]" }) do
      local err = refused({ base_url = url }, "base_url")
      assert.truthy(err.message:find("allow_insecure_http", 1, true), url)
      local c = assert(featurebase.new({ api_key = H.KEY, base_url = url, allow_insecure_http = true }))
      c:close()
    end
    for _, url in ipairs({ "http://127.0.0.1", "http://127.1.2.3:8080/x", "http://localhost", "http://[::1]:80" }) do
      assert(featurebase.new({ api_key = H.KEY, base_url = url })):close()
    end
  end)

  it("ignores __pairs and __index on the options table", function()
    local opts = setmetatable({ api_key = H.KEY }, {
      __pairs = function() return next, { api_key = H.KEY, base_url = "http://evil.example",
        allow_insecure_http = true } end,
      __index = function(_, k) if k == "base_url" then return "http://evil.example" end end })
    local client = assert(featurebase.new(opts))
    assert.are.equal("featurebase.Client (https://do.featurebase.app)", tostring(client))
    client:close()
  end)

  it("raises, naming the argument, when a table is not a table", function()
    local client = H.client(srv)
    for _, v in ipairs({ "x", 1, true, print }) do
      assert.has_error(function() featurebase.new(v) end)
      assert.has_error(function() client:create_conversation(v) end)
      assert.has_error(function() client:reply("abc", v) end)
      assert.has_error(function() client:reply("abc", H.admin_reply(), v) end)
    end
    local ok, msg = pcall(client.create_conversation, client, "x")
    assert.is_false(ok)
    assert.truthy(msg:find("bad argument #1 to 'create_conversation' (table expected, got string)", 1, true), msg)
    client:close()
  end)
end)
