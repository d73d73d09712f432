-- The API key never shows: not in tostring(client), not in any error the module produces, not in a
-- debug log line, not in what a crashing program prints. Every error of every scenario below is
-- collected and searched, with tostring and every string inside it, recursively.
local featurebase = require("featurebase")
local testing = require("featurebase.testing")
local H = require("spec.helpers")

local KEY = "sk_live_SECRET_7c1e5a9d3b2f4e6a"
local WRONG_KEY = "sk_live_SECRET_0000wrong0000"
-- what must never appear: both keys, and a middle part of each (a truncated copy is a leak too)
local NEEDLES = { KEY, WRONG_KEY, "SECRET_7c1e5a9d", "0000wrong0000" }

-- Every string reachable from v: itself, tostring of it, keys and values of tables, recursively.
local function strings(v, out, seen)
  out, seen = out or {}, seen or {}
  local t = type(v)
  if t == "string" then
    out[#out + 1] = v
  elseif t == "table" then
    if seen[v] then return out end
    seen[v] = true
    local mt = getmetatable(v)
    if mt and mt.__tostring then out[#out + 1] = tostring(v) end
    for k, x in next, v do
      strings(k, out, seen)
      strings(x, out, seen)
    end
  elseif t == "userdata" or t == "number" or t == "boolean" then
    out[#out + 1] = tostring(v)
  end
  return out
end

local function leaks(things)
  local found = {}
  for _, s in ipairs(strings(things)) do
    for _, needle in ipairs(NEEDLES) do
      if s:find(needle, 1, true) then
        found[#found + 1] = s
        break
      end
    end
  end
  return found
end

describe("secrets", function()
  local srv, client
  local errors, logs = {}, {}

  local function keep(...)
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if v ~= nil then errors[#errors + 1] = v end
    end
  end

  local function log(line, event)
    logs[#logs + 1] = line
    logs[#logs + 1] = event
  end

  setup(function()
    srv = testing.start({ api_key = KEY })
    client = assert(featurebase.new({ api_key = KEY, base_url = srv.url, log = log }))
  end)

  teardown(function()
    if client then client:close() end
    if srv then srv:stop() end
  end)

  it("is nowhere in tostring(client) or the client's fields", function()
    assert.are.same({}, leaks({ tostring(client), client, getmetatable(client) }))
    assert.are.same({}, leaks({ tostring(client._core) }))
  end)

  it("collects the errors of every scenario", function()
    local function params() return H.contact_create() end
    -- success, to have the response table too
    keep(client:create_conversation(params()))
    -- http 401: the wrong key was sent, and must not come back
    local wrong = assert(featurebase.new({ api_key = WRONG_KEY, base_url = srv.url, log = log }))
    keep(wrong:create_conversation(params()))
    assert.are.equal(401, errors[#errors].status)
    wrong:close()
    -- http 404, 400 and each simulated status, with and without retries
    keep(client:reply("nosuchid", H.admin_reply()))
    keep(client._core:perform("POST", "/v2/conversations", '{"from":{"type":"admin","id":"' .. H.ADMIN
      .. '"},"bodyMarkdown":"x"}'))
    for _, mode in ipairs({ "status=500", "status=502", "status=503", "status=504", "429,retry-after=0",
      "html", "malformed", "empty", "close", "close-mid", "big=20000000,chunked", "ctype=text/plain" }) do
      srv:script({ mode })
      keep(client:create_conversation(params(), { max_retries = 1, retry_unsafe = true }))
    end
    -- timeout and stall
    local slow = assert(featurebase.new({ api_key = KEY, base_url = srv.url, timeout = 0.3, stall_timeout = 0.2,
      log = log }))
    srv:script({ "hang" })
    keep(slow:create_conversation(params(), { max_retries = 0 }))
    slow:close()
    slow = assert(featurebase.new({ api_key = KEY, base_url = srv.url, stall_timeout = 1, log = log }))
    srv:script({ "trickle=2500" })
    keep(slow:create_conversation(params(), { max_retries = 0 }))
    slow:close()
    -- network: nothing listening
    local gone = assert(featurebase.new({ api_key = KEY, base_url = "http://127.0.0.1:1", max_retries = 1,
      log = log }))
    keep(gone:create_conversation(params()))
    gone:close()
    -- invalid requests and invalid options, including the key itself mangled
    local bad = params()
    bad.bodyMarkdown = KEY .. "\0"
    keep(client:create_conversation(bad))
    keep(client:reply(KEY, H.admin_reply()))
    keep(client:create_conversation(params(), { timeout = 0 / 0 }))
    for _, o in ipairs({ { api_key = KEY .. "\r\nX: 1" }, { api_key = KEY .. " " }, { api_key = KEY .. "\255" },
      { api_key = KEY, base_url = "http://" .. KEY .. ".example" }, { api_key = KEY, version = KEY },
      { api_key = KEY, timeout = KEY }, { api_key = string.rep(KEY, 100) } }) do
      keep(featurebase.new(o))
    end
    -- misuse raises: the messages count too
    keep(select(2, pcall(client.reply, nil, "x", {})))
    keep(select(2, pcall(client.create_conversation, client, KEY)))
    local closed = assert(featurebase.new({ api_key = KEY, base_url = srv.url }))
    closed:close()
    keep(tostring(closed), select(2, pcall(closed.create_conversation, closed, params())))

    local kinds = {}
    for _, e in ipairs(errors) do
      if featurebase.is_error(e) then kinds[e.kind] = true end
    end
    assert.are.same({ invalid_request = true, http = true, network = true, timeout = true, decode = true }, kinds)
    assert.is_true(#errors > 40)
  end)

  it("appears in no error of any scenario", function()
    -- the search itself finds a key hidden deep, in a key, or behind __tostring
    assert.are.equal(1, #leaks({ { { { "x" .. KEY } } } }))
    assert.are.equal(1, #leaks({ [{ ["y" .. WRONG_KEY] = 1 }] = true }))
    assert.are.equal(1, #leaks(setmetatable({}, { __tostring = function() return KEY end })))
    assert.are.same({}, leaks(errors))
  end)

  it("appears in no debug log line or event", function()
    assert.is_true(#logs > 20)
    assert.are.same({}, leaks(logs))
    assert.truthy(logs[1]:find("^featurebase: POST /v2/conversations %-> 201"), logs[1])
  end)

  -- (the child's error uses tostring: Lua 5.1's assert takes only string messages)
  it("appears in nothing a failing program prints, with FEATUREBASE_LOG=debug", function()
    srv:reset()
    local out = H.run_lua("FEATUREBASE_LOG=debug FEATUREBASE_API_KEY=" .. KEY .. " FEATUREBASE_BASE_URL=" .. srv.url,
      [[
      local fb = require("featurebase")
      local c = assert(fb.new())
      assert(c:create_conversation{ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "hi" })
      local wrong = assert(fb.new{ api_key = "]] .. WRONG_KEY .. [[" })
      local conv, err = wrong:create_conversation{ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
        bodyMarkdown = "hi" }
      if not conv then error(tostring(err)) end
    ]])
    assert.truthy(out:find("featurebase: POST /v2/conversations -> 201", 1, true), out)
    assert.truthy(out:find("featurebase: http 401", 1, true), out) -- the crash message
    assert.are.same({}, leaks({ out }))
  end)
end)
