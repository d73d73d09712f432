-- The runnable examples, run as a user would (a child interpreter) against the fake server.
-- (examples/import.lua has its own spec: 24-import_kill_spec.lua.)
local cjson = require("cjson")
local H = require("spec.helpers")

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- Runs a command line with env assignments; returns its output (stdout and stderr) and exit code.
local function run(env, args)
  local cmd = ("env %s LUA_PATH=%q LUA_CPATH=%q %s %s 2>&1; echo \"rc=$?\"")
    :format(env, package.path, package.cpath, H.lua_bin(), args)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc
end

local function append(path, lines)
  local f = assert(io.open(path, "ab"))
  for _, l in ipairs(lines) do f:write(type(l) == "table" and cjson.encode(l) or l, "\n") end
  f:close()
end

describe("examples/quickstart.lua", function()
  it("runs against its own fake server when FEATUREBASE_BASE_URL is unset", function()
    local out, rc = run("-u FEATUREBASE_BASE_URL -u FEATUREBASE_API_KEY", "examples/quickstart.lua")
    assert.are.equal(0, rc, out)
    assert.matches("using the local fake Featurebase server at http://127%.0%.0%.1:%d+", out)
    assert.matches("conversation 1  state=open  channel=desktop  %(HTTP 201, request req_%d+", out)
    assert.matches("admin reply    part 2  admin_msg", out)
    assert.matches("internal note  part 3  admin_note", out)
    assert.matches("contact reply  part 4  user_msg", out)
    assert.matches("refused before sending: featurebase: invalid_request: recipients%.to%.emails%[1%]", out)
  end)
end)

describe("examples/triage_bot.lua", function()
  local srv, client
  setup(function()
    srv = H.server()
    client = H.client(srv)
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)

  local function new_message(conv, text)
    return { conversationId = conv, part = { object = "conversation_part", id = "9", partType = "user_msg",
      bodyMarkdown = text, author = { type = "customer", id = H.CONTACT } } }
  end

  it("answers known questions, notes the rest for a human, and reads only new lines next time", function()
    local ids = {}
    for i = 1, 4 do ids[i] = assert(client:start_conversation(H.CONTACT, "hi " .. i)).id end
    local feed = tmpname()
    append(feed, {
      new_message(ids[1], "How much does the Pro plan cost?"),
      new_message(ids[2], "My widget shows the wrong colour ünïcödé"),
      { conversationId = ids[3], part = { partType = "admin_msg", bodyMarkdown = "our own answer",
        author = { type = "admin", id = H.ADMIN } } },
      { conversationId = ids[3], part = { partType = "admin_note", bodyMarkdown = "a refund? a note",
        author = { type = "admin", id = H.ADMIN } } },
      "not json",
      new_message(ids[3], "I forgot my password"),
    })
    local env = ("FEATUREBASE_API_KEY=%s FEATUREBASE_BASE_URL=%s FEATUREBASE_ADMIN_ID=%s"):format(H.KEY, srv.url,
      H.ADMIN)
    local before = #srv:requests()
    local out, rc = run(env, "examples/triage_bot.lua " .. feed)
    assert.are.equal(0, rc, out)
    assert.matches("answered  " .. ids[1] .. " %(cost%)", out)
    assert.matches("noted     " .. ids[2] .. " for a human", out)
    assert.matches("answered  " .. ids[3] .. " %(password%)", out)
    assert.matches("skipping a malformed line", out)
    assert.matches("3 message%(s%) handled", out)
    local sent = {}
    for i, r in ipairs(srv:requests()) do if i > before then sent[#sent + 1] = r end end
    assert.are.equal(3, #sent)
    assert.are.equal("/v2/conversations/" .. ids[1] .. "/reply", sent[1].path)
    assert.are.same({ "admin", H.ADMIN, "reply" }, { sent[1].json.type, sent[1].json.id, sent[1].json.messageType })
    assert.matches("example%.com/pricing", sent[1].json.bodyMarkdown)
    assert.are.equal("note", sent[2].json.messageType)
    assert.matches("Needs a human.*> My widget shows the wrong colour ünïcödé", sent[2].json.bodyMarkdown)
    assert.matches("Forgot password", sent[3].json.bodyMarkdown)

    -- the next run handles only what was appended since, and a half-written line waits
    append(feed, { new_message(ids[4], "Can I get a refund?") })
    local f = assert(io.open(feed, "ab"))
    f:write('{"conversationId":"' .. ids[4] .. '","part":{"partTy')
    f:close()
    out, rc = run(env, "examples/triage_bot.lua " .. feed)
    assert.are.equal(0, rc, out)
    assert.matches("^answered  " .. ids[4] .. " %(refund%)\n1 message%(s%) handled\n$", out)
    assert.are.equal(before + 4, #srv:requests())
    os.remove(feed)
    os.remove(feed .. ".state")
  end)

  it("stops at a failed answer and retries it on the next run", function()
    local feed = tmpname()
    append(feed, { new_message("nosuchconv", "price?") })
    local env = ("FEATUREBASE_API_KEY=%s FEATUREBASE_BASE_URL=%s FEATUREBASE_ADMIN_ID=%s"):format(H.KEY, srv.url,
      H.ADMIN)
    local out, rc = run(env, "examples/triage_bot.lua " .. feed)
    assert.are.equal(1, rc)
    assert.matches("conversation nosuchconv: featurebase: http 404", out)
    local n = #srv:requests()
    run(env, "examples/triage_bot.lua " .. feed)
    assert.are.equal(n + 1, #srv:requests()) -- tried again, not skipped
    os.remove(feed)
    os.remove(feed .. ".state")
  end)
end)

describe("examples/import.lua", function()
  it("explains its usage", function()
    local out, rc = run("", "examples/import.lua")
    assert.are.equal(2, rc)
    assert.matches("no input file\nusage: import%.lua FILE%.json", out)
    out, rc = run("", "examples/import.lua /nonexistent.json")
    assert.are.equal(2, rc)
    assert.matches("/nonexistent%.json: No such file", out)
  end)
end)
