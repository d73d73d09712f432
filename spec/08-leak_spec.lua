-- Nothing the module hands out or takes in stays alive once the caller lets go of it (weak tables
-- and collectgarbage(), as in Lua-cURLv3's test/utils.lua), and a long run of calls against the
-- fake server leaves the process's resident memory flat.
--
-- FEATUREBASE_LEAK_CALLS sets the number of calls of the long run (default 100,000: about 9 s on
-- every Lua, at ~90 us a call; `make check-memory` runs fewer, since each call is 30x slower there).
-- FEATUREBASE_MEMCHECK=1 (set by `make check-memory`) keeps the run but drops the RSS bound:
-- valgrind and ASan hold freed memory in quarantine on purpose, so RSS grows under them.
local featurebase = require("featurebase")
local core = require("featurebase.core")
local testing = require("featurebase.testing")
local H = require("spec.helpers")

local MEMCHECK = os.getenv("FEATUREBASE_MEMCHECK") == "1"
local CALLS = tonumber(os.getenv("FEATUREBASE_LEAK_CALLS") or "") or 100000
local WARMUP = math.min(5000, math.ceil(CALLS / 10))
local RSS_GROWTH_MAX_KIB = 4096

local function gc()
  for _ = 1, 4 do collectgarbage("collect") end
end

-- A table that holds its values weakly: after gc(), only what something else keeps is left.
local function weak()
  return setmetatable({}, { __mode = "v" })
end

local function alive(w)
  local names = {}
  for k in pairs(w) do names[#names + 1] = tostring(k) end
  table.sort(names)
  return names
end

local PAGE_KIB
local function rss_kib()
  if not PAGE_KIB then
    local p = assert(io.popen("getconf PAGESIZE"))
    PAGE_KIB = tonumber(p:read("*a")) / 1024
    p:close()
  end
  local f = assert(io.open("/proc/self/statm"))
  local resident = tonumber(f:read("*l"):match("^%d+%s+(%d+)"))
  f:close()
  return resident * PAGE_KIB
end

describe("memory", function()
  local srv

  setup(function()
    srv = testing.start({ api_key = H.KEY, record = false })
  end)

  teardown(function()
    if srv then srv:stop() end
  end)

  it("collects clients, open, closed or used, and their C handles", function()
    local w = weak()
    do
      local used = H.client(srv)
      assert(used:create_conversation(H.contact_create()))
      w.used, w.used_core = used, used._core
      local closed = H.client(srv)
      closed:close()
      w.closed = closed
      local idle = H.client(srv)
      w.idle, w.idle_core = idle, idle._core
      w.bare_core = assert(core.new({ api_key = H.KEY, base_url = srv.url }))
    end
    gc()
    assert.are.same({}, alive(w))
  end)

  it("collects the values, errors and responses calls return", function()
    local w = weak()
    local client = H.client(srv, { max_retries = 0 })
    do
      local conv, _, res = client:create_conversation(H.contact_create())
      assert.is_table(conv)
      w.conv, w.res, w.headers, w.rate_limit = conv, res, res.headers, res.rate_limit
      local part, _, rres = client:reply(conv.id, H.admin_reply())
      w.part, w.reply_res = assert(part), rres
      local _, invalid = client:create_conversation({ bodyMarkdown = 1 })
      w.invalid = assert(invalid)
      local _, missing, mres = client:reply("nope", H.admin_reply())
      assert.are.equal("http", missing.kind)
      w.http, w.http_body, w.http_res = missing, missing.body, mres
      local failing = H.client(srv, { base_url = srv.url .. "/__fb/mode/status=500", max_retries = 0 })
      local _, server_err = failing:create_conversation(H.contact_create())
      assert.are.equal(500, server_err.status)
      w.server_err, w.failing = server_err, failing
      local malformed = H.client(srv, { base_url = srv.url .. "/__fb/mode/malformed" })
      local _, decode_err = malformed:create_conversation(H.contact_create())
      assert.are.equal("decode", decode_err.kind)
      w.decode_err, w.malformed = decode_err, malformed
      local _, opt_err = featurebase.new({ api_key = H.KEY, base_url = "ftp://x" })
      w.option_err = assert(opt_err)
      assert.is_string(tostring(invalid))
    end
    gc()
    assert.are.same({}, alive(w))
    client:close()
  end)

  it("collects network errors (nothing listening)", function()
    local w = weak()
    do
      -- a port that was free a moment ago: connection refused, not retried with max_retries = 0
      local probe = testing.start({ api_key = H.KEY, record = false })
      local url = probe.url
      probe:stop()
      local c = H.client({ url = url }, { max_retries = 0 })
      local _, err = c:create_conversation(H.contact_create())
      assert.are.equal("network", err.kind)
      w.err, w.client = err, c
    end
    gc()
    assert.are.same({}, alive(w))
  end)

  it("keeps no reference to the params it validated or sent", function()
    local w = weak()
    local client = H.client(srv)
    do
      local ok_params, bad_params = H.admin_email(), H.admin_email()
      bad_params.recipients.to.emails[1] = "not an address"
      assert(client:create_conversation(ok_params))
      assert.is_nil((client:create_conversation(bad_params)))
      local cyclic = H.contact_create()
      cyclic.from.self = cyclic
      assert.is_nil((H.encode_create(cyclic)))
      w.ok_params, w.bad_params, w.cyclic = ok_params, bad_params, cyclic
    end
    gc()
    assert.are.same({}, alive(w))
    client:close()
  end)

  it(("leaves RSS flat over %d calls against the fake server"):format(CALLS), function()
    local client = H.client(srv)
    local failing = H.client(srv, { base_url = srv.url .. "/__fb/mode/status=500", max_retries = 0 })
    local conv_id
    -- A mix of every path: create, reply, an http error with a JSON body, a refused request.
    local function call(i)
      local k = i % 8
      if k == 0 or not conv_id then
        if i % 20000 == 0 then srv:reset() end -- keeps the fake server's own store small
        local conv = assert(client:create_conversation(H.contact_create()))
        conv_id = conv.id
      elseif k < 6 then
        assert(client:reply(conv_id, H.admin_reply()))
      elseif k == 6 then
        local _, err = failing:reply(conv_id, H.admin_reply())
        assert(err.status == 500)
      else
        local _, err = client:reply(conv_id, { type = "admin", bodyMarkdown = "no id" })
        assert(err.kind == "invalid_request")
      end
    end

    -- Lua 5.4's interpreter runs the generational GC, which sizes its next major collection on the
    -- largest heap it has seen: after spec 06's 50 MiB strings it lets ~100 MiB of garbage pile up.
    -- That is pacing, not a leak; the incremental mode measures what this test is about.
    local mode = _VERSION == "Lua 5.4" and collectgarbage("incremental")
    for i = 1, WARMUP do call(i) end
    gc()
    local before = rss_kib()
    local t0 = core.now()
    for i = 1, CALLS do call(i) end
    local elapsed = core.now() - t0
    gc()
    local after = rss_kib()
    local growth = after - before
    if mode then collectgarbage(mode) end
    io.write(("\n[08-leak] %s: %d calls (after %d warm-up) in %.1f s (%.0f us/call): RSS %d KiB -> %d KiB, "
      .. "growth %d KiB (bound %d KiB%s)\n"):format(jit and jit.version or _VERSION, CALLS, WARMUP, elapsed,
      elapsed / CALLS * 1e6, before, after, growth, RSS_GROWTH_MAX_KIB,
      MEMCHECK and ", not applied under a memory checker" or ""))
    if not MEMCHECK then
      assert(growth < RSS_GROWTH_MAX_KIB, ("RSS grew by %d KiB over %d calls"):format(growth, CALLS))
    end
    client:close()
    failing:close()
  end)
end)
