-- Decoding: every documented field of a conversation passes through, with all 17 part types, the
-- CSAT objects and read receipts; JSON null becomes nil and arrays stay sequences.
local core = require("featurebase.core")
local cjson = require("cjson")

local function fixture(name)
  local f = assert(io.open("spec/fixtures/" .. name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The fixture as cjson reads it, with nulls removed the way the module promises.
local function expected(v)
  if type(v) ~= "table" then return v end
  local out, n = {}, 0
  local is_array = #v > 0 or next(v) == nil
  if is_array then
    for i = 1, #v do
      if v[i] ~= cjson.null then n = n + 1; out[n] = expected(v[i]) end
    end
    for k, x in pairs(v) do
      if type(k) ~= "number" and x ~= cjson.null then out[k] = expected(x) end
    end
  else
    for k, x in pairs(v) do if x ~= cjson.null then out[k] = expected(x) end end
  end
  return out
end

describe("decoding a conversation", function()
  local body = fixture("conversation_all_parts.json")
  local conv = assert(core.decode({ status = 200, headers = {}, body = body }))

  it("passes every field through", function()
    assert.are.same(expected(cjson.decode(body)), conv)
  end)

  it("has all 17 part types", function()
    local seen = {}
    for _, p in ipairs(conv.conversationParts) do seen[#seen + 1] = p.partType end
    assert.are.same({ "user_msg", "admin_msg", "admin_note", "email_msg", "bot_msg", "quick_reply_opts",
      "quick_reply_resp", "rating_requested", "rating_submitted", "attr_prompt", "attr_complete", "assign",
      "status", "tags", "workflow_wait", "priority", "part_add" }, seen)
    assert.are.equal(4, conv.conversationParts[9].csat.score)
    assert.are.equal("Yes", conv.conversationParts[6].replyOptions[1].text)
    assert.are.equal("interrupted", conv.conversationParts[15].workflowWait.eventType)
  end)

  it("turns null into nil and keeps arrays sequences", function()
    assert.is_nil(conv.adminAssigneeId)
    assert.is_nil(conv.prioritySetAt)
    assert.are.equal(2, #conv.participants) -- [a, null, b] closes up
    assert.are.equal("admin", conv.participants[2].type)
    assert.is_nil(conv.conversationParts[12].adminAssignerId)
    assert.is_nil(conv.conversationParts[14].actor.id)
    assert.are.equal("Auto-tag", conv.conversationParts[14].actor.name)
    assert.is_nil(conv.conversationParts[1].tagApplications[1].removedBy)
    assert.are.equal("8", conv.readReceipts[1].lastReadPartId)
    assert.are.equal("rated", conv.csatSummary.status)
    assert.are.equal("smtp_bounce", conv.csatDebug.emailDelivery.failureReason)
  end)

  it("keeps empty arrays as empty tables and booleans as booleans", function()
    local v = assert(core.decode({ status = 201, headers = {}, body = '{"tags":[],"priority":false,"isBlocked":true}' }))
    assert.are.same({}, v.tags)
    assert.is_false(v.priority)
    assert.is_true(v.isBlocked)
  end)

  it("does not share settings with the user's cjson", function()
    local saved = cjson.decode_max_depth()
    cjson.decode_max_depth(2)
    local ok, v = pcall(core.decode, { status = 200, headers = {}, body = '{"a":{"b":{"c":1}}}' })
    cjson.decode_max_depth(saved)
    assert.is_true(ok)
    assert.are.equal(1, v.a.b.c)
  end)

  it("refuses a JSON value that is not an object on success", function()
    for _, b in ipairs({ '"text"', "42", "null", "", "[1,2", "<html></html>" }) do
      local v, err = core.decode({ status = 201, headers = {}, body = b })
      assert.is_nil(v)
      assert.are.equal("decode", err.kind)
      assert.are.equal(201, err.status)
    end
  end)

  it("takes the message, code, type and param from a Featurebase error body", function()
    local v, err = core.decode({ status = 422, headers = { ["x-request-id"] = "req_9" },
      body = '{"error":{"type":"invalid_request_error","code":"validation_error","message":"subject is required",'
        .. '"param":"subject","status":422}}' })
    assert.is_nil(v)
    assert.are.equal("http", err.kind)
    assert.are.equal(422, err.status)
    assert.are.equal("subject is required", err.message)
    assert.are.equal("validation_error", err.code)
    assert.are.equal("invalid_request_error", err.error_type)
    assert.are.equal("subject", err.param)
    assert.are.equal("req_9", err.request_id)
    assert.are.equal("featurebase: http 422 (req_9): subject is required", tostring(err))
  end)

  it("describes a non-JSON error body by its status and keeps the raw text", function()
    local v, err = core.decode({ status = 502, headers = {}, body = "<html>bad gateway</html>" })
    assert.is_nil(v)
    assert.are.equal("the server answered 502 Bad Gateway", err.message)
    assert.are.equal("<html>bad gateway</html>", err.body)
  end)
end)

-- Nulls become nil: the result must be what cjson.decode followed by removing the nulls from the
-- tree gives (arrays closing up), on valid and invalid texts alike.
describe("removing JSON nulls", function()
  local fresh = cjson.new() -- cjson's defaults, like the core's own instance

  local function check(body)
    local ok, want = pcall(fresh.decode, body)
    local v, err = core.decode({ status = 200, headers = {}, body = body })
    if ok and type(want) == "table" then
      assert.are.same(expected(want), v, body)
    else
      assert.is_nil(v, body)
      local msg = "the server answered 200 but the body is not a JSON object" .. (ok and "" or ": " .. want)
      assert.are.equal(msg, err.message, body)
    end
  end

  it("removes null members and elements, in any position and spacing", function()
    for _, b in ipairs({ '{"a":null}', '{"a":null,"b":1}', '{"b":1,"a":null}', '{"b":1,"a":null,"c":2}',
      '[null]', '[null,null]', '[1,null]', '[null,1]', '[1,null,2]', '[null,null,1,null]',
      '[[],{},null,[null],{"a":null}]',
      ' { "a" : null , "b" : [ null , { "c" : null } , null ] } ', '[null,\t\r\n1]', '{"a":{"b":null},"b":null}' }) do
      check(b)
    end
    assert.are.same({ b = { 1 } }, core.decode({ status = 200, headers = {}, body = '{"a":null,"b":[null,1,null]}' }))
  end)

  it("leaves null inside strings alone, with escaped quotes and backslashes", function()
    for _, b in ipairs({ '{"x":"null","y":"\\"null\\"","z":null}', '{"x":"a\\\\","y":null}',
      '{"x":"a\\\\\\"","y":null}',
      '["\\",null,\\"",null]', '{"null":null,"n":"null,"}', '["[null,{",null]', '{"k\\/":null}' }) do
      check(b)
    end
    local v = assert(core.decode({ status = 200, headers = {}, body = '{"x":"\\",\\"y\\":null","z":null}' }))
    assert.are.same({ x = '","y":null' }, v)
  end)

  it("gives the last value of a repeated key, as cjson does", function()
    for _, b in ipairs({ '{"a":1,"a":null}', '{"a":null,"a":1}', '{"a":1,"\\u0061":null}', '{"\\u0061":1,"a":null}',
      '{"":1,"":null}', '{"k":[null],"k":null}' }) do
      check(b)
    end
    assert.are.same({}, core.decode({ status = 200, headers = {}, body = '{"a":1,"a":null}' }))
  end)

  it("gives cjson's own error for invalid texts around a null", function()
    for _, b in ipairs({ '[null,]', '[,null]', '{"a":null,}', '{,"a":null}', '{"a":1 "b":null}', '[1 null]', '[nulll]',
      '[nul]', '[null1]', '[null\f]', '{"a":null', '[null', '[null]x', '{"a\0":null}', '["a\0",null]', '[0x10,null]',
      '[Infinity,null]',
      '{"a"null}', '{"a"::null}', '[null:1]', '{"a":null]', '[null}' }) do
      check(b)
    end
  end)

  it("reads up to a NUL byte as cjson does, and keeps a top-level null a decode error", function()
    for _, b in ipairs({ '[null]\0', '{"a":null}\0garbage', '[1,null\0]', 'null', ' null ', '"null"' }) do
      check(b)
    end
  end)

  it("keeps cjson's depth limit", function()
    for _, d in ipairs({ 998, 999, 1000, 1001 }) do
      check(("["):rep(d) .. "null" .. ("]"):rep(d))
      check(("{\"a\":"):rep(d) .. "null" .. ("}"):rep(d))
      check(("[null,"):rep(d) .. "1" .. ("]"):rep(d))
    end
  end)
end)
