-- Create and reply over real HTTP against the fake Featurebase server (nginx on 127.0.0.1), and
-- every error kind: invalid_request (nothing sent), http, network, timeout, decode.
local featurebase = require("featurebase")
local cjson = require("cjson")
local H = require("spec.helpers")

describe("over HTTP", function()
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

  it("creates a contact conversation and returns the conversation object", function()
    local conv, err, res = client:create_conversation(H.contact_create())
    assert.is_nil(err)
    assert.are.equal("conversation", conv.object)
    assert.is_string(conv.id)
    assert.are.equal("open", conv.state)
    assert.are.equal("customer_initiated", conv.source.deliveredAs)
    assert.are.equal(H.CONTACT, conv.source.author.id)
    assert.are.equal("Hello, I have a question.", conv.source.bodyMarkdown)
    assert.is_nil(conv.adminAssigneeId) -- JSON null becomes nil
    assert.are.equal(201, res.status)
    assert.are.equal("application/json", res.headers["content-type"]:match("^[^;]+"))
    assert.is_string(res.request_id)
    assert.are.equal(2000, res.rate_limit.limit)
    assert.is_number(res.rate_limit.remaining)
    assert.is_number(res.rate_limit.reset)
  end)

  it("sends the documented headers and exactly the JSON body", function()
    local params = H.admin_email()
    params.recipients.bcc = { ids = { H.CONTACT } }
    params.createdAt = "2025-01-15T10:30:00.000Z"
    assert(client:create_conversation(params))
    local reqs = srv:requests()
    assert.are.equal(1, #reqs)
    local r = reqs[1]
    assert.are.equal("POST", r.method)
    assert.are.equal("/v2/conversations", r.path)
    assert.are.equal("Bearer " .. H.KEY, r.headers["authorization"])
    assert.are.equal("application/json", r.headers["content-type"])
    assert.are.equal("application/json", r.headers["accept"])
    assert.are.equal("2026-01-01.nova", r.headers["featurebase-version"])
    local ua = r.headers["user-agent"]
    assert.truthy(ua:find("^featurebase%-lua/" .. featurebase._VERSION:gsub("%.", "%%.")))
    assert.truthy(ua:find((jit and "LuaJIT" or _VERSION), 1, true))
    assert.truthy(ua:find("libcurl/", 1, true))
    assert.are.same(params, cjson.decode(r.body))
  end)

  it("sends the configured version", function()
    local c = H.client(srv, { version = "2026-08-19.orbit" })
    assert(c:create_conversation(H.contact_create()))
    assert.are.equal("2026-08-19.orbit", srv:requests()[1].headers["featurebase-version"])
    c:close()
  end)

  it("runs the whole conversation: admin reply, note, contact reply", function()
    local conv = assert(client:create_conversation(H.contact_create()))
    local part = assert(client:reply(conv.id, H.admin_reply()))
    assert.are.equal("conversation_part", part.object)
    assert.are.equal("admin_msg", part.partType)
    assert.are.equal("Happy to help.", part.bodyMarkdown)
    local note_params = H.admin_reply()
    note_params.messageType = "note"
    note_params.skipNotifications = true
    local note = assert(client:reply(conv.id, note_params))
    assert.are.equal("admin_note", note.partType)
    local back = assert(client:reply(conv.id, H.contact_reply()))
    assert.are.equal("user_msg", back.partType)
    assert.are.equal("customer", back.author.type)
    local paths = {}
    for _, r in ipairs(srv:requests()) do paths[#paths + 1] = r.path end
    assert.are.same({ "/v2/conversations", "/v2/conversations/" .. conv.id .. "/reply",
      "/v2/conversations/" .. conv.id .. "/reply", "/v2/conversations/" .. conv.id .. "/reply" }, paths)
    assert.is_true(cjson.decode(srv:requests()[3].body).skipNotifications)
  end)

  it("sends nothing when validation fails", function()
    local p = H.admin_email()
    p.recipients.cc.emails[2] = "not an email"
    local conv, err, res = client:create_conversation(p)
    assert.is_nil(conv)
    assert.is_nil(res)
    assert.are.equal("invalid_request", err.kind)
    assert.are.equal("recipients.cc.emails[2]", err.field)
    local part, rerr = client:reply("../admin", H.admin_reply())
    assert.is_nil(part)
    assert.are.equal("conversation_id", rerr.field)
    assert.are.equal(0, #srv:requests())
  end)

  it("returns an http error with the server's message for an unknown conversation", function()
    local part, err, extra = client:reply("nosuchid", H.admin_reply())
    assert.is_nil(part)
    assert.is_nil(extra) -- exactly nil, err: assert() shows the message on every Lua
    assert.are.equal("http", err.kind)
    assert.are.equal(404, err.status)
    assert.are.equal(1, err.attempts)
    assert.is_table(err.rate_limit)
    assert.are.equal("Conversation not found", err.message)
    assert.are.equal("invalid_request_error", err.error_type)
    assert.is_table(err.body.error)
    assert.is_string(err.request_id)
    assert.truthy(tostring(err):find("^featurebase: http 404"))
    assert.truthy(tostring(err):find("Conversation not found", 1, true))
  end)

  it("returns 401 as an http error, without the key in it", function()
    local c = H.client(srv, { api_key = "sk_wrong_SECRET" })
    local conv, err = c:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal(401, err.status)
    assert.is_nil(tostring(err):find("sk_wrong_SECRET", 1, true))
    assert.is_nil(cjson.encode(err.body):find("sk_wrong_SECRET", 1, true))
    c:close()
  end)

  it("returns the server's 400 when the server refuses what the client let through", function()
    local conv, err = client:create_conversation(H.contact_create(), nil)
    assert.truthy(conv, tostring(err))
    -- The fake server's own validator, reached by forcing a body the client would never build.
    local value, derr = client._core:perform("POST", "/v2/conversations", '{"from":{"type":"admin","id":"'
      .. H.ADMIN .. '"},"bodyMarkdown":"x"}')
    assert.is_nil(value)
    assert.are.equal(400, derr.status)
    assert.are.equal("missing_parameter", derr.code)
    assert.are.equal("recipients", derr.param)
  end)

  it("returns a decode error when a 2xx body is not JSON", function()
    local c = H.client(srv, { base_url = srv.url .. "/__fb/mode/malformed" })
    local conv, err = c:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal("decode", err.kind)
    assert.are.equal(201, err.status)
    c:close()
  end)

  it("returns a network error when nothing listens", function()
    local c = H.client(srv, { base_url = "http://127.0.0.1:1" })
    local conv, err, res = c:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.is_number(err.curl_code)
    c:close()
  end)

  it("returns a timeout error when the server is slower than the timeout", function()
    local c = H.client(srv, { base_url = srv.url .. "/__fb/mode/delay=2000", timeout = 0.3 })
    local conv, err = c:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal("timeout", err.kind)
    -- and the client is still usable afterwards
    c:close()
    assert(client:create_conversation(H.contact_create()))
  end)

  it("keeps the connection alive between calls", function()
    for _ = 1, 5 do assert(client:create_conversation(H.contact_create())) end
    local conns = {}
    for _, r in ipairs(srv:requests()) do conns[r.connection or "?"] = true end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.are.equal(1, n)
  end)
end)
