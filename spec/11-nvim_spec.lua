-- featurebase.nvim in a real headless Neovim (Debian's 0.7.2, LuaJIT): the editor keeps running
-- while a request waits, results come through vim.schedule, and the example plugin works.
-- Neovim is the same program whichever Lua runs busted, so this runs in every busted run: it is
-- about two seconds, and a `make test LUAS=lua5.4` still proves it.
-- The fake server is started here, outside Neovim: luasocket cannot be loaded inside Neovim 0.7
-- (its socket_connect symbol resolves to Neovim's own and crashes).
local H = require("spec.helpers")

local function sh(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local ROOT = assert(io.popen("pwd")):read("*l")

-- Runs a script in headless Neovim with env; returns {key = value} from its stdout, and the raw output.
local function nvim(script, env)
  local out = os.tmpname()
  local vars = { ("LUA_PATH=%q"):format(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
    ("LUA_CPATH=%q"):format(ROOT .. "/build/luajit/?.so;;"), "FB_ROOT=" .. ROOT }
  for k, v in pairs(env) do vars[#vars + 1] = ("%s=%q"):format(k, v) end
  local ok = sh(("env %s timeout 60 nvim --headless -u NONE -i NONE -n -c %q >%s 2>&1"):format(
    table.concat(vars, " "), "luafile " .. ROOT .. "/spec/nvim/" .. script, out))
  local f = assert(io.open(out))
  local text = f:read("*a")
  f:close()
  os.remove(out)
  local kv = {}
  for k, v in ("\n" .. text):gmatch("\n([%w_]+)=([^\n]*)") do kv[k] = v end
  return kv, text, ok
end

describe("Neovim", function()
  local srv

  setup(function()
    -- Neovim runs LuaJIT: make sure that build exists and is current, whichever Lua runs busted
    assert(sh("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null"))
    srv = H.server()
  end)
  teardown(function() if srv then srv:stop() end end)

  it("keeps a 50 ms editor timer firing while a request waits 500 ms, then delivers the result", function()
    local r, text, ok = nvim("ticks.lua", { FB_KEY = H.KEY, FB_URL = srv.url .. "/__fb/mode/delay=500" })
    assert.is_true(ok, text)
    assert.is_nil(r.error, text)
    assert.are.equal("true", r.arrived, text)
    assert.is_true(tonumber(r.returned_ms) < 100, text) -- the *_async call itself did not wait
    assert.is_true(tonumber(r.ticks) >= 8, text)
    assert.is_true(tonumber(r.elapsed_ms) >= 490, text) -- the server really made it wait
    assert.are.equal("201", r.status, text)
    assert.are.equal("nil", r.err, text)
    assert.are.equal("from Neovim", r.body, text)
    assert.are.equal("false", r.fast, text) -- vim.schedule'd, not in a luv callback
    assert.truthy(r.buffer:find("^conversation %d+$"), text)
    assert.are.equal("true", r.run_refused, text) -- client:run() would block the editor
    assert.are.equal(1, #srv:requests())
  end)

  it("runs every endpoint's async form on the loop, refuses blocking calls, and prints nothing on failure", function()
    srv:reset()
    local r, text, ok = nvim("api.lua", { FB_KEY = H.KEY, FB_URL = srv.url })
    assert.is_true(ok, text)
    assert.is_nil(r.error, text)
    assert.are.equal("true", r.blocking_refused, text)
    assert.are.equal("true", r.arrived, text)
    assert.are.equal("nvim@example.com", r.contact, text)
    assert.are.equal("closed", r.state, text)
    assert.are.equal("1", r.listed, text)
    assert.are.equal("200", r.status, text)
    assert.are.equal("network", r.dead_kind, text)
    assert.are.equal("false", r.dead_sent, text)
    assert.are.equal("", r.messages, text) -- no EBADF or any other message on the screen
    assert.is_nil(text:find("EBADF", 1, true), text)
  end)

  it("pages with conversations_async/contacts_async: every item in order, an early stop, a failed page", function()
    srv:reset()
    local want = srv:seed({ conversations = 25, contacts = 5 }).conversations -- the ids in listing order
    srv:script({ { match = "GET /v2/contacts", modes = "status=400", skip = 1 } })
    local r, text, ok = nvim("pages.lua", { FB_KEY = H.KEY, FB_URL = srv.url })
    assert.is_true(ok, text)
    assert.is_nil(r.error, text)
    assert.are.equal("true", r.blocking_refused, text) -- the blocking pager names its async form
    assert.are.equal(table.concat(want, ","), r.all_ids, text)
    assert.are.equal("true", r.all_done, text)
    assert.are.equal("nil", r.all_err, text)
    assert.are.equal("false", r.early_or_fast, text)
    assert.are.equal("10", r.stop_count, text)
    assert.are.equal("true", r.stop_done, text)
    assert.are.equal("2", r.fail_count, text)
    assert.are.equal("nil", r.fail_ok, text)
    assert.are.equal("400", r.fail_status, text)
    assert.are.equal("http", r.fail_kind, text)
    local paths = {}
    for _, req in ipairs(srv:requests()) do paths[#paths + 1] = req.path end
    -- 3 pages; 1 page (stopped at its last item); 2 contact pages, the second failing
    assert.are.same({ "/v2/conversations", "/v2/conversations", "/v2/conversations", "/v2/conversations",
      "/v2/contacts", "/v2/contacts" }, paths)
  end)

  it("runs the example plugin: buffer as a note, a range as a reply, an invalid id refused", function()
    srv:reset()
    local client = H.client(srv)
    local conv = assert(client:create_conversation(H.contact_create()))
    client:close()
    local r, text, ok = nvim("plugin.lua", { FB_KEY = H.KEY, FEATUREBASE_API_KEY = H.KEY,
      FEATUREBASE_BASE_URL = srv.url, FEATUREBASE_ADMIN_ID = H.ADMIN, FB_CONV = conv.id })
    assert.is_true(ok, text)
    assert.is_nil(r.error, text)
    assert.are.equal("true", r.arrived, text)
    -- the note and the reply were in flight together: either may have been stored first
    local ids = { r.note_part, r.reply_part }
    table.sort(ids)
    assert.are.same({ "2", "3" }, ids, text)
    assert.is_nil(r.note_error, text)
    assert.truthy(r.reply_error:find("^featurebase: invalid_request: conversation_id"), text)
    local parts = srv:conversation(conv.id).conversationParts
    assert.are.equal(3, #parts)
    local by_type = {}
    for _, p in ipairs(parts) do by_type[p.partType] = p end
    assert.are.equal("# Note\nline two\nline three", by_type.admin_note.bodyMarkdown)
    assert.are.equal("line two\nline three", by_type.admin_msg.bodyMarkdown)
    assert.are.equal(3, #srv:requests()) -- the create and two sends; the invalid one never left
  end)
end)
