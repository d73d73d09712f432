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
    port = 20000 + os.time() % 20000
    os.execute(("openssl s_server -quiet -www -accept 127.0.0.1:%d -cert %s/c.pem -key %s/k.pem "
      .. "</dev/null >/dev/null 2>&1 & echo $! > %s/pid"):format(port, dir, dir, dir))
    local f = assert(io.open(dir .. "/pid"))
    pid = f:read("*n")
    f:close()
    mis.sleep(0.5)
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
