-- Retries: only what cannot post a message twice, unless the caller opts in.
local H = require("spec.helpers")
local retry = require("featurebase.retry")

describe("retry policy", function()
  local o = { max_retries = 2, retry_unsafe = false, max_retry_wait = 60 }
  local unsafe = { max_retries = 2, retry_unsafe = true, max_retry_wait = 60 }
  local function half() return 0.5 end

  it("retries 429 and never-sent network failures by default", function()
    assert.is_number(retry.delay({ kind = "http", status = 429, headers = {} }, 1, o, 0, half))
    assert.is_number(retry.delay({ kind = "network", request_sent = false }, 1, o, 0, half))
    assert.is_number(retry.delay({ kind = "timeout", request_sent = false }, 1, o, 0, half))
  end)

  it("does not retry what the server may have acted on, unless retry_unsafe", function()
    for _, e in ipairs({ { kind = "http", status = 500 }, { kind = "http", status = 502 },
      { kind = "http", status = 503 }, { kind = "http", status = 504 }, { kind = "http", status = 408 },
      { kind = "timeout", request_sent = true }, { kind = "network", request_sent = true } }) do
      assert.is_nil(retry.delay(e, 1, o, 0, half))
      assert.is_number(retry.delay(e, 1, unsafe, 0, half))
    end
  end)

  it("never retries invalid_request, decode, 4xx", function()
    for _, e in ipairs({ { kind = "invalid_request" }, { kind = "decode", status = 201 },
      { kind = "http", status = 400 }, { kind = "http", status = 401 }, { kind = "http", status = 404 },
      { kind = "http", status = 422 } }) do
      assert.is_nil(retry.delay(e, 1, unsafe, 0, half))
    end
  end)

  it("stops after max_retries", function()
    local e = { kind = "http", status = 429, headers = {} }
    assert.is_number(retry.delay(e, 2, o, 0, half))
    assert.is_nil(retry.delay(e, 3, o, 0, half))
  end)

  it("backs off exponentially with jitter, 0.5 s doubling to 8 s", function()
    local e = { kind = "network", request_sent = false }
    local big = { max_retries = 10, retry_unsafe = false, max_retry_wait = 60 }
    local function top() return 1 end
    local function bottom() return 0 end
    assert.are.equal(0.5, retry.delay(e, 1, big, 0, top))
    assert.are.equal(0.25, retry.delay(e, 1, big, 0, bottom))
    assert.are.equal(1, retry.delay(e, 2, big, 0, top))
    assert.are.equal(2, retry.delay(e, 3, big, 0, top))
    assert.are.equal(8, retry.delay(e, 5, big, 0, top))
    assert.are.equal(8, retry.delay(e, 9, big, 0, top))
  end)

  it("honours Retry-After in seconds and as an HTTP date, then X-RateLimit-Reset", function()
    local now = 784111777 -- Sun, 06 Nov 1994 08:49:37 GMT
    local function e(h) return { kind = "http", status = 429, headers = h } end
    assert.are.equal(3, retry.delay(e({ ["retry-after"] = "3" }), 1, o, now, half))
    assert.are.equal(10, retry.delay(e({ ["retry-after"] = "Sun, 06 Nov 1994 08:49:47 GMT" }), 1, o, now, half))
    assert.are.equal(0, retry.delay(e({ ["retry-after"] = "Sun, 06 Nov 1994 08:49:00 GMT" }), 1, o, now, half))
  end)

  it("reads X-RateLimit-Reset as a Unix time (above 10^9) or as seconds", function()
    local now = 1767225600 -- 2026-01-01
    local function e(h) return { kind = "http", status = 429, headers = h } end
    assert.are.equal(7, retry.delay(e({ ["x-ratelimit-reset"] = tostring(now + 7) }), 1, o, now, half))
    assert.are.equal(12, retry.delay(e({ ["x-ratelimit-reset"] = "12" }), 1, o, now, half))
    assert.are.equal(0, retry.delay(e({ ["x-ratelimit-reset"] = tostring(now - 5) }), 1, o, now, half))
    assert.is_nil(retry.delay(e({ ["x-ratelimit-reset"] = "3600" }), 1, o, now, half)) -- > max_retry_wait
    assert.are.equal(4, retry.delay(e({ ["retry-after"] = "4", ["x-ratelimit-reset"] = "30" }), 1, o, now, half))
  end)

  it("honours Retry-After on a 503 when it is retried, and ignores it when it is not", function()
    local e = { kind = "http", status = 503, headers = { ["retry-after"] = "3" } }
    assert.are.equal(3, retry.delay(e, 1, unsafe, 0, half))
    assert.are.equal(3, retry.delay(e, 1, { max_retries = 2, max_retry_wait = 60, safe = true }, 0, half))
    assert.is_nil(retry.delay(e, 1, o, 0, half))
    e.headers["retry-after"] = "120"
    assert.is_nil(retry.delay(e, 1, unsafe, 0, half))
  end)

  it("retries a safe request on 408, 5xx and every network failure, without retry_unsafe", function()
    local safe = { max_retries = 2, retry_unsafe = false, max_retry_wait = 60, safe = true }
    for _, e in ipairs({ { kind = "http", status = 500 }, { kind = "http", status = 502 },
      { kind = "http", status = 503 }, { kind = "http", status = 504 }, { kind = "http", status = 408 },
      { kind = "http", status = 429 }, { kind = "timeout", request_sent = true },
      { kind = "network", request_sent = true }, { kind = "network", request_sent = true, status = 200 } }) do
      assert.is_number(retry.delay(e, 1, safe, 0, half))
    end
    for _, e in ipairs({ { kind = "http", status = 400 }, { kind = "http", status = 404 },
      { kind = "http", status = 501 }, { kind = "decode", status = 200 } }) do
      assert.is_nil(retry.delay(e, 1, safe, 0, half))
    end
  end)

  it("never retries an unsafe request whose answer began with a 2xx status line, even with retry_unsafe", function()
    for _, status in ipairs({ 200, 201, 204 }) do
      assert.is_nil(retry.delay({ kind = "network", request_sent = true, status = status }, 1, unsafe, 0, half))
      assert.is_nil(retry.delay({ kind = "timeout", request_sent = true, status = status }, 1, unsafe, 0, half))
    end
    assert.is_number(retry.delay({ kind = "network", request_sent = true, status = 502 }, 1, unsafe, 0, half))
  end)

  it("never retries a TLS certificate failure", function()
    local e = { kind = "network", request_sent = false, certificate = true }
    assert.is_nil(retry.delay(e, 1, o, 0, half))
    assert.is_nil(retry.delay(e, 1, unsafe, 0, half))
    assert.is_nil(retry.delay(e, 1, { max_retries = 2, max_retry_wait = 60, safe = true }, 0, half))
    assert.is_number(retry.delay({ kind = "network", request_sent = false }, 1, o, 0, half))
  end)

  it("returns the 429 instead of waiting longer than max_retry_wait", function()
    local e = { kind = "http", status = 429, headers = { ["retry-after"] = "61" } }
    assert.is_nil(retry.delay(e, 1, o, 0, half))
    assert.are.equal(61, retry.delay(e, 1, { max_retries = 2, max_retry_wait = 61 }, 0, half))
  end)
end)

describe("retries over HTTP", function()
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

  it("retries a 429 after Retry-After and succeeds", function()
    srv:script({ "429,retry-after=0" })
    local conv, err, res = client:create_conversation(H.contact_create())
    assert.truthy(conv, tostring(err))
    assert.are.equal(2, res.attempts)
    assert.are.equal(2, #srv:requests())
  end)

  it("gives up after max_retries with err.attempts", function()
    srv:script({ "429,retry-after=0", "429,retry-after=0", "429,retry-after=0", "429,retry-after=0" })
    local conv, err = client:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal(429, err.status)
    assert.are.equal(3, err.attempts)
    assert.are.equal(3, #srv:requests())
  end)

  it("takes max_retries per call", function()
    srv:script({ "429,retry-after=0", "429,retry-after=0" })
    local conv, err = client:create_conversation(H.contact_create(), { max_retries = 0 })
    assert.is_nil(conv)
    assert.are.equal(1, err.attempts)
    assert.are.equal(1, #srv:requests())
  end)

  it("does not retry a 503 by default: the message may already be posted", function()
    srv:script({ "status=503" })
    local conv, err = client:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal(503, err.status)
    assert.are.equal(1, err.attempts)
    assert.are.equal(1, #srv:requests())
  end)

  it("retries a 503 when the caller opts in", function()
    srv:script({ "status=503" })
    local c = H.client(srv, { retry_unsafe = true })
    local conv, err, res = c:create_conversation(H.contact_create())
    assert.truthy(conv, tostring(err))
    assert.are.equal(2, res.attempts)
    c:close()
  end)

  it("retries a refused connection, which never reached any server", function()
    local c = H.client(srv, { base_url = "http://127.0.0.1:1", max_retries = 1 })
    local conv, err = c:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal("network", err.kind)
    assert.is_false(err.request_sent)
    assert.are.equal(2, err.attempts)
    c:close()
  end)

  it("checks per-call options", function()
    local conv, err = client:create_conversation(H.contact_create(), { max_retry = 1 })
    assert.is_nil(conv)
    assert.are.equal("max_retry", err.field)
    conv, err = client:reply("1", H.admin_reply(), { timeout = -1 })
    assert.is_nil(conv)
    assert.are.equal("timeout", err.field)
    assert.are.equal(0, #srv:requests())
  end)
end)

describe("debug log", function()
  local srv

  setup(function() srv = H.server() end)
  teardown(function() if srv then srv:stop() end end)
  before_each(function() srv:reset() end)

  it("calls `log` once per attempt with a line and the event's fields", function()
    local lines, events = {}, {}
    local c = H.client(srv, { log = function(line, e)
      lines[#lines + 1] = line
      events[#events + 1] = e
    end })
    srv:script({ "429,retry-after=0" })
    local conv = assert(c:create_conversation(H.contact_create()))
    assert.are.equal(2, #lines)
    assert.truthy(lines[1]:find("^featurebase: POST /v2/conversations %-> http 429 %(req_%d+%) in [%d.]+ ms, "
      .. "attempt 1; retrying in 0%.00 s$"), lines[1])
    assert.truthy(lines[2]:find("^featurebase: POST /v2/conversations %-> 201 %(req_%d+%) in [%d.]+ ms, attempt 2$"),
      lines[2])
    assert.are.equal("POST", events[1].method)
    assert.are.equal("/v2/conversations", events[1].path)
    assert.are.equal(429, events[1].status)
    assert.are.equal("http", events[1].kind)
    assert.are.equal(0, events[1].retry_in)
    assert.are.equal(1, events[1].attempt)
    assert.are.equal(2, events[2].attempt)
    assert.are.equal(201, events[2].status)
    assert.is_nil(events[2].kind)
    assert.is_true(events[2].ms >= 0 and events[2].ms < 5000)

    c:reply(conv.id .. "x", H.admin_reply())
    assert.truthy(lines[3]:find("/reply -> http 404", 1, true), lines[3])
    assert.truthy(lines[3]:find("not retried: not retryable", 1, true), lines[3])
    assert.are.equal("not retryable", events[3].gave_up)
    -- nothing sent, nothing logged
    c:reply("../x", H.admin_reply())
    assert.are.equal(3, #lines)
    c:close()
  end)

  it("logs network failures, with the reason a retry stopped", function()
    local lines = {}
    local c = H.client(srv, { base_url = "http://127.0.0.1:1", max_retries = 1,
      log = function(line) lines[#lines + 1] = line end })
    c:create_conversation(H.contact_create())
    assert.are.equal(2, #lines)
    assert.truthy(lines[1]:find("-> network in", 1, true), lines[1])
    assert.truthy(lines[2]:find("not retried: retries exhausted", 1, true), lines[2])
    c:close()
  end)

  it("writes to stderr with FEATUREBASE_LOG=debug, and log = false silences it", function()
    local function code(log)
      return [[
      local c = assert(require("featurebase").new{ api_key = "]] .. H.KEY .. [[", base_url = "]] .. srv.url .. [[",
        log = ]] .. log .. [[ })
      assert(c:create_conversation{ from = { type = "contact", id = "]] .. H.CONTACT .. [[" }, bodyMarkdown = "x" })
      io.stdout:write("done")]]
    end
    local out = H.run_lua("FEATUREBASE_LOG=debug", code("nil"))
    assert.truthy(out:find("^featurebase: POST /v2/conversations %-> 201 %(req_%d+%) in [%d.]+ ms, attempt 1\ndone$"),
      out)
    assert.are.equal("done", H.run_lua("FEATUREBASE_LOG=debug", code("false")))
    assert.are.equal("done", H.run_lua("FEATUREBASE_LOG=info", code("nil")))
    assert.are.equal("done", H.run_lua("", code("nil")))
  end)
end)
