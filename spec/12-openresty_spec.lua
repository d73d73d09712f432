-- featurebase.openresty inside a real nginx (Debian's lua-nginx-module, ONE worker): the worker keeps
-- serving other requests while a call waits on the slow fake server, and create, reply, validation,
-- HTTP, network, timeout and TLS errors come back as they do from the blocking client.
local cjson = require("cjson")
local socket = require("socket")
local testing = require("featurebase.testing")
local H = require("spec.helpers")

local ROOT = io.popen("pwd"):read("*l")

-- nginx runs LuaJIT: make sure that build exists even under `make test LUAS=lua5.4`.
local function build_luajit()
  local ok = os.execute("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null")
  assert(ok == true or ok == 0, "could not build build/luajit/featurebase/core.so")
end

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, "failed: " .. cmd)
end

local free_port = testing.free_port

-- Sends one HTTP/1.0 request (the server closes after answering); returns the open socket.
local function send(port, method, path, body)
  local c = socket.tcp()
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  body = body or ""
  assert(c:send(method .. " " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: " .. #body
    .. "\r\n\r\n" .. body))
  return c
end

local function receive(c)
  local resp, err, partial = c:receive("*a")
  c:close()
  resp = resp or partial
  assert(resp and resp ~= "", "no answer: " .. tostring(err))
  return tonumber(resp:match("^HTTP/%d%.%d (%d+)")), resp:match("\r\n\r\n(.*)$")
end

local function request(port, method, path, body)
  return receive(send(port, method, path, body))
end

-- The app under test: /call runs one client call described by the JSON body and answers with its
-- results; /fast is the "other request" a stalled worker could not answer.
local APP = [[
    location = /fast { content_by_lua_block { ngx.print("fast") } }
    location = /call { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      ngx.req.read_body()
      local q = cjson.decode(ngx.req.get_body_data())
      local client = assert(fb.new(q.options))
      local c = q.blocking and client:blocking() or client
      local v, err, res
      if q.op == "create" then v, err, res = c:create_conversation(q.params, q.call)
      else v, err, res = c:reply(q.id, q.params, q.call) end
      local text = err and tostring(err) or false
      if err then err = { kind = err.kind, field = err.field, status = err.status, code = err.code,
        message = err.message, request_sent = err.request_sent, attempts = err.attempts, limit = err.limit } end
      ngx.print(cjson.encode({ value = v or false, err = err or false, res = res or false,
        text = text, client = tostring(client) }))
    } }
    # /ops runs a list of calls {method, args...} in order on one OpenResty client; "$1.id" in an
    # argument stands for the id of the first call's result. async = true: the *_async forms, in
    # light threads, then client:run().
    location = /ops { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      ngx.req.read_body()
      local q = cjson.decode(ngx.req.get_body_data())
      local client = assert(fb.new(q.options))
      local out, first = {}, nil
      local function resolve(v)
        if v == "$1.id" then return first and first.id end
        if type(v) == "table" then
          local t = {}
          for k, x in pairs(v) do t[k] = resolve(x) end
          return t
        end
        return v
      end
      for i, c in ipairs(q.calls) do
        local name = c[1]
        local args = {}
        for j = 2, #c do args[j - 1] = resolve(c[j]) end
        local v, err, res
        if q.async then
          args[#args + 1] = function(...) v, err, res = ... end
          client[name .. "_async"](client, unpack(args))
          client:run()
        else
          v, err, res = client[name](client, unpack(args))
        end
        if i == 1 then first = v end
        out[i] = { ok = v ~= nil, err = err and tostring(err) or false, status = (res or err or {}).status or false,
          id = type(v) == "table" and v.id or false, state = type(v) == "table" and v.state or false }
      end
      ngx.print(cjson.encode({ results = out,
        helpers = type(client.start_conversation) == "function" and type(client.add_note) == "function" }))
    } }
    # /pages: client:conversations_async (or contacts_async) with q.query, stopping after q.stop items,
    # then client:run(); answers with the ids seen and what on_done got
    location = /pages { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      ngx.req.read_body()
      local q = cjson.decode(ngx.req.get_body_data())
      local client = assert(fb.new(q.options))
      local ids, done = {}, false
      client[q.method or "conversations_async"](client, q.query, function(item)
        ids[#ids + 1] = item.id
        if #ids == q.stop then return false end
      end, function(ok, err)
        done = { ok = ok or false, status = err and err.status or false, kind = err and err.kind or false }
      end)
      client:run()
      ngx.print(cjson.encode({ ids = ids, done = done }))
    } }
    # /kept: a callback's error is re-raised by run(), once the call its sibling callback started is done;
    # run() inside a callback is refused
    location = /kept { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      ngx.req.read_body()
      local q = cjson.decode(ngx.req.get_body_data())
      local client = assert(fb.new(q.options))
      local listed, refused
      client:list_contacts_async(nil, function() error({ code = 7 }) end)
      client:list_contacts_async(nil, function()
        refused = select(2, pcall(client.run, client))
        client:list_conversations_async(nil, function(page) listed = page and #page.data end)
      end)
      local ok, err = pcall(client.run, client)
      ngx.print(cjson.encode({ ok = ok, code = type(err) == "table" and err.code or tostring(err),
        listed = listed or false, refused = tostring(refused), again = pcall(client.run, client) }))
    } }
    # /shared: one client for every request of the worker; an async call, then run()
    location = /shared { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      ngx.req.read_body()
      local q = cjson.decode(ngx.req.get_body_data())
      package.loaded.fb_spec_shared = package.loaded.fb_spec_shared or assert(fb.new(q.options))
      local client, got = package.loaded.fb_spec_shared, false
      client:list_contacts_async(nil, function(page, err) got = page and page.object or tostring(err) end)
      client:run()
      ngx.print(got)
    } }
    # a Featurebase answering in chunks (no Content-Length): base_url .../chunked
    location = /chunked/v2/conversations { content_by_lua_block {
      ngx.status = 201
      ngx.header["Content-Type"] = "application/json"
      ngx.print('{"object":"conversation",')
      ngx.flush(true)
      ngx.print('"id":"77","state":"open"}')
    } }
    # cosockets do not exist in set_by_lua: the call must refuse clearly
    location = /phase {
      set_by_lua_block $msg {
        local fb = require("featurebase.openresty")
        local client = fb.new({ api_key = "sk_test_x", base_url = "http://127.0.0.1:1" })
        local ok, e = pcall(client.create_conversation, client, { bodyMarkdown = "x" })
        return tostring(ok) .. " " .. tostring(e)
      }
      return 200 $msg;
    }
]]

describe("featurebase.openresty in nginx", function()
  local srv, app, dir, tls_port, untrusted_port

  -- Runs one client call inside the app's worker; returns the decoded result and the seconds it took.
  local function call(q)
    q.options = q.options or {}
    q.options.api_key = q.options.api_key or H.KEY
    q.options.base_url = q.options.base_url or srv.url
    local t0 = socket.gettime()
    local status, body = request(app.port, "POST", "/call", cjson.encode(q))
    assert.are.equal(200, status, body)
    return cjson.decode(body), socket.gettime() - t0
  end

  setup(function()
    build_luajit()
    srv = H.server()
    dir = io.popen("mktemp -d"):read("*l")
    -- a certificate for "localhost" that the app trusts, and one it does not
    for _, name in ipairs({ "trusted", "untrusted" }) do
      sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost "
        .. "-addext subjectAltName=DNS:localhost -keyout %s/%s.key -out %s/%s.crt 2>/dev/null")
        :format(dir, name, dir, name))
    end
    tls_port, untrusted_port = free_port(), free_port()
    local function tls_server(port, name)
      return ("server { listen 127.0.0.1:%d ssl; ssl_certificate %s/%s.crt; ssl_certificate_key %s/%s.key;\n"
        .. "  location / { content_by_lua_block { require('featurebase.testing.server').handle() } } }\n")
        :format(port, dir, name, dir, name)
    end
    app = testing.start({
      api_key = H.KEY, workers = 1, cpath = ROOT .. "/build/luajit/?.so",
      http = "lua_ssl_trusted_certificate " .. dir .. "/trusted.crt;\n" .. tls_server(tls_port, "trusted")
        .. tls_server(untrusted_port, "untrusted"),
      server = APP,
    })
  end)

  teardown(function()
    if app then app:stop() end
    if srv then srv:stop() end
    if dir then os.execute("rm -rf '" .. dir .. "'") end
  end)

  before_each(function() srv:reset() end)

  -- Starts a call that waits 3 s on the slow server, then times 20 /fast requests to the same worker.
  -- (3 s and a 1 s bound: wide margins both ways on a loaded machine; blocking stalls them >= 2 s.)
  local function while_one_waits(blocking)
    local slow = send(app.port, "POST", "/call", cjson.encode({ op = "create", params = H.contact_create(),
      blocking = blocking, options = { api_key = H.KEY, base_url = srv.url .. "/__fb/mode/delay=3000" } }))
    -- wait until the slow call has reached the fake server: from then on the worker is waiting on it
    H.eventually("the slow call to reach the fake server", function() return #srv:requests() > 0 end)
    local t1 = socket.gettime()
    for _ = 1, 20 do
      local status, body = request(app.port, "GET", "/fast")
      assert.are.equal(200, status)
      assert.are.equal("fast", body)
    end
    local fast = socket.gettime() - t1
    local answered = socket.select({ slow }, nil, 0)
    local status, body = receive(slow)
    return fast, #answered == 0, status, cjson.decode(body)
  end

  it("answers 20 other requests in under 1 s while a call waits 3 s", function()
    local fast, still_waiting, status, out = while_one_waits(false)
    assert.is_true(still_waiting, "the slow call had already finished: nothing was measured")
    assert.is_true(fast < 1, ("20 requests took %.0f ms"):format(fast * 1000))
    assert.are.equal(200, status)
    assert.are.equal(false, out.err)
    assert.are.equal("conversation", out.value.object)
  end)

  it("(the same test with the blocking client stalls the worker: the measurement can fail)", function()
    local fast, _, status, out = while_one_waits(true)
    assert.is_true(fast > 2, ("20 requests took only %.0f ms"):format(fast * 1000))
    assert.are.equal(200, status)
    assert.are.equal("conversation", out.value.object)
  end)

  it("creates a conversation and replies to it, on one kept-alive connection", function()
    local out = call({ op = "create", params = H.contact_create() })
    assert.are.equal(false, out.err)
    local conv = out.value
    assert.are.equal("conversation", conv.object)
    assert.are.equal(H.CONTACT, conv.source.author.id)
    assert.is_nil(conv.adminAssigneeId)
    assert.are.equal(201, out.res.status)
    assert.are.equal(1, out.res.attempts)
    assert.is_string(out.res.request_id)
    assert.are.equal(2000, out.res.rate_limit.limit)

    out = call({ op = "reply", id = conv.id, params = H.admin_reply() })
    assert.are.equal(false, out.err)
    assert.are.equal("conversation_part", out.value.object)
    assert.are.equal("Happy to help.", out.value.bodyMarkdown)
    assert.are.equal(2, #srv:conversation(conv.id).conversationParts)

    local reqs = srv:requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("/v2/conversations", reqs[1].path)
    assert.are.equal("/v2/conversations/" .. conv.id .. "/reply", reqs[2].path)
    local h = reqs[1].headers
    assert.are.equal("Bearer " .. H.KEY, h.authorization)
    assert.are.equal("application/json", h["content-type"])
    assert.are.equal("2026-01-01.nova", h["featurebase-version"])
    assert.matches("cosocket", h["user-agent"])
    assert.are.same(H.contact_create(), reqs[1].json)
    assert.are.equal(reqs[1].connection, reqs[2].connection) -- nginx's pool kept the connection
    assert.is_nil(out.client:find(H.KEY, 1, true))
  end)

  it("keeps the base_url path prefix", function()
    local out = call({ op = "create", params = H.admin_email(),
      options = { base_url = srv.url .. "/__fb/mode/delay=1/" } })
    assert.are.equal(false, out.err)
    assert.are.equal("admin", out.value.source.author.type)
  end)

  it("refuses an invalid request before sending anything", function()
    local params = H.contact_create()
    params.from.id = "not-an-id"
    local out = call({ op = "create", params = params })
    assert.are.equal("invalid_request", out.err.kind)
    assert.are.equal("from.id", out.err.field)
    assert.are.equal(false, out.res)
    out = call({ op = "reply", id = "a/b", params = H.admin_reply() })
    assert.are.equal("invalid_request", out.err.kind)
    assert.are.equal(0, #srv:requests())
  end)

  it("returns an HTTP error with its status and code", function()
    local out = call({ op = "create", params = H.contact_create(),
      options = { base_url = srv.url .. "/__fb/mode/status=500" } })
    assert.are.equal("http", out.err.kind)
    assert.are.equal(500, out.err.status)
    assert.are.equal("internal_error", out.err.code)
    assert.are.equal(1, out.err.attempts) -- a 500 may have been acted on: not retried by default
    assert.are.equal(false, out.res) -- a failure is exactly nil, err
    assert.matches("500", out.text)
  end)

  for _, async in ipairs({ false, true }) do
    it("runs every endpoint" .. (async and " in its async form (light threads)" or "") .. ", helpers included",
      function()
        srv:reset()
        srv:seed({ tags = { "67ec1234abcd5678ef901234" }, admins = { H.ADMIN } })
        local T = "67ec1234abcd5678ef901234"
        local calls = {
          { "upsert_contact", { email = "or@example.com", userId = "or-1" } },
          { "get_contact", "$1.id" }, { "get_contact_by_user_id", "or-1" },
          { "list_contacts", { limit = 5 } },
          { "create_conversation", { from = { type = "contact", id = "$1.id" }, bodyMarkdown = "hi" } },
        }
        local status, body = request(app.port, "POST", "/ops", cjson.encode({ async = async, calls = calls,
          options = { api_key = H.KEY, base_url = srv.url } }))
        assert.are.equal(200, status, body)
        local all = cjson.decode(body)
        local out = all.results
        for i = 1, #calls do assert.is_true(out[i].ok, calls[i][1] .. ": " .. tostring(out[i].err)) end
        assert.are.equal(201, out[1].status)
        assert.is_true(all.helpers)
        local conv = out[5].id
        calls = {
          { "get_conversation", conv }, { "reply", conv, H.admin_reply() },
          { "update_conversation", conv, { state = "closed" } },
          { "add_tag", conv, { tagId = T, actingAdminId = H.ADMIN } },
          { "remove_tag", conv, T, { actingAdminId = H.ADMIN } },
          { "upsert_contact", { email = "two@example.com" } },
          { "add_participant", conv, { participant = { email = "two@example.com" } } },
          { "redact_part", { conversationId = conv, conversationPartId = "2" } },
          { "list_conversations", { limit = 5 } },
          { "delete_conversation", conv },
          { "delete_contact_by_user_id", "or-1" },
          { "get_conversation", "bad-id" },
        }
        status, body = request(app.port, "POST", "/ops", cjson.encode({ async = async, calls = calls,
          options = { api_key = H.KEY, base_url = srv.url } }))
        assert.are.equal(200, status, body)
        out = cjson.decode(body).results
        for i = 1, #calls - 1 do assert.is_true(out[i].ok, calls[i][1] .. ": " .. tostring(out[i].err)) end
        assert.are.equal("closed", out[3].state)
        assert.is_false(out[#calls].ok)
        assert.truthy(out[#calls].err:find("invalid_request: conversation_id", 1, true))
        local methods = {}
        for _, r in ipairs(srv:requests()) do methods[r.method] = true end
        assert.are.same({ GET = true, POST = true, PATCH = true, DELETE = true }, methods)
      end)
  end

  it("pages without blocking: every item in order, an early stop, a failed page", function()
    local want = srv:seed({ conversations = 25, contacts = 4 }).conversations -- the ids in listing order
    local function pages(q)
      q.options = { api_key = H.KEY, base_url = srv.url }
      local status, body = request(app.port, "POST", "/pages", cjson.encode(q))
      assert.are.equal(200, status, body)
      return cjson.decode(body)
    end
    local out = pages({ query = { limit = 10 } })
    assert.are.same({ ok = true, status = false, kind = false }, out.done)
    assert.are.same(want, out.ids)
    assert.are.equal(3, #srv:requests())

    out = pages({ method = "contacts_async", query = { limit = 3 } })
    assert.are.equal(4, #out.ids)
    assert.is_true(out.done.ok)
    assert.are.equal(5, #srv:requests())

    out = pages({ query = { limit = 10 }, stop = 10 }) -- the last item of the first page
    assert.are.equal(10, #out.ids)
    assert.is_true(out.done.ok)
    assert.are.equal(6, #srv:requests()) -- no second page

    srv:script({ { match = "GET /v2/conversations", modes = "status=400", skip = 1 } })
    out = pages({ query = { limit = 10 } })
    assert.are.equal(10, #out.ids)
    assert.are.same({ ok = false, status = 400, kind = "http" }, out.done)
    assert.are.equal(8, #srv:requests())
  end)

  it("run() waits for the calls callbacks start, then re-raises a callback's error as it was", function()
    srv:seed({ conversations = 3 })
    local status, body = request(app.port, "POST", "/kept", cjson.encode({
      options = { api_key = H.KEY, base_url = srv.url } }))
    assert.are.equal(200, status, body)
    local out = cjson.decode(body)
    assert.is_false(out.ok)
    assert.are.equal(7, out.code)
    assert.are.equal(3, out.listed)
    assert.matches("run%(%) inside a callback would wait for that callback itself", out.refused)
    assert.is_true(out.again) -- the kept error was raised once
    assert.are.equal(3, #srv:requests())
  end)

  it("run() on a client shared by requests waits for its own request's calls only", function()
    srv:script({ "delay=3000" })
    local body = cjson.encode({ options = { api_key = H.KEY, base_url = srv.url } })
    local slow = send(app.port, "POST", "/shared", body)
    H.eventually("the slow call to reach the fake server", function() return #srv:requests() > 0 end)
    local t1 = socket.gettime()
    local status, out = request(app.port, "POST", "/shared", body)
    local took = socket.gettime() - t1
    assert.are.equal(200, status, out)
    assert.are.equal("list", out)
    assert.is_true(took < 1.5, ("the second request took %.0f ms"):format(took * 1000))
    assert.are.equal(0, #socket.select({ slow }, nil, 0), "the slow call had already finished")
    status, out = receive(slow)
    assert.are.equal(200, status, out)
    assert.are.equal("list", out)
  end)

  it("retries a 429 after Retry-After, sleeping with ngx.sleep", function()
    srv:script({ "429,retry-after=0.3" })
    local out, took = call({ op = "create", params = H.contact_create() })
    assert.are.equal(false, out.err)
    assert.are.equal(2, out.res.attempts)
    assert.is_true(took >= 0.3)
    assert.are.equal(2, #srv:requests())
  end)

  it("reads a chunked response", function()
    local out = call({ op = "create", params = H.contact_create(), options = { base_url = app.url .. "/chunked" } })
    assert.are.equal(false, out.err)
    assert.are.same({ object = "conversation", id = "77", state = "open" }, out.value)
  end)

  it("enforces max_response_size as the C core does: network error, limit named, not retried", function()
    for _, base in ipairs({ srv.url, app.url .. "/chunked" }) do
      local out = call({ op = "create", params = H.contact_create(),
        options = { base_url = base, max_response_size = 30, retry_unsafe = true } })
      assert.are.equal("network", out.err.kind, base)
      assert.are.equal("max_response_size", out.err.limit, base)
      assert.are.equal(1, out.err.attempts, base)
    end
  end)

  it("reports a refused connection as network, not sent, and a slow server as timeout", function()
    local out = call({ op = "create", params = H.contact_create(),
      options = { base_url = "http://127.0.0.1:" .. free_port(), max_retries = 0 } })
    assert.are.equal("network", out.err.kind)
    assert.are.equal(false, out.err.request_sent)

    out = call({ op = "create", params = H.contact_create(), call = { timeout = 0.3 },
      options = { base_url = srv.url .. "/__fb/mode/delay=2000" } })
    assert.are.equal("timeout", out.err.kind)
    assert.are.equal(true, out.err.request_sent)
    assert.are.equal(1, out.err.attempts)
  end)

  it("verifies TLS certificates and host names", function()
    local out = call({ op = "create", params = H.contact_create(),
      options = { base_url = "https://localhost:" .. tls_port } })
    assert.are.equal(false, out.err)
    assert.are.equal("conversation", out.value.object)

    for _, url in ipairs({ "https://127.0.0.1:" .. tls_port, "https://localhost:" .. untrusted_port }) do
      out = call({ op = "create", params = H.contact_create(), options = { base_url = url, max_retries = 0 } })
      assert.are.equal("network", out.err.kind, url)
      assert.are.equal(false, out.err.request_sent)
      assert.matches("TLS", out.err.message)
    end
  end)

  it("refuses to run where nginx has no cosockets, saying what to do instead", function()
    local status, body = request(app.port, "GET", "/phase")
    assert.are.equal(200, status)
    assert.matches("^false .*no cosockets in the set phase.*ngx%.timer%.at", body)
  end)

end)

describe("featurebase.openresty outside nginx", function()
  local fb = require("featurebase.openresty")

  it("checks options like the blocking client, plus its own", function()
    for field, opts in pairs({ keepalive_pool = { keepalive_pool = 0 },
      keepalive_timeout = { keepalive_timeout = "60" }, base_url = { base_url = "ftp://x" },
      colour = { colour = "red" } }) do
      opts.api_key = H.KEY
      local client, err = fb.new(opts)
      assert.is_nil(client)
      assert.are.equal(field, err.field)
    end
  end)

  it("reads options raw, as the blocking client does: __pairs cannot invent one", function()
    local opts = setmetatable({ api_key = H.KEY }, { __pairs = function()
      return next, { api_key = H.KEY, keepalive_pool = 0 } end })
    assert.truthy(fb.new(opts))
  end)

  it("never shows the key, and says where it belongs when called outside nginx", function()
    local client = assert(fb.new({ api_key = H.KEY, base_url = "http://127.0.0.1:9/prefix" }))
    assert.are.equal("featurebase.Client (http://127.0.0.1:9/prefix)", tostring(client))
    for k, v in pairs(client) do
      assert.is_nil(tostring(k):find(H.KEY, 1, true))
      assert.is_nil(tostring(v):find(H.KEY, 1, true))
    end
    assert.has_error(function() client:create_conversation(H.contact_create()) end,
      "featurebase.openresty: not running inside nginx (use require('featurebase'))")
    assert.are.equal("featurebase.Client", getmetatable(client:blocking()) and "featurebase.Client")
    client:close()
    client:close()
    assert.are.equal("featurebase.Client (closed)", tostring(client))
  end)
end)

-- examples/openresty (nginx.conf + contact_form.lua) runs in spec/25-examples_spec.lua.
