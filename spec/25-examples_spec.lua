-- The runnable examples, run as a user would against the fake server (started once for the file):
-- quickstart and the triage bot in a child interpreter, the contact form in a real nginx running
-- the shipped nginx.conf, the Neovim inbox in a real headless Neovim. What each did is checked from
-- the server's own record (srv:requests(), srv:conversation(id), srv:contact(id)).
-- (examples/import.lua has its own spec: 24-import_kill_spec.lua.)
local cjson = require("cjson")
local socket = require("socket")
local testing = require("featurebase.testing")
local H = require("spec.helpers")

local ROOT = io.popen("pwd"):read("*l")
local TAG = "67ec1234abcd5678ef901234"
local OTHER_ADMIN = "507f1f77bcf86cd799439022"

local function sh(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

-- nginx and Neovim run LuaJIT: make sure that build exists whichever Lua runs busted.
local function build_luajit()
  assert(sh("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null"),
    "could not build build/luajit/featurebase/core.so")
end

-- Runs a command line with env assignments; returns its output (stdout and stderr) and exit code.
local function run(env, args)
  local cmd = ("env %s LUA_PATH=%q LUA_CPATH=%q %s %s 2>&1; echo \"rc=$?\"")
    :format(env, package.path, package.cpath, H.lua_bin(), args)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return (out:gsub("rc=%d+%s*$", "")), rc
end

local free_port = testing.free_port

-- One HTTP/1.0 request (the server closes after answering): status, body.
local function request(port, method, path, body)
  local c = socket.tcp()
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  body = body or ""
  assert(c:send(method .. " " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: " .. #body
    .. "\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n" .. body))
  local resp, err, partial = c:receive("*a")
  c:close()
  resp = resp or partial
  assert(resp and resp ~= "", "no answer: " .. tostring(err))
  return tonumber(resp:match("^HTTP/%d%.%d (%d+)")), resp:match("\r\n\r\n(.*)$")
end

-- The API requests recorded since `from` (an index into srv:requests()), as "METHOD path" plus each.
local function since(srv, from)
  local out = {}
  for i, r in ipairs(srv:requests()) do
    if i > from then out[#out + 1] = r end
  end
  return out
end

local function bot_notes(conv)
  local n = {}
  for _, p in ipairs(conv.conversationParts or {}) do
    if p.partType == "admin_note" and p.bodyMarkdown:find("^%*%*Triage bot%*%*") then n[#n + 1] = p end
  end
  return n
end

describe("examples", function()
  local srv

  setup(function()
    build_luajit()
    srv = H.server()
  end)
  teardown(function() if srv then srv:stop() end end)

  describe("quickstart.lua (make demo)", function()
    it("runs the whole round against its own fake server when FEATUREBASE_BASE_URL is unset", function()
      local out, rc = run("-u FEATUREBASE_BASE_URL -u FEATUREBASE_API_KEY -u FEATUREBASE_ADMIN_ID",
        "examples/quickstart.lua")
      assert.are.equal(0, rc, out)
      assert.matches("using the local fake Featurebase server at http://127%.0%.0%.1:%d+", out)
      assert.matches("\ncontact   %x+  Jane Doe <jane@example%.com>\n", out)
      assert.matches("\nopened    conversation 1  state=open  %(HTTP 201, request req_%d+", out)
      assert.matches("\nreply     part 2  admin_msg\n", out)
      assert.matches("\nnote      part 3  admin_note\n", out)
      assert.matches("\nlist      1 conversation%(s%): 1%(open%)\n", out)
      assert.matches("\nfetch     conversation 1  3 part%(s%): user_msg, admin_msg, admin_note\n", out)
      assert.matches("\nclose     conversation 1  state=closed\n", out)
      assert.matches("\nrefused   before sending: featurebase: invalid_request: email must be a valid email", out)
    end)

    it("sends exactly the round's requests, in order, with the upserted contact's id", function()
      srv:reset()
      local out, rc = run(("FEATUREBASE_API_KEY=%s FEATUREBASE_BASE_URL=%s FEATUREBASE_ADMIN_ID=%s")
        :format(H.KEY, srv.url, H.ADMIN), "examples/quickstart.lua")
      assert.are.equal(0, rc, out)
      assert.is_nil(out:find("using the local fake", 1, true))
      local sent = {}
      for _, r in ipairs(srv:requests()) do sent[#sent + 1] = r.method .. " " .. r.path end
      assert.are.same({ "POST /v2/contacts", "POST /v2/conversations", "POST /v2/conversations/1/reply",
        "POST /v2/conversations/1/reply", "GET /v2/conversations", "GET /v2/conversations/1",
        "PATCH /v2/conversations/1" }, sent)
      local r = srv:requests()
      local contact_id = ("\n" .. out):match("\ncontact   (%x+)")
      assert.are.same({ email = "jane@example.com", name = "Jane Doe" }, r[1].json)
      assert.are.same({ type = "contact", id = contact_id }, r[2].json.from)
      assert.are.equal("note", r[4].json.messageType)
      local conv = srv:conversation("1")
      assert.are.equal("closed", conv.state)
      assert.are.equal(contact_id, conv.source.author.id)
      assert.are.equal("jane@example.com", srv:contact(contact_id).email)
    end)
  end)

  describe("triage_bot.lua", function()
    -- Ten kinds of conversation, three of each (30), in this order, and what the bot must do.
    local KINDS = {
      { name = "billing", text = "I was charged twice, please refund me", tag = true },
      { name = "urgent", text = "Our shop is down, this is URGENT", assign = true },
      { name = "both", text = "The invoice is wrong and I need it asap", tag = true, assign = true },
      { name = "waiting", text = "Hello?", admin_last = true, snooze = true },
      { name = "plain", text = "How do I change my avatar?" },
      { name = "closed", text = "refund please", state = "closed", untouched = true },
      { name = "snoozed", text = "urgent refund", state = "snoozed", untouched = true },
      { name = "triaged", text = "urgent refund", bot_note = true, done_before = true },
      { name = "assigned", text = "urgent!", assignee = OTHER_ADMIN },
      { name = "tagged", text = "where is my receipt?", tags = { TAG } },
    }

    local function seed_30()
      srv:reset()
      local convs, kinds = {}, {}
      for i = 1, 30 do
        local k = KINDS[(i - 1) % #KINDS + 1]
        local parts = { { bodyMarkdown = k.text } }
        if k.admin_last then
          parts[2] = { partType = "admin_msg", bodyMarkdown = "Could you send a screenshot?",
            author = { type = "admin", id = H.ADMIN } }
        end
        if k.bot_note then
          parts[2] = { partType = "admin_note", bodyMarkdown = "**Triage bot**\n\n- done earlier",
            author = { type = "admin", id = H.ADMIN } }
        end
        convs[i] = { title = k.name .. " " .. i, state = k.state or "open", conversationParts = parts,
          adminAssigneeId = k.assignee, tags = k.tags,
          snoozedUntil = k.state == "snoozed" and "2099-01-01T00:00:00.000Z" or nil }
        kinds[i] = k
      end
      -- tags and admins seeded: the fake refuses any other tag or admin id
      local ids = srv:seed({ conversations = convs, tags = { { id = TAG, name = "billing" } },
        admins = { H.ADMIN, OTHER_ADMIN } }).conversations
      return ids, kinds
    end

    local function env(extra)
      return ("%s FEATUREBASE_API_KEY=%s FEATUREBASE_BASE_URL=%s FEATUREBASE_ADMIN_ID=%s FEATUREBASE_TAG_ID=%s "
        .. "TRIAGE_PAGE_SIZE=7"):format(extra or "", H.KEY, srv.url, H.ADMIN, TAG)
    end

    it("pages through 30 conversations and tags, assigns, snoozes and notes each open one by its rules", function()
      local ids, kinds = seed_30()
      local t0 = os.time()
      local out, rc = run(env(), "examples/triage_bot.lua")
      assert.are.equal(0, rc, out)
      assert.matches("30 conversation%(s%) seen: 21 triaged, 3 triaged before, 6 closed or snoozed, 0 failed", out)
      local requests = srv:requests()
      -- the list, page by page (7 a page: 5 pages), each page asked for only once
      local pages, gets, tags, patches = {}, {}, {}, {}
      for _, r in ipairs(requests) do
        if r.method == "GET" and r.path == "/v2/conversations" then pages[#pages + 1] = r.query
        elseif r.method == "GET" then gets[r.path:match("[^/]+$")] = true
        elseif r.method == "POST" and r.path:find("/tags$") then tags[#tags + 1] = r
        elseif r.method == "PATCH" then patches[#patches + 1] = r end
      end
      assert.are.equal(5, #pages)
      assert.are.equal("limit=7", pages[1])
      for i = 2, 5 do assert.matches("^limit=7&cursor=", pages[i]) end
      for _, r in ipairs(tags) do assert.are.same({ tagId = TAG, actingAdminId = H.ADMIN }, r.json) end
      assert.are.equal(6, #tags)  -- billing and both (tagged ones are not tagged again)
      assert.are.equal(9, #patches) -- 6 assignments, 3 snoozes
      for i, id in ipairs(ids) do
        local k, conv = kinds[i], srv:conversation(id)
        local what = k.name .. " " .. id
        assert.are.equal(not k.untouched, gets[id] == true, what) -- closed and snoozed ones are not even read
        local tagged = conv.tags[1] and conv.tags[1].id == TAG
        assert.are.equal(k.tag or k.tags ~= nil, tagged == true, what)
        assert.are.equal(#conv.tags, tagged and 1 or 0, what)
        if k.assign then assert.are.equal(H.ADMIN, conv.adminAssigneeId, what)
        elseif k.assignee then assert.are.equal(k.assignee, conv.adminAssigneeId, what)
        else assert.are.equal(cjson.null, conv.adminAssigneeId, what) end
        if k.snooze then
          assert.are.equal("snoozed", conv.state, what)
          local y, mo, d, h, mi, s = conv.snoozedUntil:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
          local until_t = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false })
            - os.difftime(os.time(os.date("!*t", t0)), t0) -- the stamp is UTC
          assert.is_true(until_t >= t0 + 3590 and until_t <= os.time() + 3610, what .. " " .. conv.snoozedUntil)
        else
          assert.are.equal(k.state or "open", conv.state, what)
        end
        local notes = bot_notes(conv)
        assert.are.equal(k.untouched and 0 or 1, #notes, what)
        if not k.untouched and not k.done_before then
          local body = notes[1].bodyMarkdown
          assert.are.equal(H.ADMIN, notes[1].author.id)
          assert.are.equal(k.tag == true, body:find("tagged billing", 1, true) ~= nil, what .. ": " .. body)
          assert.are.equal(k.assign == true, body:find("assigned", 1, true) ~= nil, what .. ": " .. body)
          assert.are.equal(k.snooze == true, body:find("snoozed until 20%d%d%-") ~= nil, what .. ": " .. body)
          assert.are.equal(not (k.tag or k.assign or k.snooze), body:find("needs a human", 1, true) ~= nil, what)
        end
      end

      -- run again: everything is triaged or snoozed now, so it only reads
      local before = #requests
      out, rc = run(env(), "examples/triage_bot.lua")
      assert.are.equal(0, rc, out)
      assert.matches("30 conversation%(s%) seen: 0 triaged, 21 triaged before, 9 closed or snoozed, 0 failed", out)
      for _, r in ipairs(since(srv, before)) do assert.are.equal("GET", r.method, r.path) end
    end)

    it("stops where a page fails, saying so, keeps what it did, and the next run finishes", function()
      local ids, kinds = seed_30()
      srv:script({ { match = "GET /v2/conversations", skip = 2, modes = "status=400" } }) -- the third page
      local out, rc = run(env(), "examples/triage_bot.lua")
      assert.are.equal(1, rc, out)
      assert.matches("14 conversation%(s%) seen: 11 triaged, 1 triaged before, 2 closed or snoozed, 0 failed", out)
      assert.matches("triage_bot: listing conversations failed after 14: featurebase: http 400", out)
      for i, id in ipairs(ids) do
        local want = (i <= 14 and not kinds[i].untouched) and 1 or 0
        if kinds[i].done_before then want = 1 end
        assert.are.equal(want, #bot_notes(srv:conversation(id)), kinds[i].name .. " " .. id)
      end
      out, rc = run(env(), "examples/triage_bot.lua")
      assert.are.equal(0, rc, out)
      assert.matches("30 conversation%(s%) seen: 10 triaged, 12 triaged before, 8 closed or snoozed, 0 failed", out)
    end)

    it("refuses a bad configuration before changing anything", function()
      seed_30()
      local out, rc = run(env():gsub("FEATUREBASE_TAG_ID=%x+", "FEATUREBASE_TAG_ID=billing"), "examples/triage_bot.lua")
      assert.are.equal(2, rc, out)
      assert.matches("conversation %w+: featurebase: invalid_request: tagId must be a 24%-character", out)
      assert.matches("stopped: check FEATUREBASE_ADMIN_ID and FEATUREBASE_TAG_ID", out)
      for _, r in ipairs(srv:requests()) do assert.are.equal("GET", r.method, r.path) end
      out, rc = run(env("-u FEATUREBASE_ADMIN_ID"):gsub("FEATUREBASE_ADMIN_ID=%x+", ""), "examples/triage_bot.lua")
      assert.are.equal(2, rc, out)
      assert.matches("set FEATUREBASE_ADMIN_ID", out)
    end)
  end)

  describe("openresty/contact_form.lua (nginx.conf as shipped)", function()
    local dir, port

    setup(function()
      dir = io.popen("mktemp -d"):read("*l")
      port = free_port()
      -- the shipped conf with only its port and its logs/ folder moved into the temp dir
      local f = assert(io.open(ROOT .. "/examples/openresty/nginx.conf"))
      local conf, n_listen = f:read("*a"):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
      f:close()
      local n_logs
      conf, n_logs = conf:gsub("([ \"])logs/", "%1" .. dir .. "/")
      assert(n_listen == 1 and n_logs >= 2, "examples/openresty/nginx.conf changed shape: update this spec")
      f = assert(io.open(dir .. "/nginx.conf", "w"))
      f:write(conf)
      f:close()
      local as_root = io.popen("id -u"):read("*l") == "0" and "-g 'user root;'" or ""
      assert(sh(("env FEATUREBASE_API_KEY=%s FEATUREBASE_BASE_URL=%s nginx -p %s/examples/openresty/ "
        .. "-c %s/nginx.conf -e %s/error.log %s"):format(H.KEY, srv.url, ROOT, dir, dir, as_root)))
      local t0 = socket.gettime()
      while not pcall(request, port, "GET", "/") do
        assert(socket.gettime() - t0 < 5, "the example's nginx did not start")
        socket.sleep(0.02)
      end
    end)

    teardown(function()
      if dir then setmetatable({ dir = dir }, testing.Server):stop() end -- QUITs nginx, removes dir
    end)

    before_each(function() srv:reset() end)

    local function post(form)
      local status, body = request(port, "POST", "/contact", form)
      return status, cjson.decode(body)
    end

    it("serves a form with name, email and message", function()
      local status, html = request(port, "GET", "/")
      assert.are.equal(200, status)
      assert.matches('<form method="post" action="/contact">', html, 1, true)
      for _, name in ipairs({ "name", "email", "message" }) do assert.matches('name="' .. name .. '"', html, 1, true) end
      assert.is_nil(html:find("contact_id", 1, true))
    end)

    it("upserts the visitor's contact by email, then opens the conversation with the returned id", function()
      local status, out = post("name=Jane%20Doe&email=jane%40example.com&message=Hello%2C%20is%20anyone%20there%3F")
      assert.are.equal(201, status)
      local r = srv:requests()
      assert.are.equal(2, #r)
      assert.are.same({ "POST", "/v2/contacts" }, { r[1].method, r[1].path })
      assert.are.same({ email = "jane@example.com", name = "Jane Doe" }, r[1].json)
      assert.are.same({ "POST", "/v2/conversations" }, { r[2].method, r[2].path })
      local contact = srv:contact(out.contact)
      assert.are.equal("jane@example.com", contact.email)
      assert.are.same({ type = "contact", id = contact.id }, r[2].json.from)
      local conv = srv:conversation(out.conversation)
      assert.are.equal("Hello, is anyone there?", conv.source.bodyMarkdown)
      assert.are.equal(contact.id, conv.source.author.id)
      assert.are.equal("Bearer " .. H.KEY, r[1].headers.authorization)

      -- the same visitor again: the same contact (its name updated), a second conversation
      local out2
      status, out2 = post("name=Jane%20D.&email=jane%40example.com&message=Me%20again")
      assert.are.equal(201, status)
      assert.are.equal(out.contact, out2.contact)
      assert.are_not.equal(out.conversation, out2.conversation)
      assert.are.equal("Jane D.", srv:contact(out.contact).name)
    end)

    it("answers 422 naming the form's field, sending nothing, when the form is wrong", function()
      for form, field in pairs({
        ["name=Jane&email=not-an-email&message=hi"] = "email",
        ["name=Jane&message=hi"] = "email",
        ["name=Jane&email=jane%40example.com&message=%20%20"] = "message",
        ["name=Jane&email=jane%40example.com"] = "message",
        ["name=" .. ("x"):rep(501) .. "&email=jane%40example.com&message=hi"] = "name",
      }) do
        local status, out = post(form)
        assert.are.equal(422, status, form)
        assert.are.equal(field, out.field, form)
      end
      assert.are.equal(0, #srv:requests())
    end)

    it("answers 502 and opens no conversation when the upsert fails", function()
      srv:script({ { match = "POST /v2/contacts", modes = "status=403" } })
      local status, out = post("name=Jane&email=jane%40example.com&message=hi")
      assert.are.equal(502, status)
      assert.matches("try again", out.error)
      local r = srv:requests()
      assert.are.equal(1, #r)
      assert.are.equal("/v2/contacts", r[1].path)
    end)

    it("answers 405 to a GET", function()
      assert.are.equal(405, (request(port, "GET", "/contact")))
    end)
  end)

  describe("nvim/ :FeaturebaseInbox", function()
    -- Runs spec/nvim/inbox.lua (case FB_CASE) in headless Neovim; returns {key = value}, stdout, stderr, ok.
    local function nvim(case, env)
      local out, err = os.tmpname(), os.tmpname()
      local vars = { ("LUA_PATH=%q"):format(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
        ("LUA_CPATH=%q"):format(ROOT .. "/build/luajit/?.so;;"), "FB_ROOT=" .. ROOT, "FB_CASE=" .. case }
      for k, v in pairs(env) do vars[#vars + 1] = ("%s=%q"):format(k, v) end
      local ok = sh(("env %s timeout 60 nvim --headless -u NONE -i NONE -n -c %q >%s 2>%s"):format(
        table.concat(vars, " "), "luafile " .. ROOT .. "/spec/nvim/inbox.lua", out, err))
      local function slurp(p)
        local f = assert(io.open(p))
        local s = f:read("*a")
        f:close()
        os.remove(p)
        return s
      end
      local text, stderr = slurp(out), slurp(err)
      local kv = {}
      for k, v in ("\n" .. text):gmatch("\n([%w_]+)=([^\n]*)") do kv[k] = v end
      return kv, text, stderr, ok
    end

    it("fills the buffer page by page from a slow server while an editor timer keeps ticking", function()
      srv:reset()
      local convs = {}
      for i = 1, 12 do
        convs[i] = { title = "Question " .. i, state = i % 4 == 0 and "closed" or "open",
          adminAssigneeId = i == 2 and H.ADMIN or nil }
      end
      srv:seed({ conversations = convs })
      -- every answer 300 ms late, 5 a page: three pages, the editor must not wait for any of them
      local r, text, stderr, ok = nvim("list", { FEATUREBASE_API_KEY = H.KEY, FB_PAGE = "5",
        FEATUREBASE_BASE_URL = srv.url .. "/__fb/mode/delay=300" })
      assert.is_true(ok, text .. stderr)
      assert.is_nil(r.error, text)
      assert.are.equal("", stderr)
      assert.are.equal("true", r.arrived, text)
      assert.is_true(tonumber(r.returned_ms) < 100, text) -- the command itself did not wait
      assert.matches("loading%.%.%.$", r.first_line)
      assert.is_true(tonumber(r.elapsed_ms) >= 890, text) -- three answers, 300 ms each
      assert.is_true(tonumber(r.ticks) >= 20, text)      -- a 20 ms timer fired all along,
      assert.is_true(tonumber(r.max_gap_ms) < 250, text) -- never held up for a whole answer
      assert.are.equal("true", r.current_is_inbox)
      assert.are.equal("nofile", r.buftype)
      assert.are.equal("false", r.modifiable)
      assert.are.equal("# Featurebase inbox: 9 conversation(s) (3 closed hidden: :FeaturebaseInbox! shows them), all",
        r.header)
      assert.are.equal("1,2,3,5,6,7,9,10,11", r.ids)
      assert.are.equal("false", r.closed_shown)
      assert.are.equal("9", r.count)
      assert.are.equal("3", r.hidden)
      assert.matches("^2%s+open%s+%d%d%d%d%-%d%d%-%d%d %d%d:%d%d @ Question 2$", r.assigned_row)
      -- <CR> on the first row: that conversation, every part
      assert.are.equal("true", r.conv_arrived)
      assert.are.equal("featurebase://conversation/1", r.conv_buffer)
      assert.matches("^# Question 1 %(open%)\\n\\n## user_msg customer, [^\\]+\\nSeeded message 1$", r.conv_lines)
      assert.are.equal("12", r.all_count)
      assert.are.equal("true", r.all_closed_shown)
      assert.are.equal("0", r.notes)
      local lists, gets = 0, 0
      for _, q in ipairs(srv:requests()) do
        if q.path == "/v2/conversations" then lists = lists + 1 elseif q.path == "/v2/conversations/1" then
          gets = gets + 1 end
      end
      assert.are.equal(6, lists) -- three pages, twice
      assert.are.equal(1, gets)
    end)

    it("reports a wrong key and a missing key through vim.notify only", function()
      srv:reset()
      local r, text, stderr, ok = nvim("errors", { FEATUREBASE_API_KEY = "sk_wrong", FEATUREBASE_BASE_URL = srv.url })
      assert.is_true(ok, text .. stderr)
      assert.is_nil(r.error, text)
      assert.are.equal("", stderr)
      assert.are.equal("true", r.unauthorized_event, text)
      assert.are.equal("1", r.unauthorized_notes, text)
      assert.are.equal("true", r.unauthorized_level, text)
      assert.matches("^Featurebase inbox: featurebase: http 401", r.unauthorized_msg)
      assert.matches("failed %(see :messages%)$", r.unauthorized_header)
      assert.matches("^featurebase: http 401", r.unauthorized_error)
      assert.is_nil(r.unauthorized_msg:find("sk_wrong", 1, true))
      assert.are.equal("1", r.nokey_notes, text)
      assert.matches("FEATUREBASE_API_KEY", r.nokey_msg)
      assert.are.equal(1, #srv:requests()) -- the 401; the keyless command sent nothing
    end)

    it("reports a server that refuses connections through vim.notify, nothing on the screen", function()
      local r, text, stderr, ok = nvim("refused", { FEATUREBASE_API_KEY = H.KEY,
        FEATUREBASE_BASE_URL = "http://127.0.0.1:" .. free_port() })
      assert.is_true(ok, text .. stderr)
      assert.is_nil(r.error, text)
      assert.are.equal("", stderr) -- no "EBADF: bad file descriptor" from luv, once per attempt
      assert.are.equal("true", r.refused_event, text)
      assert.are.equal("1", r.refused_notes, text)
      assert.are.equal("true", r.refused_level, text)
      assert.matches("^Featurebase inbox: featurebase: network: .*Couldn't connect", r.refused_msg)
      assert.matches("failed %(see :messages%)$", r.refused_header)
    end)
  end)

  describe("import.lua", function()
    it("explains its usage", function()
      local out, rc = run("", "examples/import.lua")
      assert.are.equal(2, rc)
      assert.matches("no input file\nusage: import%.lua FILE%.json", out)
      out, rc = run("", "examples/import.lua /nonexistent.json")
      assert.are.equal(2, rc)
      assert.matches("/nonexistent%.json: No such file", out)
    end)
  end)
end)
