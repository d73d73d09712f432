-- examples/openresty/webhook.nginx.conf + webhook.lua, as shipped, in a real nginx (2 workers),
-- receiving deliveries signed by featurebase.testing; the example's API calls go to the fake server.
local cjson = require("cjson")
local socket = require("socket")
local testing = require("featurebase.testing")
local webhooks = require("featurebase.webhooks")
local H = require("spec.helpers")

local ROOT = io.popen("pwd"):read("*l")
local SECRET = "whsec_spec41_Sup3rSecretValue"

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, "failed: " .. cmd)
end

local free_port = testing.free_port

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

-- Polls fn until it returns a true value; fails after `timeout` seconds.
local eventually = H.eventually

local counter = 0
local function event(topic, conversation_id, extra)
  counter = counter + 1
  local e = { object = "notification_event", id = ("notif_spec41_%d_%d"):format(os.time(), counter), topic = topic,
    organizationId = "org_1", webhookId = "wh_1", createdAt = "2025-01-01T10:00:00.000Z",
    conversationId = conversation_id,
    data = { object = "notification_event_data",
      item = { object = "conversation_part", id = "part_" .. counter, bodyMarkdown = "Any news?" } } }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

describe("examples/openresty/webhook (webhook.nginx.conf, as shipped)", function()
  local srv, dir, port, url, api

  setup(function()
    local ok = os.execute("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null")
    assert(ok == true or ok == 0, "could not build build/luajit/featurebase/core.so")
    srv = H.server()
    api = H.client(srv)
    dir = io.popen("mktemp -d"):read("*l")
    port = free_port()
    url = "http://127.0.0.1:" .. port .. "/featurebase/webhook"
    -- the shipped conf with only its port and its logs/ folder moved into the temp dir
    local conf, n_listen = read(ROOT .. "/examples/openresty/webhook.nginx.conf")
      :gsub("listen 127%.0%.0%.1:8081;", "listen 127.0.0.1:" .. port .. ";")
    local n_logs
    conf, n_logs = conf:gsub("([ \"])logs/", "%1" .. dir .. "/")
    local n_pid
    conf, n_pid = conf:gsub("webhook%.pid", "nginx.pid") -- where testing.Server:stop looks for it
    assert(n_listen == 1 and n_logs >= 3 and n_pid == 1, "examples/openresty/webhook.nginx.conf changed shape: update this spec")
    -- dedupe must hold across workers: two of them, connections spread by the kernel (reuseport),
    -- and each answer says which worker gave it
    local n_workers, n_loc
    conf, n_workers = conf:gsub("worker_processes auto;", "worker_processes 2;")
    conf = conf:gsub("(listen 127%.0%.0%.1:%d+);", "%1 reuseport;")
    conf, n_loc = conf:gsub("(location = /featurebase/webhook {)",
      "%1 header_filter_by_lua_block { ngx.header['X-Worker'] = ngx.worker.pid() }")
    assert(n_workers == 1 and n_loc == 1, "examples/openresty/webhook.nginx.conf changed shape: update this spec")
    local f = assert(io.open(dir .. "/nginx.conf", "w"))
    f:write(conf)
    f:close()
    local as_root = io.popen("id -u"):read("*l") == "0" and "-g 'user root;'" or ""
    sh(("env FEATUREBASE_WEBHOOK_SECRET=%s FEATUREBASE_API_KEY=%s FEATUREBASE_BASE_URL=%s FEATUREBASE_ADMIN_ID=%s "
      .. "nginx -p %s/examples/openresty/ -c %s/nginx.conf -e %s/error.log %s")
      :format(SECRET, H.KEY, srv.url, H.ADMIN, ROOT, dir, dir, as_root))
    eventually("the example's nginx", function()
      local c = socket.tcp()
      local up = c:connect("127.0.0.1", port)
      c:close()
      return up
    end)
  end)

  teardown(function()
    if dir then setmetatable({ dir = dir }, testing.Server):stop() end -- QUITs nginx, removes dir
    if srv then srv:stop() end
  end)

  before_each(function() srv:reset() end)

  local function conversation()
    return assert(api:create_conversation(H.contact_create())).id
  end

  local function notes(id)
    local conv = srv:conversation(id)
    local out = {}
    for _, p in ipairs(conv and conv.conversationParts or {}) do
      if p.partType == "admin_note" then out[#out + 1] = p end
    end
    return out
  end

  -- API requests other than the spec's own conversation creation
  local function calls()
    local out = {}
    for _, r in ipairs(srv:requests()) do
      if not (r.method == "POST" and r.path == "/v2/conversations") then out[#out + 1] = r end
    end
    return out
  end

  -- POSTs a delivery; returns the status, the body and the X-Worker header (the answering pid)
  local function raw_post(body, headers)
    local lines = { "POST /featurebase/webhook HTTP/1.0", "Host: 127.0.0.1", "Content-Length: " .. #body }
    for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
    local c = socket.tcp()
    c:settimeout(10)
    assert(c:connect("127.0.0.1", port))
    assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. body))
    local resp = assert(c:receive("*a"))
    c:close()
    return tonumber(resp:match("^HTTP/1%.1 (%d+)")), resp:match("\r\n\r\n(.*)$"), resp:match("\r\nX%-Worker: (%d+)")
  end

  local function deliver(e, opts)
    opts = opts or {}
    opts.secret = opts.secret or SECRET
    local status, body = srv:deliver(url, e, opts)
    return status, body and body ~= "" and cjson.decode(body) or body
  end

  it("answers 200 to a signed conversation.user.replied, then adds an internal note through the API", function()
    local id = conversation()
    local e = event("conversation.user.replied", id)
    local status, out = deliver(e)
    assert.are.equal(200, status)
    assert.are.same({ ok = true }, out)
    local n = eventually("the note", function() return notes(id)[1] end)
    assert.are.equal("The contact replied (9 characters). Event " .. e.id .. ".", n.bodyMarkdown)
    local req = calls()[1]
    assert.are.equal("/v2/conversations/" .. id .. "/reply", req.path)
    assert.are.same({ type = "admin", id = H.ADMIN, messageType = "note", bodyMarkdown = n.bodyMarkdown }, req.json)
    assert.are.equal("Bearer " .. H.KEY, req.headers.authorization)
  end)

  -- passes once update_conversation exists (issue 9) and the fake server knows PATCH /v2/conversations/{id}
  it("assigns the conversation on conversation.user.created", function()
    local id = conversation()
    local e = event("conversation.user.created", id,
      { data = { object = "notification_event_data", item = { object = "conversation", id = id } } })
    assert.are.equal(200, (deliver(e)))
    local req = eventually("the update call", function() return calls()[1] end)
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/v2/conversations/" .. id, req.path)
    assert.are.same({ adminAssigneeId = H.ADMIN }, req.json)
  end)

  it("refuses a bad signature, a wrong secret, a stale or future timestamp and missing headers with 401", function()
    local id = conversation()
    local e = event("conversation.user.replied", id)
    local cases = {
      { { signature = ("0"):rep(64) }, "signature_mismatch" },
      { { secret = "whsec_other" }, "signature_mismatch" },
      { { signature = "nope" }, "malformed_signature" },
      { { timestamp = os.time() - 301 }, "timestamp_too_old" },
      { { timestamp = os.time() + 3600 }, "timestamp_in_future" },
      { { timestamp = "soon" }, "malformed_timestamp" },
      { { headers = { ["X-Webhook-Signature"] = false } }, "missing_header" },
      { { headers = { ["X-Webhook-Timestamp"] = false } }, "missing_header" },
    }
    for _, c in ipairs(cases) do
      local status, out = deliver(e, c[1])
      assert.are.equal(401, status, c[2])
      assert.are.same({ error = c[2] }, out)
    end
    -- the same event correctly signed still goes through: none of the above was recorded as seen
    assert.are.equal(200, (deliver(e)))
    eventually("the note", function() return notes(id)[1] end)
    socket.sleep(0.2)
    assert.are.equal(1, #calls())
    assert.are.equal(1, #notes(id))
  end)

  it("takes a header repeated with the same value, refuses one repeated with another (ngx lists)", function()
    local id = conversation()
    local body, hdrs = testing.delivery(event("conversation.user.replied", id), { secret = SECRET })
    local sig = hdrs["X-Webhook-Signature"]
    hdrs["X-Webhook-Signature"] = sig .. "\r\nx-webhook-signature: " .. ("0"):rep(64)
    local status, answer = raw_post(body, hdrs)
    assert.are.equal(401, status)
    assert.are.same({ error = "malformed_signature" }, cjson.decode(answer))
    hdrs["X-Webhook-Signature"] = sig .. "\r\nx-webhook-signature: " .. sig:upper()
    assert.are.equal(401, (raw_post(body, hdrs))) -- equal bytes only, not equal meaning
    hdrs["X-Webhook-Signature"] = sig .. "\r\nX-WEBHOOK-SIGNATURE: " .. sig
    status, answer = raw_post(body, hdrs)
    assert.are.equal(200, status)
    assert.are.same({ ok = true }, cjson.decode(answer))
    eventually("the note", function() return notes(id)[1] end)
  end)

  it("accepts a timestamp 299 s old (inside the tolerance)", function()
    local id = conversation()
    assert.are.equal(200, (deliver(event("conversation.user.replied", id), { timestamp = os.time() - 299 })))
    eventually("the note", function() return notes(id)[1] end)
  end)

  it("answers 400 to a correctly signed body that is not JSON, and 405 to a GET", function()
    local status, out = deliver("{not json")
    assert.are.equal(400, status)
    assert.are.same({ error = "invalid_json" }, out)
    local c = socket.tcp()
    c:settimeout(5)
    assert(c:connect("127.0.0.1", port))
    c:send("GET /featurebase/webhook HTTP/1.0\r\n\r\n")
    local resp = c:receive("*a")
    c:close()
    assert.matches("^HTTP/1%.1 405", resp)
  end)

  it("answers a replayed event id 200 but acts on it once, across workers", function()
    local id = conversation()
    local e = event("conversation.user.replied", id)
    local status, out = deliver(e)
    assert.are.equal(200, status)
    assert.are.same({ ok = true }, out)
    -- retries come with fresh timestamps and signatures; go on until both workers have answered one
    local workers, n = {}, 0
    repeat
      local body, hdrs = testing.delivery(e, { secret = SECRET, timestamp = os.time() })
      local st, answer, worker = raw_post(body, hdrs)
      assert.are.equal(200, st)
      assert.are.same({ ok = true, duplicate = true }, cjson.decode(answer))
      workers[worker] = true
      n = n + 1
    until (next(workers) and next(workers, next(workers))) or n == 200
    assert.is_not_nil(next(workers, next(workers)), "200 replays all went to one worker")
    eventually("the note", function() return notes(id)[1] end)
    socket.sleep(0.3)
    assert.are.equal(1, #notes(id))
    assert.are.equal(1, #calls())
  end)

  it("reads a body larger than client_body_buffer_size from nginx's temp file", function()
    local id = conversation()
    local e = event("conversation.user.replied", id)
    e.data.item.bodyMarkdown = ("x"):rep(200 * 1024)
    local status, out = deliver(e)
    assert.are.equal(200, status)
    assert.are.same({ ok = true }, out)
    local n = eventually("the note", function() return notes(id)[1] end)
    assert.matches("(204800 characters)", n.bodyMarkdown, 1, true)
    assert.matches("a client request body is buffered to a temporary file", read(dir .. "/webhook-error.log"), 1, true)
    -- and a spilled body with a bad signature is still refused
    assert.are.equal(401, (deliver(e, { signature = ("a"):rep(64) })))
  end)

  it("answers before the work is done: the API call waits 3 s, the answer does not", function()
    local id = conversation()
    srv:script({ "delay=3000" })
    local t0 = socket.gettime()
    assert.are.equal(200, (deliver(event("conversation.user.replied", id))))
    local answered = socket.gettime() - t0
    assert.is_true(answered < 1.5, ("the answer took %.0f ms"):format(answered * 1000))
    assert.are.equal(0, #notes(id))
    eventually("the delayed note", function() return notes(id)[1] end, 8)
    assert.is_true(socket.gettime() - t0 >= 2.9)
  end)

  it("handles 20 concurrent deliveries, each acted on once", function()
    local id = conversation()
    local socks, ids = {}, {}
    for i = 1, 20 do
      local e = event("conversation.user.replied", id)
      ids[i] = e.id
      local body, headers = testing.delivery(e, { secret = SECRET })
      local lines = { "POST /featurebase/webhook HTTP/1.0", "Host: 127.0.0.1", "Content-Length: " .. #body }
      for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
      local c = socket.tcp()
      c:settimeout(10)
      assert(c:connect("127.0.0.1", port))
      assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. body))
      socks[i] = c
    end
    for i = 1, 20 do
      local resp = socks[i]:receive("*a")
      socks[i]:close()
      assert.matches("^HTTP/1%.1 200", resp)
      assert.matches('{"ok":true}', resp, 1, true)
    end
    eventually("20 notes", function() return #notes(id) == 20 end, 10)
    local seen = {}
    for _, n in ipairs(notes(id)) do seen[n.bodyMarkdown:match("Event (notif_[%w_]+)%.")] = true end
    for _, e_id in ipairs(ids) do assert.is_true(seen[e_id], e_id) end
  end)

  it("never writes the secret into nginx's error log", function()
    -- refused deliveries are logged (warn); a failing API call too
    deliver(event("conversation.user.replied", "1"), { signature = ("f"):rep(64) })
    deliver(event("conversation.user.replied", "nosuchconv"))
    eventually("the failed call's log line", function()
      return read(dir .. "/webhook-error.log"):find("conversation.user.replied on nosuchconv", 1, true)
    end)
    local log = read(dir .. "/webhook-error.log")
    assert.matches("featurebase webhook refused: featurebase: signature_mismatch", log, 1, true)
    assert.is_nil(log:find("Sup3rSecret", 1, true))
    assert.is_nil(log:find(H.KEY, 1, true))
  end)
end)

describe("featurebase.testing.deliver", function()
  it("signs like Featurebase: the card's test vector", function()
    local body, headers = testing.delivery('{"id":"notif_1","topic":"conversation.admin.replied"}',
      { secret = "whsec_test_secret", timestamp = 1735725600 })
    assert.are.equal('{"id":"notif_1","topic":"conversation.admin.replied"}', body)
    assert.are.equal("0f5068585adf9ab1bf9c8a7d5d8cdf89bc09ebdeeecb89636c818c5273e3efed", headers["X-Webhook-Signature"])
    assert.are.equal("1735725600", headers["X-Webhook-Timestamp"])
    assert.are.equal("application/json", headers["Content-Type"])
    local ev = assert(webhooks.verify("whsec_test_secret", headers, body, { now = 1735725600 }))
    assert.are.equal("notif_1", ev.id)
  end)

  it("encodes a table, overrides and removes headers, and needs the secret", function()
    local body, headers = testing.delivery({ id = "notif_x" }, { secret = SECRET,
      headers = { ["x-webhook-timestamp"] = "1", ["X-Extra"] = "yes", ["Content-Type"] = false } })
    assert.are.same({ id = "notif_x" }, cjson.decode(body))
    assert.are.equal("1", headers["x-webhook-timestamp"])
    assert.is_nil(headers["X-Webhook-Timestamp"])
    assert.is_nil(headers["Content-Type"])
    assert.are.equal("yes", headers["X-Extra"])
    assert.has_error(function() testing.delivery({}, {}) end)
  end)

  it("reports a refused connection", function()
    local status, err = testing.deliver("http://127.0.0.1:" .. free_port() .. "/x", {}, { secret = SECRET })
    assert.is_nil(status)
    assert.is_string(err)
  end)
end)
