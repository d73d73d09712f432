-- Hostile servers and the limits that contain them: every misbehaviour of the fake server gets the
-- exact err.kind, the number of attempts the server saw, and a client that still works afterwards.
local featurebase = require("featurebase")
local core = require("featurebase.core")
local socket = require("socket")
local H = require("spec.helpers")

local MiB = 1024 * 1024

describe("hostile server", function()
  local srv

  setup(function() srv = H.server() end)
  teardown(function() if srv then srv:stop() end end)
  before_each(function() srv:reset() end)

  -- Runs one create against `modes` (one X-Fb-Test value per attempt, queued with srv:script),
  -- checks the outcome, then that the same client works for the next call. Returns err and the
  -- requests the server saw for the fault.
  local function fault(modes, opts, want)
    local client = H.client(srv, opts)
    srv:script(modes)
    local started = core.now()
    local conv, err, res = client:create_conversation(H.contact_create(), want.call)
    local elapsed = core.now() - started
    local seen = srv:requests()
    if want.ok then
      assert.is_nil(err, tostring(err))
      assert.are.equal("conversation", conv.object)
      assert.are.equal(want.attempts, res.attempts)
    else
      assert.is_nil(conv)
      assert.are.equal(want.kind, err.kind, tostring(err))
      assert.are.equal(want.attempts, err.attempts)
      if want.status then assert.are.equal(want.status, err.status) end
      assert.are.equal(want.limit, err.limit)
    end
    assert.are.equal(want.attempts, #seen)
    if want.max_seconds then assert.is_true(elapsed < want.max_seconds, ("took %.2f s"):format(elapsed)) end
    -- still usable: the queue is emptied and a plain call succeeds on the same client
    srv:reset()
    local again, aerr = client:create_conversation(H.contact_create())
    assert.truthy(again, tostring(aerr))
    assert.are.equal(1, #srv:requests())
    client:close()
    return err, seen
  end

  -- Three copies: enough for the first attempt and both default retries.
  local function x3(mode) return { mode, mode, mode } end

  it("delay: a slow answer inside the timeout succeeds", function()
    fault({ "delay=200" }, nil, { ok = true, attempts = 1 })
  end)

  it("hang: ends in a timeout after `timeout`, not retried (the request was sent)", function()
    local err = fault(x3("hang"), { timeout = 0.5 }, { kind = "timeout", attempts = 1, max_seconds = 5 })
    assert.is_true(err.request_sent)
  end)

  it("hang: the per-call timeout overrides the client's", function()
    fault(x3("hang"), nil, { kind = "timeout", attempts = 1, max_seconds = 5, call = { timeout = 0.3 } })
  end)

  it("hang: the deadline bounds every attempt and wait together", function()
    fault(x3("hang"), { retry_unsafe = true }, { kind = "timeout", attempts = 1, max_seconds = 5,
      call = { deadline = 0.5 } })
  end)

  it("hang: a long deadline does not stretch the client's timeout", function()
    fault(x3("hang"), { timeout = 0.3 }, { kind = "timeout", attempts = 1, max_seconds = 3, call = { deadline = 60 } })
  end)

  it("hang: stall_timeout aborts a transfer where no byte moves", function()
    local err = fault(x3("hang"), { stall_timeout = 1 }, { kind = "timeout", attempts = 1,
      limit = "stall_timeout", max_seconds = 8 })
    assert.truthy(err.message:find("stall_timeout", 1, true))
  end)

  it("close before answering: a network error, not retried by default", function()
    local err = fault(x3("close"), nil, { kind = "network", attempts = 1 })
    assert.is_true(err.request_sent)
  end)

  it("close before answering: retried when the caller accepts the risk", function()
    fault({ "close", "close" }, { retry_unsafe = true }, { ok = true, attempts = 3 })
  end)

  it("close in the middle of the body: a network error, not a truncated success", function()
    fault(x3("close-mid"), nil, { kind = "network", attempts = 1 })
  end)

  it("close in the middle of an error body: a network error too", function()
    fault(x3("status=503,close-mid"), nil, { kind = "network", attempts = 1 })
  end)

  for _, status in ipairs({ 500, 502, 503, 504 }) do
    it(status .. ": an http error, not retried by default", function()
      fault(x3("status=" .. status), nil, { kind = "http", status = status, attempts = 1 })
    end)
  end

  it("503 with retry_unsafe: retried until max_retries, then the 503", function()
    fault(x3("status=503"), { retry_unsafe = true }, { kind = "http", status = 503, attempts = 3 })
  end)

  it("429 with Retry-After in seconds: retried, then succeeds", function()
    fault({ "429,retry-after=0" }, nil, { ok = true, attempts = 2 })
  end)

  it("429 with Retry-After as an HTTP date: retried, then succeeds", function()
    fault({ "429,retry-after=date+1" }, nil, { ok = true, attempts = 2, max_seconds = 5 })
  end)

  it("429 with only X-RateLimit-Reset: retried, then succeeds", function()
    fault({ "429,reset=1" }, nil, { ok = true, attempts = 2, max_seconds = 5 })
  end)

  it("429 asking for longer than max_retry_wait: the 429 comes back at once", function()
    fault(x3("429,retry-after=120"), nil, { kind = "http", status = 429, attempts = 1, max_seconds = 2 })
  end)

  it("429 every time: max_retries + 1 attempts, then the 429", function()
    fault({ "429,retry-after=0", "429,retry-after=0", "429,retry-after=0", "429,retry-after=0" }, nil,
      { kind = "http", status = 429, attempts = 3 })
  end)

  it("malformed JSON in a 201: a decode error, not retried (the message exists)", function()
    local err = fault(x3("malformed"), nil, { kind = "decode", status = 201, attempts = 1 })
    assert.is_string(err.body)
  end)

  it("an HTML error page: an http error with the raw page as body", function()
    local err = fault(x3("html"), nil, { kind = "http", status = 502, attempts = 1 })
    assert.truthy(err.body:find("<html>", 1, true))
    assert.truthy(err.message:find("502", 1, true))
  end)

  it("an empty 201: a decode error", function()
    fault(x3("empty"), nil, { kind = "decode", status = 201, attempts = 1 })
  end)

  -- The body decides, not the label: proxies and frameworks mislabel JSON, and a non-JSON body is a
  -- decode error whatever it says it is.
  it("a JSON 201 labelled text/plain: accepted, the body decides", function()
    fault({ "ctype=text/plain" }, nil, { ok = true, attempts = 1 })
  end)

  it("a non-JSON 201 labelled text/html: a decode error", function()
    fault(x3("malformed,ctype=text/html"), nil, { kind = "decode", attempts = 1 })
  end)

  it("a 50 MiB body with Content-Length: refused before reading it, the connection dropped", function()
    local err, seen = fault(x3("big=" .. 50 * MiB), nil, { kind = "network", attempts = 1,
      limit = "max_response_size", max_seconds = 10 })
    assert.truthy(err.message:find("max_response_size", 1, true))
    assert.is_true(err.request_sent)
    assert.are.equal(201, err.status) -- the server acted: the status says so
    assert.is_number(seen[1].connection)
  end)

  it("a 50 MiB chunked body: cut off at max_response_size, not retried even when unsafe is allowed", function()
    fault(x3("big=" .. 50 * MiB .. ",chunked"), { retry_unsafe = true }, { kind = "network", attempts = 1,
      limit = "max_response_size", max_seconds = 10 })
  end)

  it("a body just under max_response_size is read whole", function()
    local client = H.client(srv, { max_response_size = 100000 })
    srv:script({ "big=100000,chunked" })
    local conv, err = client:create_conversation(H.contact_create())
    assert.truthy(conv, tostring(err))
    assert.are.equal(100000 - 58, #conv.pad)
    srv:script({ "big=100001,chunked" })
    conv, err = client:create_conversation(H.contact_create())
    assert.is_nil(conv)
    assert.are.equal("max_response_size", err.limit)
    client:close()
  end)

  it("the connection is dropped after an oversized body, then a new one is used", function()
    local client = H.client(srv)
    assert(client:create_conversation(H.contact_create()))
    srv:script({ "big=" .. 20 * MiB .. ",chunked" })
    assert.is_nil((client:create_conversation(H.contact_create())))
    assert(client:create_conversation(H.contact_create()))
    local seen = srv:requests()
    assert.are.equal(3, #seen)
    assert.are.equal(seen[1].connection, seen[2].connection) -- kept alive before
    assert.are_not.equal(seen[2].connection, seen[3].connection) -- dropped after
    client:close()
  end)

  it("trickle: a body arriving in slow pieces within the timeout succeeds", function()
    fault({ "trickle=50" }, nil, { ok = true, attempts = 1 })
  end)

  it("trickle: slower than the whole-request timeout ends in a timeout", function()
    fault(x3("trickle=400"), { timeout = 1 }, { kind = "timeout", attempts = 1, max_seconds = 5 })
  end)

  it("trickle: a gap longer than stall_timeout aborts", function()
    fault(x3("trickle=2500"), { stall_timeout = 1 }, { kind = "timeout", attempts = 1, limit = "stall_timeout",
      max_seconds = 8 })
  end)

  it("an unknown test mode is a 400, so typos in specs do not pass silently", function()
    fault({ "no-such-mode" }, nil, { kind = "http", status = 400, attempts = 1 })
  end)
end)

describe("limits", function()
  local srv

  setup(function() srv = H.server() end)
  teardown(function() if srv then srv:stop() end end)
  before_each(function() srv:reset() end)

  it("documents its defaults in core.limits", function()
    assert.are.same({ timeout = 30, connect_timeout = 10, stall_timeout = 15, max_response_size = 16 * MiB,
      max_request_size = MiB }, core.limits)
  end)

  it("connect_timeout: a server that never accepts is a timeout that never reached it, so it is retried",
    function()
      -- A listener with a full accept queue: the kernel drops further SYNs, so connecting hangs.
      local l = assert(socket.tcp())
      assert(l:bind("127.0.0.1", 0))
      assert(l:listen(0))
      local _, port = l:getsockname()
      local fillers = {}
      for i = 1, 3 do
        fillers[i] = socket.tcp()
        fillers[i]:settimeout(0.2)
        fillers[i]:connect("127.0.0.1", port)
      end
      local client = assert(featurebase.new({ api_key = H.KEY, base_url = "http://127.0.0.1:" .. port,
        connect_timeout = 0.3, max_retries = 1 }))
      local started = core.now()
      local conv, err = client:create_conversation(H.contact_create())
      local elapsed = core.now() - started
      assert.is_nil(conv)
      assert.are.equal("timeout", err.kind)
      assert.is_false(err.request_sent)
      assert.are.equal(2, err.attempts)
      assert.is_true(elapsed >= 0.5 and elapsed < 5, ("took %.2f s"):format(elapsed))
      client:close()
      for _, f in ipairs(fillers) do f:close() end
      l:close()
    end)

  it("max_request_size: a body past it is refused by field, and nothing is sent", function()
    local client = H.client(srv, { max_request_size = 1000 })
    local p = H.contact_create()
    p.bodyMarkdown = string.rep("a", 1000)
    local conv, err, res = client:create_conversation(p)
    assert.is_nil(conv)
    assert.is_nil(res)
    assert.are.equal("invalid_request", err.kind)
    assert.are.equal("bodyMarkdown", err.field)
    assert.truthy(err.message:find("max_request_size (1000 bytes)", 1, true))
    -- escaping counts: 200 control characters are 1200 bytes of JSON
    p.bodyMarkdown = string.rep("\1", 200)
    conv, err = client:create_conversation(p)
    assert.is_nil(conv)
    assert.are.equal("bodyMarkdown", err.field)
    -- the whole body counts: many small recipients add up
    local emails, cc = {}, {}
    for i = 1, 50 do emails[i] = "someone" .. i .. "@example.com" end
    for i = 1, 50 do cc[i] = "another" .. i .. "@example.com" end
    local admin = H.admin_email()
    admin.recipients.to.emails = emails
    admin.recipients.cc.emails = cc
    conv, err = client:create_conversation(admin)
    assert.is_nil(conv)
    assert.truthy(err.field:find("^recipients%.[tc][oc]%.emails%[%d+%]$"), err.field)
    conv, err = client:reply("abc", { type = "admin", id = H.ADMIN, messageType = "note",
      bodyMarkdown = string.rep("b", 2000) })
    assert.is_nil(conv)
    assert.are.equal("bodyMarkdown", err.field)
    assert.are.equal(0, #srv:requests())
    -- and a body under it goes through
    p.bodyMarkdown = string.rep("a", 800)
    assert(client:create_conversation(p))
    client:close()
  end)

  it("max_request_size: the default lets 1 MiB of text through (echoed four times) and refuses more", function()
    local client = H.client(srv)
    local p = H.contact_create()
    p.bodyMarkdown = string.rep("a", MiB - 100)
    local conv, err = client:create_conversation(p)
    assert.truthy(conv, tostring(err))
    assert.are.equal(MiB - 100, #conv.source.bodyMarkdown)
    p.bodyMarkdown = string.rep("a", MiB)
    conv, err = client:create_conversation(p)
    assert.is_nil(conv)
    assert.are.equal("bodyMarkdown", err.field)
    assert.are.equal(1, #srv:requests())
    client:close()
  end)

  it("checks the limit options", function()
    local bad = {
      { stall_timeout = 0 }, { stall_timeout = -1 }, { stall_timeout = 0 / 0 }, { stall_timeout = math.huge },
      { stall_timeout = "5" }, { max_response_size = 0 }, { max_response_size = 1.5 },
      { max_response_size = 2 ^ 31 }, { max_response_size = "1" }, { max_request_size = 0 },
      { max_request_size = 0 / 0 }, { max_request_size = true }, { connect_timeout = 0 }, { timeout = -1 },
    }
    for _, o in ipairs(bad) do
      local name = next(o)
      o.api_key = H.KEY
      local c, err = featurebase.new(o)
      assert.is_nil(c, name)
      assert.are.equal("invalid_request", err.kind)
      assert.are.equal(name, err.field)
    end
    local c = assert(featurebase.new({ api_key = H.KEY, stall_timeout = 0.5, max_response_size = 1,
      max_request_size = 2 ^ 30 }))
    c:close()
  end)
end)
