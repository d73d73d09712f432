-- Never send a message twice: the resends below the retry policy (libcurl's "Connection died,
-- retrying a fresh connect", a pooled connection, a restarting server) against a misbehaving
-- server on raw sockets (spec/fixtures/misbehave.py) that counts receipts per message.
local core = require("featurebase.core")
local retry = require("featurebase.retry")
local mis = require("spec.misbehave")
local H = require("spec.helpers")

local P = "/v2/conversations"

local function body(mk, act)
  return ('{"bodyMarkdown":"mk:%s%s"}'):format(mk, act and (" act:" .. act) or "")
end

-- Every string anywhere in v (keys and values, nested), for "the key appears nowhere" checks.
local function strings(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      strings(k, out, seen)
      strings(x, out, seen)
    end
  end
  return out
end

describe("no duplicates, on the C transports", function()
  local srv, client, n = nil, nil, 0
  local function mk(prefix)
    n = n + 1
    return prefix .. n
  end

  setup(function()
    srv = mis.start()
  end)
  teardown(function()
    if client then client:close() end
    srv.stop()
  end)
  before_each(function()
    if client then client:close() end
    client = assert(core.new{ api_key = H.KEY, base_url = srv.url, timeout = 5 })
  end)

  -- One unsafe create on a connection that was kept alive by a first call.
  local function on_kept_alive(act, path)
    local warm = mk("warm")
    assert(client:perform("POST", P, body(warm), nil, false))
    local m = mk(act)
    local v, err = client:perform("POST", path or P, body(m, act), nil, false)
    return m, v, err
  end

  for _, act in ipairs({ "close", "reset" }) do
    it("a kept-alive connection that the server " .. act .. "s after reading the request: one receipt, "
      .. "an ambiguous error, not retried", function()
      local m, v, err = on_kept_alive(act)
      assert.is_nil(v)
      assert.are.equal(1, srv.count(m))
      assert.are.equal("network", err.kind)
      assert.is_true(err.request_sent)
      assert.is_nil(retry.delay(err, 1, { max_retries = 2, retry_unsafe = false, max_retry_wait = 60 }, os.time()))
    end)
  end

  it("the same for a reply", function()
    local m, v, err = on_kept_alive("close", "/v2/conversations/abc/reply")
    assert.is_nil(v)
    assert.are.equal(1, srv.count(m))
    assert.is_true(err.request_sent)
  end)

  it("a server that restarts right after reading: one receipt, request_sent = true, not retried", function()
    finally(function() mis.sleep(0.5) end) -- the listener is back for the next test
    local m, v, err = on_kept_alive("restart")
    assert.is_nil(v)
    assert.are.equal(1, srv.count(m))
    assert.is_true(err.request_sent)
    assert.is_false(retry.retryable(err, false, false))
  end)

  it("a safe GET whose server restarts: libcurl's reconnect is refused, and that counts as sent", function()
    finally(function() mis.sleep(0.5) end)
    assert(client:perform("POST", P, body(mk("warm")), nil, false))
    local m = mk("get")
    local v, err = client:perform("GET", "/v2/conversations/x?q=mk:" .. m .. "+act:restart", nil, nil, true)
    assert.is_nil(v)
    assert.are.equal(1, srv.count(m))
    assert.is_true(err.request_sent)
  end)

  it("a safe request may use libcurl's reconnect: the GET succeeds on a fresh connection", function()
    assert(client:perform("POST", P, body(mk("warm")), nil, false))
    local m = mk("get")
    local v = client:perform("GET", "/v2/conversations/x?q=mk:" .. m .. "+act:close", nil, nil, true)
    assert.are.equal(m, v.id)
    assert.are.equal(2, srv.count(m))
  end)

  it("an idle connection the server closed is replaced silently, for a safe and an unsafe call", function()
    assert(client:perform("POST", P, body(mk("idle"), "idleclose"), nil, false))
    mis.sleep(0.5)
    local m = mk("create")
    local v, res = client:perform("POST", P, body(m), nil, false)
    assert.are.equal(201, res.status)
    assert.are.equal(m, v.id)
    assert.are.equal(1, srv.count(m))
    assert(client:perform("POST", P, body(mk("idle"), "idleclose"), nil, false))
    mis.sleep(0.5)
    m = mk("get")
    v, res = client:perform("GET", "/v2/conversations/x?q=mk:" .. m, nil, nil, true)
    assert.are.equal(200, res.status)
    assert.are.equal(m, v.id)
    assert.are.equal(1, srv.count(m))
  end)

  it("a 201 whose body is cut: err.status = 201, and retry_unsafe does not send it again", function()
    local m = mk("cut")
    local v, err = client:perform("POST", P, body(m, "cut201"), nil, false)
    assert.is_nil(v)
    assert.are.equal(201, err.status)
    assert.is_true(err.request_sent)
    assert.is_nil(retry.delay(err, 1, { max_retries = 2, retry_unsafe = true, max_retry_wait = 60 }, os.time()))
    assert.are.equal(1, srv.count(m))
  end)

  it("request_sent is false when nothing was written: a refused connection", function()
    local c = assert(core.new{ api_key = H.KEY, base_url = "http://127.0.0.1:1", timeout = 5 })
    local v, err = c:perform("POST", P, body("never"), nil, false)
    c:close()
    assert.is_nil(v)
    assert.is_false(err.request_sent)
    assert.is_number(retry.delay(err, 1, { max_retries = 2, retry_unsafe = false, max_retry_wait = 60 }, os.time()))
  end)

  it("the key never comes back, even when the server echoes it in the body, message and headers", function()
    local v, err = client:perform("POST", P, body(mk("echo"), "echo"), nil, false)
    assert.is_nil(v)
    assert.are.equal(401, err.status)
    local all = strings(err)
    all[#all + 1] = tostring(err)
    local redacted = false
    for _, s in ipairs(all) do
      assert.is_nil(s:find(H.KEY, 1, true))
      redacted = redacted or s:find("sk_...REDACTED", 1, true) ~= nil
    end
    assert.is_true(redacted) -- the echo arrived, redacted
    assert.truthy(err.headers["x-echo"]:find("Bearer sk_...REDACTED", 1, true))
  end)

  it("the async engine redacts the key too; a GET closed on a new connection is an error, sent once", function()
    local engine = core.engine(client)
    local g = mk("g")
    srv.script(g, "close")
    engine:add("POST", P, body(mk("echo"), "echo"), nil, false)
    engine:add("GET", "/v2/conversations/" .. g, nil, nil, true)
    local results, got = {}, 0
    while got < 2 do
      engine:run(100)
      for _, r in ipairs(engine:done()) do results[r.id], got = r, got + 1 end
    end
    engine:close()
    local echo, get = results[1], results[2]
    assert.are.equal(401, echo.err.status)
    for _, str in ipairs(strings(echo.err)) do assert.is_nil(str:find(H.KEY, 1, true)) end
    assert.truthy(echo.err.headers["x-echo"]:find("REDACTED", 1, true))
    -- libcurl reconnects on its own only after a reused connection died; this one was new
    assert.is_true(get.err.request_sent)
    assert.are.equal(1, srv.count(g))
  end)

  it("header bytes count as movement for stall_timeout", function()
    local c = assert(core.new{ api_key = H.KEY, base_url = srv.url, timeout = 10, stall_timeout = 1 })
    local m = mk("slow")
    local v, res = c:perform("POST", P, body(m, "slowhead"), nil, false) -- 3 s of headers, one per 0.3 s
    c:close()
    assert.are.equal(200, res.status)
    assert.are.equal(m, v.id)
  end)

  it("the async engine: 200 creates at concurrency 32 with dropped connections, no message twice", function()
    local engine = core.engine(client)
    local acts = { "ok", "ok", "ok", "ok", "close", "reset" }
    local rnd = 12345 -- a seeded generator of our own: the same mix on every Lua
    local function pick()
      rnd = (rnd * 1103515245 + 12345) % 2147483648
      return acts[rnd % #acts + 1]
    end
    local queued, inflight, finished, failed, dropped = 0, 0, 0, 0, 0
    local markers = {}
    while finished < 200 do
      while inflight < 32 and queued < 200 do
        queued = queued + 1
        local act = pick()
        if act ~= "ok" then dropped = dropped + 1 end
        markers[queued] = mk("e")
        engine:add("POST", P, body(markers[queued], act), nil, false)
        inflight = inflight + 1
      end
      engine:run(100)
      for _, r in ipairs(engine:done()) do
        inflight, finished = inflight - 1, finished + 1
        if r.err then
          failed = failed + 1
          assert.is_true(r.err.request_sent)
        end
      end
    end
    engine:close()
    assert.is_true(dropped > 40)
    for i = 1, 200 do assert.are.equal(1, srv.count(markers[i])) end
    assert.are.equal(dropped, failed) -- every dropped connection is an error, every other a success
  end)
end)

describe("TLS certificate failures", function()
  local dir, pid, port
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      .. "-subj /CN=localhost -keyout %s/k.pem -out %s/c.pem >/dev/null 2>&1"):format(dir, dir))
    -- a free port of its own: the five interpreters of `make test` run this file at the same time
    local socket = require("socket")
    port = require("featurebase.testing").free_port()
    os.execute(("openssl s_server -quiet -www -accept 127.0.0.1:%d -cert %s/c.pem -key %s/k.pem "
      .. "</dev/null >/dev/null 2>&1 & echo $! > %s/pid"):format(port, dir, dir, dir))
    local f = assert(io.open(dir .. "/pid"))
    pid = f:read("*n")
    f:close()
    for _ = 1, 100 do -- listening?
      local c = socket.tcp()
      c:settimeout(0.2)
      local ok = c:connect("127.0.0.1", port)
      c:close()
      if ok then break end
      mis.sleep(0.05)
    end
  end)
  teardown(function()
    os.execute("kill " .. pid .. " 2>/dev/null; rm -rf " .. dir)
  end)

  it("are marked err.certificate and never retried", function()
    local c = assert(core.new{ api_key = H.KEY, base_url = "https://localhost:" .. port, timeout = 5 })
    local v, err = c:perform("GET", "/v2/conversations", nil, nil, true)
    c:close()
    assert.is_nil(v)
    assert.is_true(err.certificate)
    assert.is_false(err.request_sent)
    assert.is_false(retry.retryable(err, true, true))
  end)
end)

-- The public client: the same scenarios through the request pipeline (retry policy, attempts).
describe("no duplicates, through the client", function()
  local featurebase = require("featurebase")
  local srv, client, n = nil, nil, 0
  local function mk(prefix)
    n = n + 1
    return prefix .. n
  end
  local function create(m, act, opts)
    return client:create_conversation({ from = { type = "contact", id = H.CONTACT },
      bodyMarkdown = "mk:" .. m .. (act and (" act:" .. act) or "") }, opts)
  end

  setup(function()
    srv = mis.start()
  end)
  teardown(function()
    if client then client:close() end
    srv.stop()
  end)
  before_each(function()
    if client then client:close() end
    client = assert(featurebase.new{ api_key = H.KEY, base_url = srv.url, timeout = 5 })
  end)

  for _, act in ipairs({ "close", "reset", "restart" }) do
    it("a create on a kept-alive connection, server " .. act .. ": one receipt, err.attempts = 1, ambiguous",
      function()
      finally(function() if act == "restart" then mis.sleep(0.5) end end)
      assert(create(mk("warm")))
      local m = mk(act)
      local v, err = create(m, act)
      assert.is_nil(v)
      assert.are.equal(1, srv.count(m))
      assert.are.equal("network", err.kind)
      assert.is_true(err.request_sent)
      assert.are.equal(1, err.attempts)
    end)
  end

  it("a reply on a kept-alive connection the server closes after reading: one receipt", function()
    assert(create(mk("warm")))
    local m = mk("reply")
    local params = H.contact_reply()
    params.bodyMarkdown = "mk:" .. m .. " act:close"
    local v, err = client:reply("abc", params)
    assert.is_nil(v)
    assert.are.equal(1, srv.count(m))
    assert.is_true(err.request_sent)
    assert.are.equal(1, err.attempts)
  end)

  it("retry_unsafe: a 201 whose body was cut is not sent again", function()
    local m = mk("cut")
    local v, err = create(m, "cut201,cut201,cut201", { retry_unsafe = true })
    assert.is_nil(v)
    assert.are.equal(201, err.status)
    assert.are.equal(1, err.attempts)
    assert.are.equal(1, srv.count(m))
  end)

  it("retry_unsafe still retries a dropped connection without a status line", function()
    local m = mk("unsafe")
    local v, err, res = create(m, "close", { retry_unsafe = true })
    assert.is_nil(err)
    assert.are.equal(m, v.id)
    assert.are.equal(2, res.attempts)
    assert.are.equal(2, srv.count(m))
  end)

  it("an idle-closed connection is replaced silently: a create and a get succeed with attempts = 1", function()
    assert(create(mk("idle"), "idleclose"))
    mis.sleep(0.5)
    local m = mk("c")
    local v, err, res = create(m)
    assert.is_nil(err)
    assert.are.equal(m, v.id)
    assert.are.equal(1, res.attempts)
    assert.are.equal(1, srv.count(m))
    assert(create(mk("idle"), "idleclose"))
    mis.sleep(0.5)
    local g = mk("g")
    v, err, res = client:get_conversation(g)
    assert.is_nil(err)
    assert.are.equal(g, v.id)
    assert.are.equal(1, res.attempts)
    assert.are.equal(1, srv.count(g))
  end)

  it("a safe request is retried on a 503, after its Retry-After", function()
    local g = mk("g")
    srv.script(g, "s503r1")
    local t0 = os.time()
    local v, err, res = client:get_conversation(g)
    assert.is_nil(err)
    assert.are.equal(g, v.id)
    assert.are.equal(2, res.attempts)
    assert.is_true(os.time() - t0 >= 1)
    local m = mk("c")
    v, err = create(m, "s503r1")
    assert.is_nil(v)
    assert.are.equal(503, err.status)
    assert.are.equal(1, err.attempts) -- not safe, no retry_unsafe: not retried
  end)

  it("the key never comes back, even when the server echoes it", function()
    local v, err = create(mk("echo"), "echo")
    assert.is_nil(v)
    assert.are.equal(401, err.status)
    for _, s in ipairs(strings(err)) do assert.is_nil(s:find(H.KEY, 1, true)) end
    assert.is_nil(tostring(err):find(H.KEY, 1, true))
  end)
end)

-- featurebase.nvim in a real headless Neovim (its async calls run on the engine, on Neovim's loop).
describe("no duplicates, in Neovim", function()
  local srv
  setup(function()
    os.execute("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null")
    srv = mis.start()
  end)
  teardown(function() srv.stop() end)

  it("a create on a kept-alive connection that the server reads and then closes: one receipt", function()
    local root = io.popen("pwd"):read("*l")
    local out = os.tmpname()
    os.execute(("env LUA_PATH=%q LUA_CPATH=%q FB_KEY=%q FB_URL=%q FB_WARM=nw1 FB_MK=nv1 timeout 60 nvim --headless "
      .. "-u NONE -i NONE -n -c %q >%s 2>&1"):format(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;",
      root .. "/build/luajit/?.so;;", H.KEY, srv.url, "luafile " .. root .. "/spec/nvim/no_duplicates.lua", out))
    local f = assert(io.open(out))
    local text = f:read("*a")
    f:close()
    os.remove(out)
    local r = {}
    for k, v in ("\n" .. text):gmatch("\n([%w_]+)=([^\n]*)") do r[k] = v end
    assert.is_nil(r.error, text)
    assert.are.equal("nw1", r.warm_id, text)
    assert.are.equal("nil", r.value, text)
    assert.are.equal("network", r.kind, text)
    assert.are.equal("true", r.request_sent, text)
    assert.are.equal("1", r.attempts, text)
    assert.are.equal(1, srv.count("nv1"))
  end)
end)

-- featurebase.openresty inside a real nginx (one worker, so its connection pool is shared by calls).
describe("no duplicates, in OpenResty", function()
  local cjson = require("cjson")
  local socket = require("socket")
  local testing = require("featurebase.testing")
  local srv, app, n = nil, nil, 0
  local function mk(prefix)
    n = n + 1
    return prefix .. n
  end

  local APP = [[
    location = /call { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      ngx.req.read_body()
      local q = cjson.decode(ngx.req.get_body_data())
      local client = assert(fb.new(q.options))
      local v, err, res
      if q.op == "create" then v, err, res = client:create_conversation(q.params, q.call)
      else v, err, res = client:get_conversation(q.id, q.call) end
      local all = {}
      if err then
        all[#all + 1] = tostring(err)
        for k, x in pairs(err) do all[#all + 1] = tostring(k) .. "=" .. tostring(x) end
        for k, x in pairs(err.headers or {}) do all[#all + 1] = k .. "=" .. x end
      end
      ngx.print(cjson.encode({ value = v or false, res = res and { attempts = res.attempts } or false,
        err = err and { kind = err.kind, status = err.status, request_sent = err.request_sent,
          attempts = err.attempts, limit = err.limit } or false, strings = all }))
    } }
  ]]

  local function call(q)
    q.options = { api_key = H.KEY, base_url = srv.url, timeout = 5, stall_timeout = q.stall_timeout }
    local c = socket.tcp()
    c:settimeout(20)
    assert(c:connect("127.0.0.1", app.port))
    local b = cjson.encode(q)
    assert(c:send("POST /call HTTP/1.0\r\nHost: x\r\nContent-Length: " .. #b .. "\r\n\r\n" .. b))
    local resp = c:receive("*a")
    c:close()
    assert.are.equal("200", resp:match("^HTTP/%d%.%d (%d+)"), resp)
    return cjson.decode(resp:match("\r\n\r\n(.*)$"))
  end
  local function create(m, act, opts)
    return call({ op = "create", call = opts, params = { from = { type = "contact", id = H.CONTACT },
      bodyMarkdown = "mk:" .. m .. (act and (" act:" .. act) or "") } })
  end

  setup(function()
    local root = io.popen("pwd"):read("*l")
    os.execute("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null")
    srv = mis.start()
    app = testing.start({ api_key = H.KEY, workers = 1, cpath = root .. "/build/luajit/?.so", server = APP })
  end)
  teardown(function()
    if app then app:stop() end
    srv.stop()
  end)

  for _, act in ipairs({ "close", "reset" }) do
    it("a create on a pooled connection, server " .. act .. "s after reading: one receipt, ambiguous", function()
      assert.is_table(create(mk("warm")).value)
      local m = mk(act)
      local out = create(m, act)
      assert.is_false(out.value)
      assert.are.equal(1, srv.count(m))
      assert.is_true(out.err.request_sent)
      assert.are.equal(1, out.err.attempts)
    end)
  end

  it("stall_timeout: a body that stops moving is a timeout before the deadline; slow headers are movement",
    function()
      local g, slow = mk("stall"), mk("slowhead")
      srv.script(g, "stall")
      srv.script(slow, "slowhead")
      local t0 = socket.gettime()
      local out = call({ op = "get", id = g, stall_timeout = 0.5, call = { max_retries = 0 } })
      local dt = socket.gettime() - t0
      assert.are.same({ "timeout", "stall_timeout", 200 }, { out.err.kind, out.err.limit, out.err.status })
      assert.is_true(dt >= 0.45 and dt < 3, tostring(dt)) -- not the 5 s timeout, nor the server's 10 s
      assert.truthy(table.concat(out.strings, "\n"):find("no byte moved for 500 ms (stall_timeout)", 1, true))
      -- 3 s of headers, one line every 0.3 s, with a 1 s stall watch: an answer
      assert.is_table(call({ op = "get", id = slow, stall_timeout = 1, call = { max_retries = 0 } }).value)
    end)

  it("a get on a pooled connection that yields nothing is run again on a fresh one", function()
    assert.is_table(create(mk("warm")).value)
    local g = mk("g")
    srv.script(g, "close")
    local out = call({ op = "get", id = g })
    assert.are.equal(g, out.value.id)
    assert.are.equal(2, srv.count(g))
  end)

  it("an idle-closed pooled connection is replaced silently, for a create and a get", function()
    assert.is_table(create(mk("idle"), "idleclose").value)
    mis.sleep(0.5)
    local m = mk("c")
    local out = create(m)
    assert.are.equal(m, out.value.id)
    assert.are.equal(1, out.res.attempts)
    assert.are.equal(1, srv.count(m))
    assert.is_table(create(mk("idle"), "idleclose").value)
    mis.sleep(0.5)
    local g = mk("g")
    out = call({ op = "get", id = g })
    assert.are.equal(g, out.value.id)
    assert.are.equal(1, out.res.attempts)
    assert.are.equal(1, srv.count(g))
  end)

  it("retry_unsafe: a 201 whose body was cut is not sent again", function()
    local m = mk("cut")
    local out = create(m, "cut201,cut201", { retry_unsafe = true })
    assert.are.equal(201, out.err.status)
    assert.are.equal(1, out.err.attempts)
    assert.are.equal(1, srv.count(m))
  end)

  it("the key never comes back, even when the server echoes it", function()
    local out = create(mk("echo"), "echo")
    assert.are.equal(401, out.err.status)
    assert.is_true(#out.strings > 3)
    for _, s in ipairs(out.strings) do assert.is_nil(s:find(H.KEY, 1, true)) end
  end)
end)
