-- Non-blocking calls: the libcurl multi engine (featurebase.core) and featurebase.async over it,
-- against the fake Featurebase server (real nginx). Timing bounds are generous: the machine is shared.
local featurebase = require("featurebase")
local core = require("featurebase.core")
local H = require("spec.helpers")

local function create(i)
  local p = H.contact_create()
  p.bodyMarkdown = "message " .. i
  return p
end

describe("async", function()
  local srv

  setup(function() srv = H.server() end)
  teardown(function() if srv then srv:stop() end end)
  before_each(function() srv:reset() end)

  local function slow(ms, opts)
    local o = { base_url = srv.url .. "/__fb/mode/delay=" .. ms }
    for k, v in pairs(opts or {}) do o[k] = v end
    return H.client(srv, o)
  end

  describe("map", function()
    it("runs 50 slow creates 25 at a time, far faster than one by one, results in order", function()
      local client = slow(200)
      local calls = {}
      for i = 1, 50 do calls[i] = { "create_conversation", create(i) } end
      local t0 = core.now()
      local results = client:map(calls, { concurrency = 25 })
      local elapsed = core.now() - t0
      assert.are.equal(50, #results)
      for i, r in ipairs(results) do
        assert.is_nil(r.err)
        assert.are.equal("message " .. i, r.value.source.bodyMarkdown)
        assert.are.equal(201, r.response.status)
        assert.are.equal(1, r.response.attempts)
      end
      -- one by one would take 10 s; two waves of 25 take 0.4 s
      assert.is_true(elapsed < 4, "took " .. elapsed .. " s")
      assert.is_true(elapsed >= 0.39, "took " .. elapsed .. " s")
      assert.are.equal(50, #srv:requests())
      client:close()
    end)

    it("never has more than `concurrency` calls in flight", function()
      local client = slow(100)
      local calls = {}
      for i = 1, 12 do calls[i] = { "create_conversation", create(i) } end
      local t0 = core.now()
      client:map(calls, { concurrency = 3 })
      -- four waves of 100 ms: with more in flight it would be faster
      assert.is_true(core.now() - t0 >= 0.39)
      client:close()
    end)

    it("reuses kept-alive connections across waves", function()
      local client = H.client(srv)
      local calls = {}
      for i = 1, 40 do calls[i] = { "create_conversation", create(i) } end
      client:map(calls, { concurrency = 4 })
      local stats = client._async.engine:stats()
      assert.are.equal(40, stats.transfers)
      assert.is_true(stats.connects <= 8, stats.connects .. " connections for 40 requests")
      assert.is_true(stats.pooled <= 4)
      client:close()
    end)

    it("mixes creates and replies; invalid calls get invalid_request and are never sent", function()
      local client = H.client(srv)
      local conv = assert(client:create_conversation(H.contact_create()))
      local bad = H.admin_reply()
      bad.messageType = "whisper"
      local results = client:map({
        { "reply", conv.id, H.admin_reply() },
        { "create_conversation", { from = { type = "contact" }, bodyMarkdown = "x" } },
        { "reply", conv.id, bad },
        { "create_conversation", create(4), { max_retries = 0 } },
      })
      assert.is_nil(results[1].err)
      assert.are.equal("conversation_part", results[1].value.object)
      assert.are.equal("invalid_request", results[2].err.kind)
      assert.are.equal("from.id", results[2].err.field)
      assert.is_nil(results[2].response)
      assert.are.equal("invalid_request", results[3].err.kind)
      assert.are.equal("messageType", results[3].err.field)
      assert.are.equal("message 4", results[4].value.source.bodyMarkdown)
      assert.are.equal(3, #srv:requests()) -- the first create, and the two valid calls
      client:close()
    end)

    it("returns an empty list for no calls, and raises on misuse", function()
      local client = H.client(srv)
      assert.are.same({}, client:map({}))
      assert.has_error(function() client:map("x") end)
      assert.has_error(function() client:map({ { "delete", {} } }) end)
      assert.has_error(function() client:map({ { "create_conversation" } }) end)
      assert.has_error(function() client:map({}, { concurrency = 0 }) end)
      assert.has_error(function() client:map({}, { concurrency = 1.5 }) end)
      client:close()
    end)
  end)

  describe("callbacks", function()
    it("get value, nil, response, never before the *_async method returns", function()
      local client = H.client(srv)
      local returned, got = false, {}
      client:create_conversation_async(H.contact_create(), function(conv, err, res)
        assert.is_true(returned)
        got.conv, got.err, got.res = conv, err, res
        client:reply_async(conv.id, H.admin_reply(), function(part, rerr)
          got.part, got.rerr = part, rerr
        end)
      end)
      returned = true
      assert.is_nil(got.conv)
      client:run()
      assert.is_nil(got.err)
      assert.are.equal("conversation", got.conv.object)
      assert.are.equal(201, got.res.status)
      assert.is_string(got.res.request_id)
      assert.is_nil(got.rerr)
      assert.are.equal("admin_msg", got.part.partType)
      assert.are.equal(2, #srv:requests())
      client:close()
    end)

    it("apply the client's limits, as the blocking calls do", function()
      local client = H.client(srv, { max_response_size = 64 })
      local got
      client:create_conversation_async(H.contact_create(), function(conv, err) got = { conv, err } end)
      client:run()
      assert.is_nil(got[1])
      assert.are.equal("network", got[2].kind)
      assert.are.equal("max_response_size", got[2].limit)
      client:close()
    end)

    it("deliver invalid input as invalid_request through the callback, with nothing sent", function()
      local client = H.client(srv)
      local returned, got = false, nil
      local p = H.contact_create()
      p.channel = "fax"
      client:create_conversation_async(p, function(v, err, res)
        assert.is_true(returned)
        got = { v = v, err = err, res = res }
      end)
      returned = true
      client:reply_async("", H.admin_reply(), function(_, err) got.reply_err = err end)
      client:create_conversation_async(H.contact_create(), function(_, err) got.opt_err = err end, { timeout = -1 })
      client:run()
      assert.is_nil(got.v)
      assert.are.equal("invalid_request", got.err.kind)
      assert.are.equal("channel", got.err.field)
      assert.is_nil(got.res)
      assert.are.equal("invalid_request", got.reply_err.kind)
      assert.are.equal("timeout", got.opt_err.field)
      assert.are.equal(0, #srv:requests())
      client:close()
    end)

    it("raise on misuse, before anything is queued", function()
      local client = H.client(srv)
      assert.has_error(function() client:create_conversation_async(H.contact_create()) end)
      assert.has_error(function() client:create_conversation_async("x", function() end) end)
      assert.has_error(function() client:reply_async("1", H.admin_reply(), function() end, "opts") end)
      assert.has_error(function() client.create_conversation_async(nil, {}, function() end) end)
      client:run()
      assert.are.equal(0, #srv:requests())
      client:close()
    end)

    it("errors are re-raised by run(), and the other calls still finish", function()
      local client = H.client(srv)
      local called = 0
      client:create_conversation_async(create(1), function() called = called + 1 error("boom from callback") end)
      client:create_conversation_async(create(2), function() called = called + 1 end)
      client:create_conversation_async(create(3), function() called = called + 1 error({ code = 7 }) end)
      -- each run() re-raises one kept error; the calls finish whatever the order
      local errors = {}
      for _ = 1, 3 do
        local ok, err = pcall(client.run, client)
        if ok then break end
        errors[#errors + 1] = err
      end
      assert.are.equal(2, #errors)
      local str, tbl = errors[1], errors[2]
      if type(str) == "table" then str, tbl = tbl, str end
      assert.truthy(str:find("boom from callback", 1, true))
      assert.truthy(str:find("stack traceback:", 1, true), str) -- where the callback raised it
      assert.are.equal(7, tbl.code) -- error values that are not strings come back as they were
      assert.are.equal(3, called)
      assert.are.equal(3, #srv:requests())
      client:close()
    end)

    it("keep the callback's error value as it was", function()
      local client = H.client(srv)
      local e = setmetatable({}, { __tostring = function() return "custom" end })
      client:create_conversation_async(create(1), function() error(e) end)
      local ok, err = pcall(client.run, client)
      assert.is_false(ok)
      assert.are.equal(e, err)
      client:close()
    end)
  end)

  describe("paging", function()
    -- conversations_async until done, under client:run(); returns the items and what on_done got
    local function page_all(client, query, on_item)
      local items, done = {}, nil
      client:conversations_async(query, function(conv)
        items[#items + 1] = conv
        if on_item then return on_item(conv) end
      end, function(ok, err) done = { ok = ok, err = err } end)
      client:run()
      return items, done
    end

    it("calls on_item for every item across pages, in order, then on_done(true)", function()
      local client = H.client(srv)
      local want = srv:seed({ conversations = 25 }).conversations -- the ids in listing order
      local items, done = page_all(client, { limit = 10 })
      assert.are.same({ ok = true }, done)
      local ids = {}
      for i, conv in ipairs(items) do ids[i] = conv.id end
      assert.are.same(want, ids)
      local reqs = srv:requests()
      assert.are.equal(3, #reqs) -- 10 + 10 + 5
      assert.is_nil((reqs[1].query or ""):find("cursor", 1, true))
      assert.truthy(reqs[2].query:find("cursor=", 1, true))
      assert.truthy(reqs[3].query:find("cursor=", 1, true))
      assert.are_not.equal(reqs[2].query, reqs[3].query)
      srv:seed({ contacts = 7 })
      local contacts, cdone = 0, nil
      client:contacts_async({ limit = 3 }, function() contacts = contacts + 1 end, function(ok) cdone = ok end)
      client:run()
      assert.are.equal(7, contacts)
      assert.is_true(cdone)
      client:close()
    end)

    it("stops when on_item returns false: no further page is fetched", function()
      local client = H.client(srv)
      srv:seed({ conversations = 25 })
      local items, done = page_all(client, { limit = 10 }, function()
        return false
      end)
      assert.are.equal(1, #items)
      assert.are.same({ ok = true }, done)
      assert.are.equal(1, #srv:requests())
      local n = 0
      items, done = page_all(client, { limit = 10 }, function()
        n = n + 1
        if n == 10 then return false end -- the last item of the first page
      end)
      assert.are.equal(10, #items)
      assert.is_true(done.ok)
      assert.are.equal(2, #srv:requests())
      client:close()
    end)

    it("ends with on_done(nil, err) when a page fails, never as if the list were complete", function()
      local client = H.client(srv)
      srv:seed({ conversations = 30 })
      srv:script({ { match = "GET /v2/conversations", modes = "status=400", skip = 1 } })
      local items, done = page_all(client, { limit = 10 })
      assert.are.equal(10, #items)
      assert.is_nil(done.ok)
      assert.is_true(featurebase.is_error(done.err))
      assert.are.equal("http", done.err.kind)
      assert.are.equal(400, done.err.status)
      assert.are.equal(2, #srv:requests())
      -- an invalid query is refused before anything is sent, through on_done as well
      items, done = page_all(client, { limit = "ten" })
      assert.are.equal(0, #items)
      assert.are.equal("invalid_request", done.err.kind)
      assert.are.equal("limit", done.err.field)
      assert.are.equal(2, #srv:requests())
      client:close()
    end)

    it("runs inside another call's callback, and never calls back before it returns", function()
      local client = H.client(srv)
      srv:seed({ conversations = 5 })
      local returned, n, done = false, 0, nil
      local refused
      client:list_contacts_async(nil, function()
        refused = select(2, pcall(client.contacts, client))
        client:conversations_async({ limit = 2 }, function()
          assert.is_true(returned)
          n = n + 1
        end, function(ok, err) done = { ok, err } end)
        returned = true
      end)
      client:run()
      assert.are.equal(5, n)
      assert.are.same({ true }, done)
      -- the blocking pager is refused inside run(), naming its async form
      assert.truthy(tostring(refused):find("use client:contacts_async(...)", 1, true), tostring(refused))
      client:close()
    end)

    it("raises on misuse, naming the argument, before anything is sent", function()
      local client = H.client(srv)
      local f = function() end
      assert.has_error(function() client:conversations_async("open", f, f) end,
        "bad argument #1 to 'conversations_async' (table expected, got string)")
      assert.has_error(function() client:conversations_async(nil, nil, f) end,
        "bad argument #2 to 'conversations_async' (function expected, got nil)")
      assert.has_error(function() client:contacts_async({}, f) end,
        "bad argument #3 to 'contacts_async' (function expected, got nil)")
      assert.has_error(function() client:contacts_async({}, f, f, "opts") end,
        "bad argument #4 to 'contacts_async' (table of options expected, got string)")
      assert.has_error(function() client.conversations_async({}, f, f) end)
      client:run()
      assert.are.equal(0, #srv:requests())
      client:close()
    end)
  end)

  describe("retries", function()
    it("use the blocking pipeline's rules, waiting without blocking the other calls", function()
      local client = H.client(srv)
      srv:script({ "429,retry-after=1" })
      local t0, times, res = core.now(), {}, {}
      for i = 1, 2 do
        client:create_conversation_async(create(i), function(v, err, r)
          times[i], res[i] = core.now() - t0, { v = v, err = err, r = r }
        end)
      end
      client:run()
      local slow_i = res[1].r.attempts == 2 and 1 or 2
      local fast_i = 3 - slow_i
      assert.is_nil(res[slow_i].err)
      assert.are.equal(2, res[slow_i].r.attempts)
      assert.are.equal(1, res[fast_i].r.attempts)
      assert.is_true(times[slow_i] >= 0.99, "retried after " .. times[slow_i])
      assert.is_true(times[fast_i] < 0.9, "the other call waited " .. times[fast_i])
      assert.are.equal(3, #srv:requests())
      client:close()
    end)

    it("do not resend what the server may have acted on, unless retry_unsafe", function()
      local client = H.client(srv)
      srv:script({ "status=503" })
      local r1 = client:map({ { "create_conversation", create(1) } })[1]
      assert.are.equal("http", r1.err.kind)
      assert.are.equal(503, r1.err.status)
      assert.are.equal(1, r1.err.attempts)
      srv:script({ "status=503", "status=502" })
      local r2 = client:map({ { "create_conversation", create(2), { retry_unsafe = true, max_retries = 2 } } })[1]
      assert.is_nil(r2.err)
      assert.are.equal(3, r2.response.attempts)
      client:close()
    end)

    it("report network failures and timeouts like the blocking calls", function()
      local client = slow(3000, { timeout = 0.3, max_retries = 0 })
      local dead = assert(featurebase.new({ api_key = H.KEY, base_url = "http://127.0.0.1:9", max_retries = 0 }))
      local r = client:map({ { "create_conversation", create(1) } })[1]
      assert.are.equal("timeout", r.err.kind)
      assert.is_true(r.err.request_sent)
      local d = dead:map({ { "create_conversation", create(1) } })[1]
      assert.are.equal("network", d.err.kind)
      assert.is_false(d.err.request_sent)
      -- the same message but for curl's own timing ("after 0 ms" / "after 1 ms")
      local function untimed(m) return (m:gsub("after %d+ ms", "after N ms")) end
      assert.are.equal(untimed(d.err.message), untimed(select(2, dead:create_conversation(create(1))).message))
      client:close()
      dead:close()
    end)
  end)

  describe("engine", function()
    it("can be driven by any event loop: sockets(), timeout(), socket_action(), timeout_action()", function()
      local socket = require("socket")
      local client = H.client(srv)
      local engine = core.engine(client._core)
      local path, body = H.encode_create(H.contact_create())
      local ids = {}
      for i = 1, 5 do ids[i] = engine:add("POST", path, body) end
      assert.are.equal(0, engine:timeout()) -- a new transfer wants action now
      local watched, results, changes = {}, {}, 0
      local deadline = core.now() + 10
      while #results < 5 and core.now() < deadline do
        for _, ch in ipairs(engine:sockets()) do
          changes = changes + 1
          assert.is_true(ch.what == "r" or ch.what == "w" or ch.what == "rw" or ch.what == "remove")
          watched[ch.fd] = ch.what ~= "remove" and ch.what or nil
        end
        local recvt, sendt = {}, {}
        for fd, what in pairs(watched) do
          local obj = { getfd = function() return fd end, fd = fd }
          if what:find("r") then recvt[#recvt + 1] = obj end
          if what:find("w") then sendt[#sendt + 1] = obj end
        end
        local ms = engine:timeout()
        local r, w = socket.select(recvt, sendt, ms and ms / 1000 or 1)
        local acted = false
        local ready = {}
        for _, o in ipairs(r) do ready[o.fd] = { true, false } end
        for _, o in ipairs(w) do ready[o.fd] = { ready[o.fd] and true or false, true } end
        for fd, rw in pairs(ready) do engine:socket_action(fd, rw[1], rw[2]) acted = true end
        if not acted or engine:timeout() == 0 then engine:timeout_action() end
        for _, d in ipairs(engine:done()) do results[#results + 1] = d end
      end
      assert.are.equal(5, #results)
      assert.is_true(changes > 0)
      local seen = {}
      for _, d in ipairs(results) do
        assert.are.equal(201, d.response.status)
        assert.are.equal("conversation", d.value.object)
        seen[d.id] = true
      end
      for _, id in ipairs(ids) do assert.is_true(seen[id]) end
      engine:close()
      client:close()
    end)

    it("run(): a call added between two runs is sent at once; after sockets(), run() still drives", function()
      local socket = require("socket")
      local client = slow(150)
      local path, body = H.encode_create(H.contact_create())
      local function one(engine)
        local id = engine:add("POST", path, body)
        local d
        repeat engine:run(100) d = engine:done()[1] until d
        assert.are.equal(id, d.id)
        assert.are.equal(201, d.response.status)
        return d
      end
      local engine = client._core:engine()
      one(engine) -- a kept-alive connection now
      if engine.event_fd then
        -- run() drives curl's socket_action on its own epoll set (event_fd's): add() sent the
        -- request, so the answer (150 ms later) is there for the first run(0), without waiting
        local id = engine:add("POST", path, body)
        socket.sleep(0.4)
        engine:run(0)
        local d = engine:done()[1]
        assert.is_truthy(d, "the request had not been sent by add()")
        assert.are.equal(id, d.id)
        assert.is_true(engine:event_fd() >= 0)
      end
      engine:close()
      -- an engine whose sockets an event loop watched through sockets(): run() uses curl_multi_perform
      engine = client._core:engine()
      engine:add("POST", path, body)
      local n = 0
      repeat
        n = n + #engine:sockets()
        engine:timeout_action()
        socket.sleep(0.01)
      until n > 0
      local got
      repeat engine:run(100) got = engine:done()[1] until got
      assert.are.equal(201, got.response.status)
      one(engine)
      engine:close()
      client:close()
    end)

    it("done(max) hands over at most max results, oldest first; the rest wait for the next done()", function()
      local client = H.client(srv)
      local engine = client._core:engine()
      local path, body = H.encode_create(H.contact_create())
      local ids = { engine:add("POST", path, body), engine:add("POST", path, body), engine:add("GET", "/v2/nope") }
      local deadline = core.now() + 10
      while engine:run(100) > 0 and core.now() < deadline do end
      assert.are.same({}, engine:done(0))
      local first = engine:done(1)
      assert.are.equal(1, #first)
      local rest = engine:done()
      assert.are.equal(2, #rest)
      local seen = { [first[1].id] = true, [rest[1].id] = true, [rest[2].id] = true }
      for _, id in ipairs(ids) do assert.is_true(seen[id]) end
      assert.are.same({}, engine:done())
      engine:close()
      client:close()
    end)

    it("returns results shaped exactly like client:perform's", function()
      local client = H.client(srv)
      local engine = client._core:engine()
      local path, body = H.encode_create(H.contact_create())
      local ok_id, nope_id = engine:add("POST", path, body), engine:add("GET", "/v2/nope")
      local got, n = {}, 0
      while n < 2 do
        engine:run(100)
        for _, d in ipairs(engine:done()) do got[d.id], n = d, n + 1 end
      end
      local value, response = client._core:perform("POST", path, body)
      for k, v in pairs(value) do assert.are.equal(type(v), type(got[ok_id].value[k])) end
      for k, v in pairs(response) do assert.are.equal(type(v), type(got[ok_id].response[k])) end
      for k in pairs(got[ok_id].response) do assert.is_not_nil(response[k]) end
      local none, err = client._core:perform("GET", "/v2/nope")
      assert.is_nil(none)
      assert.are.equal(err.status, got[nope_id].err.status)
      assert.are.equal(404, got[nope_id].err.status)
      engine:close()
      client:close()
    end)

    it("closes idempotently, refuses use after close, and is collected", function()
      local client = H.client(srv)
      local engine = client._core:engine()
      engine:add("POST", "/v2/conversations", "{}")
      engine:close()
      engine:close()
      assert.has_error(function() engine:add("POST", "/v2/conversations", "{}") end, "featurebase: the engine is closed")
      assert.has_error(function() engine:run(1) end)
      assert.are.equal("featurebase.Engine (closed)", tostring(engine))
      -- dropped with transfers in flight: __gc frees everything
      local weak = setmetatable({}, { __mode = "v" })
      do
        local e = client._core:engine()
        e:add("POST", "/v2/conversations", "{}")
        e:run(0)
        weak[1] = e
      end
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])
      assert.has_error(function() core.engine({}) end)
      client:close()
      assert.has_error(function() core.engine(client._core) end)
    end)

    it("outlives a closed client's handle, and client:close() drops calls in flight", function()
      local client = slow(300)
      local handle = client._core
      local engine = handle:engine()
      handle:close()
      local path, body = H.encode_create(H.contact_create())
      engine:add("POST", path, body)
      local got
      repeat engine:run(100) got = engine:done()[1] until got
      assert.are.equal(201, got.response.status)
      engine:close()

      local c2 = slow(300)
      local called = false
      c2:create_conversation_async(H.contact_create(), function() called = true end)
      c2:close()
      assert.has_error(function() c2:create_conversation_async(H.contact_create(), function() end) end)
      assert.has_error(function() c2:run() end)
      assert.is_false(called)
      local weak = setmetatable({}, { __mode = "v" })
      do
        local c3 = slow(300)
        c3:create_conversation_async(H.contact_create(), function() end)
        weak[1] = c3._async.engine
      end
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])
    end)
  end)
end)
