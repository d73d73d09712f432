-- client:import against the fake server: order, createdAt, skipNotifications, the journal (resume,
-- failures, steps in doubt, torn lines, the lock, a changed input), a pluggable runner, progress.
local featurebase = require("featurebase")
local import = require("featurebase.import")
local core = require("featurebase.core")
local cjson = require("cjson")
local H = require("spec.helpers")

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- n conversations of m messages each, alternating admin and contact replies; bodies are unique.
local function data(n, m, keyed)
  local list = {}
  for c = 1, n do
    local conv = { createdAt = ("2024-01-%02dT10:00:00.000Z"):format(c),
      from = { type = "contact", id = H.CONTACT }, bodyMarkdown = ("c%d opening"):format(c), messages = {} }
    if keyed then conv.key = "old-" .. c end
    for i = 1, m do
      conv.messages[i] = i % 2 == 1 and { type = "admin", id = H.ADMIN, bodyMarkdown = ("c%d m%d"):format(c, i) }
        or { type = "contact", userId = "u" .. c, bodyMarkdown = ("c%d m%d"):format(c, i) }
    end
    list[c] = conv
  end
  return list
end

-- bodyMarkdown -> how many times the server received it
local function received(srv)
  local n = {}
  for _, r in ipairs(srv:requests()) do
    local b = r.json and r.json.bodyMarkdown
    if b then n[b] = (n[b] or 0) + 1 end
  end
  return n
end

local function journal_lines(path)
  local out = {}
  for line in (read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("client:import", function()
  local srv, client
  setup(function()
    srv = H.server()
    client = H.client(srv, { max_retries = 0 })
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)
  before_each(function() srv:reset() end)

  it("creates each conversation with its createdAt, then replies in order with skipNotifications", function()
    local j = tmpname()
    local input = data(3, 3, true)
    input[2].createdAt = 1700000000.25 -- a Lua time works too
    local s = client:import(input, { journal = j })
    assert.are.same({ 3, 3, 0, 0, 12, 0 }, { s.conversations, s.completed, s.failed, s.in_doubt, s.sent, s.already })
    local reqs = srv:requests()
    assert.are.equal(12, #reqs)
    for i, r in ipairs(reqs) do
      if (i - 1) % 4 == 0 then
        assert.are.equal("/v2/conversations", r.path)
      else
        assert.is_true(r.json.skipNotifications)
        assert.are.equal("reply", r.json.messageType)
      end
    end
    for c = 1, 3 do
      local conv = srv:conversation(s.ids["old-" .. c])
      local bodies = {}
      for _, p in ipairs(featurebase.parts(conv)) do bodies[#bodies + 1] = p.bodyMarkdown end
      assert.are.same({ ("c%d opening"):format(c), ("c%d m1"):format(c), ("c%d m2"):format(c),
        ("c%d m3"):format(c) }, bodies)
    end
    assert.are.equal("2024-01-01T10:00:00.000Z", srv:conversation(s.ids["old-1"]).createdAt)
    assert.are.equal("2023-11-14T22:13:20.250Z", srv:conversation(s.ids["old-2"]).createdAt)
    local lines = journal_lines(j)
    assert.are.equal('{"featurebase_import_journal":1}', lines[1])
    assert.are.equal(25, #lines) -- the header, then a "send" and an "ok" line per step
    os.remove(j)
  end)

  it("sends nothing again on a second run with the same journal", function()
    local j = tmpname()
    local first = client:import(data(2, 2), { journal = j })
    local again = client:import(data(2, 2), { journal = j })
    assert.are.same({ 6, 0 }, { first.sent, first.already })
    assert.are.same({ 0, 6, 2 }, { again.sent, again.already, again.completed })
    assert.are.same(first.ids, again.ids)
    assert.are.equal(6, #srv:requests())
    os.remove(j)
  end)

  it("sends notifications when skip_notifications is false", function()
    client:import(data(1, 1), { journal = false, skip_notifications = false })
    assert.is_nil(srv:requests()[2].json.skipNotifications)
  end)

  it("stops a conversation at a refused step, goes on with the others, and resends it once fixed", function()
    local j = tmpname()
    local input = data(2, 3, true)
    input[1].messages[2].bodyMarkdown = ""
    local s = client:import(input, { journal = j })
    assert.are.same({ 1, 1, 0 }, { s.completed, s.failed, s.in_doubt })
    assert.are.equal("old-1", s.failures[1].key)
    assert.are.equal(2, s.failures[1].index)
    assert.are.equal("bodyMarkdown", s.failures[1].error.field)
    assert.matches("FAILED   old%-1 message 2: .*bodyMarkdown", import.format_summary(s))
    assert.are.equal(6, #srv:requests()) -- c1: create + m1; c2: all four
    input[1].messages[2].bodyMarkdown = "c1 m2"
    local again = client:import(input, { journal = j })
    assert.are.same({ 2, 0, 2, 6 }, { again.sent, again.failed, again.completed, again.already })
    for body, n in pairs(received(srv)) do assert.are.equal(1, n, body) end
    os.remove(j)
  end)

  it("treats a 4xx as not sent and a 503 as in doubt, never resent unless in_doubt = resend", function()
    local j = tmpname()
    srv:script({ "", "status=404" }) -- c1's create passes, its first reply is a 404
    local s = client:import(data(1, 2), { journal = j })
    assert.are.same({ 1, 0 }, { s.failed, s.in_doubt })
    srv:script({ "status=503" }) -- the retried reply now gets a 503: it may have been posted
    s = client:import(data(1, 2), { journal = j })
    assert.are.same({ 0, 1 }, { s.failed, s.in_doubt })
    assert.matches("may have been sent: .*503", s.doubts[1].reason)
    assert.are.equal(1, s.doubts[1].index)
    local n = #srv:requests()
    s = client:import(data(1, 2), { journal = j }) -- skip: m1 is not sent again, m2 goes on
    assert.are.same({ 1, 1 }, { s.in_doubt, s.sent })
    assert.are.equal(n + 1, #srv:requests())
    assert.are.equal("c1 m2", srv:requests()[n + 1].json.bodyMarkdown)
    s = client:import(data(1, 2), { journal = j, in_doubt = "resend" })
    assert.are.same({ 0, 1, 1 }, { s.in_doubt, s.sent, s.completed })
    assert.are.equal("c1 m1", srv:requests()[n + 2].json.bodyMarkdown)
    os.remove(j)
  end)

  it("stops a conversation whose creation is in doubt: its id never came", function()
    srv:script({ "status=502" })
    local s = client:import(data(2, 1), { journal = false })
    assert.are.same({ 1, 1, 0 }, { s.in_doubt, s.completed, s.failed })
    assert.are.equal(0, s.doubts[1].index)
    assert.are.equal(3, #srv:requests()) -- c1's create, then c2's create and reply
  end)

  it("survives a torn last journal line and records past it", function()
    local j = tmpname()
    client:import(data(1, 1), { journal = j })
    local f = assert(io.open(j, "ab"))
    f:write('{"k":"#1","i":1,"s":"se') -- what a kill in the middle of a write would leave
    f:close()
    local s = client:import(data(2, 1), { journal = j })
    assert.are.same({ 2, 2 }, { s.already, s.sent })
    for _, line in ipairs(journal_lines(j)) do
      if not line:find('"se$') then assert.is_table(cjson.decode(line)) end
    end
    assert.are.equal(2, client:import(data(2, 1), { journal = j }).completed)
    os.remove(j)
  end)

  it("refuses a journal another import holds", function()
    local j = tmpname()
    local f = assert(io.open(j, "ab"))
    assert(core.lock(f))
    assert.has_error(function() client:import(data(1, 0), { journal = j }) end,
      "featurebase.import: the journal " .. j .. " is in use by another import")
    f:close()
    assert.are.equal(1, client:import(data(1, 0), { journal = j }).completed)
    os.remove(j)
  end)

  it("refuses a file that is not a journal, and leaves it alone", function()
    local j = tmpname()
    local f = assert(io.open(j, "wb"))
    f:write('[{"from":{}}]')
    f:close()
    assert.has_error(function() client:import(data(1, 0), { journal = j }) end,
      "featurebase.import: " .. j
        .. ' is not an import journal (it does not start with {"featurebase_import_journal":1})')
    assert.are.equal('[{"from":{}}]', read(j))
    os.remove(j)
  end)

  it("notices when the input changed under a position key", function()
    local j = tmpname()
    client:import(data(2, 0), { journal = j })
    local swapped = data(2, 0)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    local s = client:import(swapped, { journal = j })
    assert.are.equal(2, s.failed)
    assert.matches("the input changed", s.failures[1].reason)
    assert.are.equal(2, #srv:requests())
    os.remove(j)
  end)

  it("reports a malformed conversation and a duplicate key, and goes on", function()
    local input = data(3, 0, true)
    input[2] = "nope"
    input[3].key = "old-1"
    local s = client:import(input, { journal = false })
    assert.are.same({ 1, 2 }, { s.completed, s.failed })
    assert.are.equal("not a table", s.failures[1].reason)
    assert.matches("also used by conversation #1", s.failures[2].reason)
  end)

  it("runs conversations side by side on the async engine with `concurrency`, each in order", function()
    local slow = H.client(srv, { base_url = srv.url .. "/__fb/mode/delay=100" })
    local j = tmpname()
    local t0 = os.time()
    local started = require("featurebase.core").now()
    local s = slow:import(data(8, 2, true), { journal = j, concurrency = 8 })
    local took = require("featurebase.core").now() - started
    assert.are.same({ 8, 24, 0 }, { s.completed, s.sent, s.failed })
    -- 24 requests of 100 ms each: one by one 2.4 s; 8 conversations at once, 3 rounds of 0.1 s
    assert.is_true(took < 1.5, ("took %.2f s"):format(took))
    io.write(("\n[23-import] 8 conversations x 3 requests at 100 ms, concurrency 8: %.2f s (one by one: 2.4 s)\n"):format(took))
    for c = 1, 8 do
      local parts = featurebase.parts(srv:conversation(s.ids["old-" .. c]))
      assert.are.same({ ("c%d m1"):format(c), ("c%d m2"):format(c) }, { parts[2].bodyMarkdown, parts[3].bodyMarkdown })
    end
    assert.are.equal(24, #srv:requests())
    assert.are.equal(0, slow:import(data(8, 2, true), { journal = j, concurrency = 8 }).sent) -- resumable
    assert(os.time() - t0 < 30)
    assert.has_error(function() slow:import({}, { journal = false, concurrency = 0 }) end)
    slow:close()
    os.remove(j)
  end)

  it("runs conversations through a pluggable runner, here interleaved in coroutines", function()
    local j = tmpname()
    local order = {}
    local function runner(jobs, work)
      local cos = {}
      for _, job in ipairs(jobs) do
        cos[#cos + 1] = coroutine.create(function()
          work(job, {
            create_conversation = function(p)
              local r, e = client:create_conversation(p)
              coroutine.yield()
              return r, e
            end,
            reply = function(id, p)
              order[#order + 1] = job.key
              local r, e = client:reply(id, p)
              coroutine.yield()
              return r, e
            end,
          })
        end)
      end
      repeat -- round robin until every conversation is done
        local alive = false
        for _, co in ipairs(cos) do
          if coroutine.status(co) ~= "dead" then
            assert(coroutine.resume(co))
            alive = true
          end
        end
      until not alive
    end
    local s = client:import(data(3, 2, true), { journal = j, runner = runner })
    assert.are.same({ 3, 9 }, { s.completed, s.sent })
    assert.are.same({ "old-1", "old-2", "old-3", "old-1", "old-2", "old-3" }, order)
    for c = 1, 3 do
      local parts = featurebase.parts(srv:conversation(s.ids["old-" .. c]))
      assert.are.same({ ("c%d m1"):format(c), ("c%d m2"):format(c) },
        { parts[2].bodyMarkdown, parts[3].bodyMarkdown })
    end
    assert.are.equal(0, client:import(data(3, 2, true), { journal = j }).sent)
    os.remove(j)
  end)

  it("reports progress as plain lines, a bar, or to a function", function()
    local log = tmpname()
    local out = assert(io.open(log, "w"))
    client:import(data(2, 1), { journal = false, progress = "lines", output = out })
    out:close()
    local text = read(log)
    assert.matches("import: #1 ok | 1/2 conversations  2/4 steps  [%d.]+/s  ETA [%d:%-]+  0 failed\n", text)
    assert.matches("import: finished in 0:0%d | 2/2 conversations  4/4 steps", text)
    out = assert(io.open(log, "w"))
    client:import(data(2, 1), { journal = false, progress = "bar", output = out })
    out:close()
    text = read(log)
    assert.matches("\r%[" .. ("#"):rep(24) .. "%] 2/2 conversations  4/4 steps .*\27%[K\n$", text)
    os.remove(log)
    local events = {}
    client:import(data(2, 1), { journal = false, progress = function(st, ev)
      events[#events + 1] = ev .. ":" .. st.processed
    end })
    assert.are.same({ "start:0", "step:1", "step:2", "conversation:2", "step:3", "step:4", "conversation:4",
      "finish:4" }, events)
  end)

  it("raises on misuse, naming the argument", function()
    assert.has_error(function() client:import("x", { journal = false }) end,
      "bad argument #1 to 'import' (list of conversations expected, got string)")
    assert.has_error(function() client:import({}, {}) end,
      "bad argument #2 to 'import' (journal: a file path is required to resume safely; false for none)")
    assert.has_error(function() client:import({}, { journal = false, in_doubt = "maybe" }) end,
      "bad argument #2 to 'import' (in_doubt: \"skip\" or \"resend\" expected)")
    assert.has_error(function() client:import({}, { journal = false, jurnal = 1 }) end,
      "bad argument #2 to 'import' (unknown option jurnal)")
    assert.has_error(function() client.import({}, {}, {}) end,
      "bad argument #1 to 'import' (featurebase.Client expected, got table: call it as client:import(...))")
  end)
end)
