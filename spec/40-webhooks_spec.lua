-- featurebase.webhooks outside nginx: the test vector of shared/api/webhooks.md, every failure kind,
-- header spellings, the tolerance edges, the reader, the dedupe ring, and the secret kept out of
-- every error.
local core = require("featurebase.core")
local webhooks = require("featurebase.webhooks")

local SECRET = "whsec_test_secret"
local TS = "1735725600"
local BODY = '{"id":"notif_1","topic":"conversation.admin.replied"}'
local SIG = "0f5068585adf9ab1bf9c8a7d5d8cdf89bc09ebdeeecb89636c818c5273e3efed"
local NOW = { now = 1735725600 }

local function headers(sig, ts)
  return { ["X-Webhook-Signature"] = sig or SIG, ["X-Webhook-Timestamp"] = ts or TS }
end

-- Every string a value holds, as one text (to look for the secret).
local function dump(v, seen)
  seen = seen or {}
  if type(v) ~= "table" then return tostring(v) end
  if seen[v] then return "" end
  seen[v] = true
  local out = { tostring(v) }
  for k, x in pairs(v) do out[#out + 1] = dump(k, seen) .. "=" .. dump(x, seen) end
  return table.concat(out, " ")
end

local function fails(kind, ...)
  local event, err = webhooks.verify(...)
  assert.is_nil(event)
  assert.are.equal(core.error_mt, getmetatable(err))
  assert.are.equal(kind, err.kind)
  assert.is_string(err.message)
  assert.matches("^featurebase: " .. kind:gsub("_", "%%_") .. ": ", tostring(err))
  return err
end

describe("featurebase.webhooks.sign", function()
  it("gives the card's test vector, from a string or an integer timestamp", function()
    assert.are.equal(SIG, webhooks.sign(SECRET, TS, BODY))
    assert.are.equal(SIG, webhooks.sign(SECRET, 1735725600, BODY))
    assert.are.equal(64, #BODY + #TS + 1)
  end)

  it("keys with the whole secret and signs the raw bytes (the card's negative vectors)", function()
    assert.are.equal("2f35f874b3b68b394a56e09d8ac307a0c3b9f8a3c40acd13b55cc28be244b6f2",
      webhooks.sign("test_secret", TS, BODY))
    assert.are.equal("58996ab2bb2ee60be73d8c2d8f3d35eef104102340bc92683c5c4ab4226bca46",
      webhooks.sign(SECRET, TS, '{"id": "notif_1","topic":"conversation.admin.replied"}'))
  end)

  it("signs bodies with NUL bytes and empty bodies", function()
    local a, b = webhooks.sign(SECRET, TS, "a\0b"), webhooks.sign(SECRET, TS, "a\0c")
    assert.are_not.equal(a, b)
    assert.matches("^%x+$", webhooks.sign(SECRET, TS, ""))
  end)

  it("signed_headers gives both headers", function()
    local h = webhooks.signed_headers(SECRET, BODY, 1735725600)
    assert.are.same({ ["X-Webhook-Signature"] = SIG, ["X-Webhook-Timestamp"] = TS }, h)
    local now = webhooks.signed_headers(SECRET, BODY)
    assert.is_true(math.abs(tonumber(now["X-Webhook-Timestamp"]) - os.time()) <= 1)
  end)

  it("raises for a secret that is not a non-empty string, or a fractional timestamp", function()
    assert.has_error(function() webhooks.sign(nil, TS, BODY) end)
    assert.has_error(function() webhooks.sign("", TS, BODY) end)
    assert.has_error(function() webhooks.sign(SECRET, 1.5, BODY) end)
    assert.has_error(function() webhooks.sign(SECRET, TS, nil) end)
  end)
end)

describe("featurebase.webhooks.verify", function()
  it("accepts the card's test vector and returns the decoded event", function()
    local event, err = webhooks.verify(SECRET, headers(), BODY, NOW)
    assert.is_nil(err)
    assert.are.same({ id = "notif_1", topic = "conversation.admin.replied" }, event)
  end)

  it("refuses the card's negative vectors (stripped-prefix key, re-spaced body) with signature_mismatch", function()
    local err = fails("signature_mismatch", SECRET,
      headers("2f35f874b3b68b394a56e09d8ac307a0c3b9f8a3c40acd13b55cc28be244b6f2"), BODY, NOW)
    assert.are.equal("X-Webhook-Signature", err.header)
    fails("signature_mismatch", SECRET, headers("58996ab2bb2ee60be73d8c2d8f3d35eef104102340bc92683c5c4ab4226bca46"),
      BODY, NOW)
    fails("signature_mismatch", "test_secret", headers(), BODY, NOW)
    fails("signature_mismatch", SECRET, headers(), '{"id": "notif_1","topic":"conversation.admin.replied"}', NOW)
    fails("signature_mismatch", SECRET, headers(nil, "1735725601"), BODY, { now = 1735725601 })
    fails("signature_mismatch", SECRET, headers(), BODY .. "\n", NOW)
  end)

  it("accepts the signature in upper case hex (the bytes are compared)", function()
    assert.is_table((webhooks.verify(SECRET, headers(SIG:upper()), BODY, NOW)))
  end)

  it("tolerance: +300 s and -300 s accepted, +301 s stale, -301 s in the future", function()
    assert.is_table((webhooks.verify(SECRET, headers(), BODY, { now = 1735725600 + 300 })))
    assert.is_table((webhooks.verify(SECRET, headers(), BODY, { now = 1735725600 - 300 })))
    local err = fails("timestamp_too_old", SECRET, headers(), BODY, { now = 1735725600 + 301 })
    assert.are.equal(1735725600, err.timestamp)
    assert.are.equal("X-Webhook-Timestamp", err.header)
    assert.matches("301 s old", err.message, 1, true)
    err = fails("timestamp_in_future", SECRET, headers(), BODY, { now = 1735725600 - 301 })
    assert.matches("301 s in the future", err.message, 1, true)
    fails("timestamp_too_old", SECRET, headers(), BODY, { now = 1735725600 + 300.5 })
  end)

  it("opts.tolerance changes the window; the default is the clock with 300 s", function()
    assert.is_table((webhooks.verify(SECRET, headers(), BODY, { now = 1735725600 + 3600, tolerance = 3600 })))
    fails("timestamp_too_old", SECRET, headers(), BODY, { now = 1735725600 + 3601, tolerance = 3600 })
    fails("timestamp_too_old", SECRET, headers(), BODY, { now = 1735725601, tolerance = 0 })
    assert.is_table((webhooks.verify(SECRET, headers(), BODY, { now = 1735725600, tolerance = 0 })))
    -- without opts.now, the real clock: the vector is from 2025, long stale
    fails("timestamp_too_old", SECRET, headers(), BODY)
    local ts = tostring(os.time())
    assert.is_table((webhooks.verify(SECRET, headers(webhooks.sign(SECRET, ts, BODY), ts), BODY)))
    ts = tostring(os.time() + 3600)
    fails("timestamp_in_future", SECRET, headers(webhooks.sign(SECRET, ts, BODY), ts), BODY)
  end)

  it("checks the signature before the age: a stale forgery is a signature_mismatch", function()
    fails("signature_mismatch", SECRET, headers(("0"):rep(64)), BODY, { now = 1735725600 + 10000 })
  end)

  it("finds the headers in any case, as lists of equal values, or given directly", function()
    for _, h in ipairs({
      { ["x-webhook-signature"] = SIG, ["x-webhook-timestamp"] = TS },   -- ngx.req.get_headers()
      { ["X-WEBHOOK-SIGNATURE"] = SIG, ["X-Webhook-TimeStamp"] = TS },
      { ["x-webhook-signature"] = { SIG, SIG }, ["x-webhook-timestamp"] = { TS } },
      { signature = SIG, timestamp = TS },
      { signature = SIG, timestamp = 1735725600 },
      { ["X-Webhook-Signature"] = SIG, ["x-webhook-signature"] = SIG, timestamp = TS, host = "x", [1] = "y" },
    }) do
      local event, err = webhooks.verify(SECRET, h, BODY, NOW)
      assert.is_nil(err, dump(h))
      assert.are.equal("notif_1", event.id)
    end
  end)

  it("missing_header names the header", function()
    local err = fails("missing_header", SECRET, { ["x-webhook-timestamp"] = TS }, BODY, NOW)
    assert.are.equal("X-Webhook-Signature", err.header)
    err = fails("missing_header", SECRET, { ["x-webhook-signature"] = SIG }, BODY, NOW)
    assert.are.equal("X-Webhook-Timestamp", err.header)
    fails("missing_header", SECRET, {}, BODY, NOW)
    fails("missing_header", SECRET, { ["x-webhook-signature-x"] = SIG, ["x-webhook-timestamp"] = TS }, BODY, NOW)
  end)

  it("malformed_signature: not exactly 64 hex digits, or repeated with different values", function()
    for _, sig in ipairs({ "", SIG:sub(2), SIG .. "0", "sha256=" .. SIG, " " .. SIG:sub(2), SIG:sub(1, 63) .. "g",
      SIG:sub(1, 63) .. "\0", ("z"):rep(64), ("0"):rep(128) }) do
      local err = fails("malformed_signature", SECRET, headers(sig), BODY, NOW)
      assert.are.equal("X-Webhook-Signature", err.header)
    end
    fails("malformed_signature", SECRET, { ["x-webhook-signature"] = { SIG, SIG:upper() }, ["x-webhook-timestamp"] = TS },
      BODY, NOW)
    fails("malformed_signature", SECRET, { ["X-Webhook-Signature"] = SIG, ["x-webhook-signature"] = ("0"):rep(64),
      ["x-webhook-timestamp"] = TS }, BODY, NOW)
    fails("malformed_signature", SECRET, { ["x-webhook-signature"] = {}, ["x-webhook-timestamp"] = TS }, BODY, NOW)
    fails("malformed_signature", SECRET, { ["x-webhook-signature"] = true, ["x-webhook-timestamp"] = TS }, BODY, NOW)
  end)

  it("malformed_timestamp: anything but 1-18 digits", function()
    for _, ts in ipairs({ "", " 1735725600", "1735725600 ", "+1735725600", "-1735725600", "1735725600.0",
      "1.7e9", "0x677512a0", ("9"):rep(19), "99999999999999999999999", "1735725600\0", "NaN" }) do
      local err = fails("malformed_timestamp", SECRET, headers(webhooks.sign(SECRET, ts, BODY), ts), BODY, NOW)
      assert.are.equal("X-Webhook-Timestamp", err.header)
    end
    for _, ts in ipairs({ 1735725600.5, -1, 0 / 0, math.huge }) do
      fails("malformed_timestamp", SECRET, { signature = SIG, timestamp = ts }, BODY, NOW)
    end
    fails("malformed_timestamp", SECRET, { signature = SIG, timestamp = { TS, "1735725601" } }, BODY, NOW)
  end)

  it("accepts the largest timestamp it parses, and leading zeros as signed", function()
    local ts = ("9"):rep(18)
    fails("timestamp_in_future", SECRET, headers(webhooks.sign(SECRET, ts, BODY), ts), BODY, NOW)
    ts = "0" .. TS
    assert.is_table((webhooks.verify(SECRET, headers(webhooks.sign(SECRET, ts, BODY), ts), BODY, NOW)))
  end)

  it("invalid_json: a correctly signed body that is not a JSON object", function()
    for _, body in ipairs({ "", "{", "not json", '"text"', "42", "[1,2]", "null", '{"a":1} x' }) do
      local err = fails("invalid_json", SECRET, headers(webhooks.sign(SECRET, TS, body)), body, NOW)
      assert.is_nil(err.header)
    end
    -- an unsigned bad body is a signature failure first
    fails("signature_mismatch", SECRET, headers(), "{", NOW)
  end)

  it("decodes like the rest of the module: JSON nulls removed", function()
    local body = '{"id":"notif_2","data":{"changes":[{"field":"priority","oldValue":null,"newValue":true}]}}'
    local event = assert(webhooks.verify(SECRET, headers(webhooks.sign(SECRET, TS, body)), body, NOW))
    assert.are.same({ field = "priority", newValue = true }, event.data.changes[1])
  end)

  it("raises for misuse, naming the argument, never showing the secret", function()
    for _, case in ipairs({
      { nil, headers(), BODY }, { "", headers(), BODY }, { SECRET, nil, BODY }, { SECRET, "x", BODY },
      { SECRET, headers(), nil }, { SECRET, headers(), BODY, "opts" }, { SECRET, headers(), BODY, { tolerance = -1 } },
      { SECRET, headers(), BODY, { tolerance = 0 / 0 } }, { SECRET, headers(), BODY, { now = "now" } },
      { SECRET, headers(), BODY, { now = math.huge } }, { SECRET:rep(1000), headers(), BODY },
    }) do
      local ok, msg = pcall(webhooks.verify, case[1], case[2], case[3], case[4])
      assert.is_false(ok)
      assert.matches("bad argument #%d", msg)
      assert.is_nil(tostring(msg):find("test_secret", 1, true))
    end
  end)

  it("never puts the secret in an error, its fields or its tostring", function()
    local secret = "whsec_SUPERSECRET_do_not_print"
    local cases = {
      { {}, BODY }, { headers("xyz"), BODY }, { headers(nil, "abc"), BODY }, { headers(), BODY },
      { headers(webhooks.sign(secret, TS, "{")), "{" }, { headers(webhooks.sign(secret, TS, BODY)), BODY },
    }
    local kinds = {}
    for _, c in ipairs(cases) do
      local _, err = webhooks.verify(secret, c[1], c[2], { now = 1735725600 + 1000 })
      kinds[#kinds + 1] = err.kind
      assert.is_nil(dump(err):find("SUPERSECRET", 1, true))
      assert.is_nil(tostring(err):find("SUPERSECRET", 1, true))
    end
    assert.are.same({ "missing_header", "malformed_signature", "malformed_timestamp", "signature_mismatch",
      "timestamp_too_old", "timestamp_too_old" }, kinds)
    local ok, msg = pcall(webhooks.sign, secret, {}, BODY)
    assert.is_false(ok)
    assert.is_nil(msg:find("SUPERSECRET", 1, true))
  end)

  it("handles a 1 MiB body", function()
    local body = '{"id":"notif_big","pad":"' .. ("x"):rep(1024 * 1024) .. '"}'
    local event = assert(webhooks.verify(SECRET, headers(webhooks.sign(SECRET, TS, body)), body, NOW))
    assert.are.equal(1024 * 1024, #event.pad)
  end)
end)

describe("featurebase.webhooks reader", function()
  local conv_event = {
    object = "notification_event", id = "notif_0193a6e6", topic = "conversation.user.replied",
    organizationId = "org_1", webhookId = "wh_1", createdAt = "2025-01-01T10:00:00.000Z",
    conversationId = "12345", conversationUrl = "https://example.featurebase.app/inbox/12345",
    data = { object = "notification_event_data", item = { object = "conversation_part", id = "p1",
      bodyMarkdown = "hi" } },
  }
  local post_event = { id = "notif_0193a6e6-fb6b", object = "notification_event", topic = "post.updated",
    data = { type = "notification_event_data", item = { id = "6755c4afb12a37dffa6319b0", object = "post",
      title = "My new title" }, changes = { { field = "title", oldValue = "My old title", newValue = "My new title" } } } }

  it("reads the envelope under stable names", function()
    local ev = webhooks.read(conv_event)
    assert.are.equal("notif_0193a6e6", ev.id)
    assert.are.equal("conversation.user.replied", ev.topic)
    assert.are.equal("2025-01-01T10:00:00.000Z", ev.created_at)
    assert.are.equal("org_1", ev.organization_id)
    assert.are.equal("wh_1", ev.webhook_id)
    assert.are.equal("12345", ev.conversation_id)
    assert.are.equal("https://example.featurebase.app/inbox/12345", ev.conversation_url)
    assert.are.equal("notification_event_data", ev.data_object)
    assert.are.equal("conversation_part", ev.item_object)
    assert.are.equal("hi", ev.item.bodyMarkdown)
    assert.are.same({}, ev.changes)
    assert.are.equal(conv_event, ev.raw)
  end)

  it("takes the older data.type, and changes", function()
    local ev = webhooks.read(post_event)
    assert.are.equal("notification_event_data", ev.data_object)
    assert.are.equal("post", ev.item_object)
    assert.is_nil(ev.conversation_id)
    assert.are.equal(1, #ev.changes)
    assert.are.same({ true, "My old title", "My new title" }, { webhooks.change(post_event, "title") })
    assert.is_false((webhooks.change(post_event, "content")))
    assert.is_false((webhooks.change(conv_event, "title")))
  end)

  it("takes the conversation id from a conversation item when the envelope has none", function()
    local ev = webhooks.read({ topic = "conversation.admin.closed", data = { item = { object = "conversation", id = "777" } } })
    assert.are.equal("777", ev.conversation_id)
    assert.is_true(webhooks.is_conversation_level(ev.raw))
    assert.is_false(webhooks.is_part_level(ev.raw))
  end)

  it("never fails on odd deliveries", function()
    for _, e in ipairs({ {}, { data = "x" }, { data = { item = 5, changes = "no" } }, { id = 5, topic = {} } }) do
      local ev = webhooks.read(e)
      assert.is_nil(ev.id)
      assert.is_nil(ev.topic)
      assert.is_nil(ev.item)
      assert.are.same({}, ev.changes)
      assert.is_false(webhooks.is_conversation_level(e))
      assert.is_false(webhooks.is_part_level(e))
      assert.is_false(webhooks.is_conversation_topic(e))
      assert.is_false((webhooks.change(e, "x")))
    end
    assert.has_error(function() webhooks.read("x") end, "bad argument #1 to 'read' (event table expected, got string)")
  end)

  it("tells conversation topics and part-level items apart", function()
    assert.are.equal(16, #webhooks.CONVERSATION_TOPICS)
    for _, t in ipairs(webhooks.CONVERSATION_TOPICS) do
      assert.is_true(webhooks.is_conversation_topic(t))
      assert.is_true(webhooks.TOPICS[t])
    end
    assert.is_true(webhooks.is_conversation_topic(conv_event))
    assert.is_true(webhooks.is_conversation_topic("conversation_part.redacted"))
    assert.is_false(webhooks.is_conversation_topic(post_event))
    assert.is_false(webhooks.is_conversation_topic("conversation.user"))
    assert.is_true(webhooks.TOPICS["post.voted"])
    assert.are.equal(27, #webhooks.TOPICS)
    assert.is_true(webhooks.is_part_level(conv_event))
    assert.is_false(webhooks.is_conversation_level(conv_event))
  end)
end)

describe("featurebase.webhooks.new_dedupe", function()
  it("answers seen only for ids recorded before", function()
    local d = webhooks.new_dedupe(3)
    assert.is_false(d:seen("notif_1"))
    assert.is_true(d:seen("notif_1"))
    assert.is_false(d:seen("notif_2"))
    assert.is_true(d:seen("notif_1"))
    assert.is_false(d:seen(nil))
    assert.is_false(d:seen(nil))
    assert.is_false(d:seen(""))
  end)

  it("keeps at most capacity ids, forgetting the oldest", function()
    local d = webhooks.new_dedupe(100)
    for i = 1, 1000 do assert.is_false(d:seen("notif_" .. i)) end
    local n = 0
    for _ in pairs(d.set) do n = n + 1 end
    assert.are.equal(100, n)
    assert.is_true(d:seen("notif_1000"))
    assert.is_true(d:seen("notif_901"))
    assert.is_false(d:seen("notif_900")) -- forgotten, recorded again (and notif_901 goes)
    assert.is_false(d:seen("notif_901"))
  end)

  it("forget lets an id through again", function()
    local d = webhooks.new_dedupe()
    assert.is_false(d:seen("a"))
    d:forget("a")
    assert.is_false(d:seen("a"))
    assert.is_true(d:seen("a"))
  end)

  it("refuses a bad capacity", function()
    for _, c in ipairs({ 0, -1, 1.5, "10", 0 / 0 }) do
      assert.has_error(function() webhooks.new_dedupe(c) end)
    end
  end)

  it("shared_dedupe needs nginx (a dict name) but takes any dict-like object", function()
    assert.has_error(function() webhooks.shared_dedupe("nope") end)
    local store = {}
    local dict = {
      add = function(_, k, v) if store[k] then return false, "exists" end store[k] = v return true end,
      delete = function(_, k) store[k] = nil end,
    }
    local d = webhooks.shared_dedupe(dict, 60)
    assert.is_false(d:seen("notif_1"))
    assert.is_true(d:seen("notif_1"))
    assert.is_true(store["featurebase.webhook:notif_1"])
    d:forget("notif_1")
    assert.is_false(d:seen("notif_1"))
    assert.has_error(function() webhooks.shared_dedupe(dict, 0) end)
  end)
end)

describe("featurebase.webhooks.openresty (outside nginx)", function()
  it("checks its arguments when created", function()
    local fn = function() end
    assert.has_error(function() webhooks.openresty(nil, { on_event = fn }) end)
    assert.has_error(function() webhooks.openresty("whsec_x", {}) end)
    assert.has_error(function() webhooks.openresty("whsec_x", { on_event = fn, tolerance = -5 }) end)
    assert.has_error(function() webhooks.openresty("whsec_x", { on_event = fn, dedupe = 5 }) end)
    assert.is_function(webhooks.openresty("whsec_x", { on_event = fn, dedupe = webhooks.new_dedupe() }))
  end)
end)

describe("README: the plain-Lua webhooks example", function()
  it("runs as printed", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("*a")
    f:close()
    local section = assert(readme:match("\n### Plain Lua %(any server%)\n(.-)\n## "), "README section not found")
    local code = assert(section:match("```lua\n(.-)```"), "no lua block in the section")
    assert.matches("webhooks.verify", code, 1, true)
    local chunk = assert((loadstring or load)(code, "=README"))
    chunk() -- its own asserts check the answers
  end)
end)
