-- TLS, CAs and proxies on every transport: the fake server also serves HTTPS + HTTP/2 on loopback
-- with certificates made by openssl (featurebase.testing.certificates: a test CA, a trusted server
-- certificate, an expired one, one for a wrong host name, a self-signed one), and a small proxy
-- (spec/fixtures/connect_proxy.py) records every byte a client sent through it.
local cjson = require("cjson")
local socket = require("socket")
local featurebase = require("featurebase")
local core = require("featurebase.core")
local options = require("featurebase.options")
local testing = require("featurebase.testing")
local H = require("spec.helpers")

local ROOT = io.popen("pwd"):read("*l")
local BAD = { "untrusted", "expired", "wrong_host" }

local function sh(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

local function own_pid() return tonumber(read("/proc/self/stat"):match("^(%d+)")) end

-- This machine's first address that is not loopback (where a "remote" proxy can listen).
local function outside_address()
  for a in (io.popen("hostname -I 2>/dev/null"):read("*a") or ""):gmatch("%S+") do
    if a:match("^%d+%.%d+%.%d+%.%d+$") and not a:match("^127%.") then return a end
  end
end

-- Starts spec/fixtures/connect_proxy.py; returns {port=, log=, clear=, seen=}.
local function start_proxy(dir, name, cert, key)
  local port_file, log = dir .. "/" .. name .. ".port", dir .. "/" .. name .. ".log"
  assert(sh(("python3 %s/spec/fixtures/connect_proxy.py %s %s %d %s %s >%s/%s.out 2>&1 &"):format(ROOT, port_file,
    log, own_pid(), cert or "", key or "", dir, name)))
  local t0 = socket.gettime()
  while read(port_file) == "" do
    assert(socket.gettime() - t0 < 5, "the proxy did not start: " .. read(dir .. "/" .. name .. ".out"))
    socket.sleep(0.02)
  end
  return { port = tonumber(read(port_file)), seen = function() return read(log) end,
    clear = function() os.remove(log) end }
end

local function create(c) return c:create_conversation(H.contact_create()) end

-- The libcurl transports, each as call(client) -> value, err.
local TRANSPORTS = {
  { "blocking", create },
  { "async engine", function(c)
    local r = c:map({ { "create_conversation", H.contact_create() } })[1]
    return r.value, r.err
  end },
}

describe("TLS and proxies", function()
  local srv, dir, proxy, tls_proxy

  setup(function()
    srv = testing.start({ api_key = H.KEY, tls = true })
    dir = io.popen("mktemp -d"):read("*l")
    proxy = start_proxy(dir, "proxy")
    tls_proxy = start_proxy(dir, "tls_proxy", srv.certificates.server, srv.certificates.server_key)
  end)
  teardown(function()
    if srv then srv:stop() end
    if dir then sh("rm -rf '" .. dir .. "'") end
  end)
  before_each(function()
    srv:reset()
    proxy.clear()
    tls_proxy.clear()
  end)

  local function client(url, opts)
    local o = { api_key = H.KEY, base_url = url or srv.url, ca_file = srv.ca_file, max_retries = 0 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(featurebase.new(o))
  end

  for _, t in ipairs(TRANSPORTS) do
    local name, call = t[1], t[2]
    describe(name, function()
      it("reaches a server whose certificate the ca_file's CA signed, over HTTP/2", function()
        local conv, err = call(client())
        assert.is_nil(err)
        assert.are.equal("conversation", conv.object)
        local reqs = srv:requests()
        assert.are.equal(1, #reqs)
        assert.are.equal("Bearer " .. H.KEY, reqs[1].headers.authorization)
        local api = srv:tls_stats().api
        assert.are.equal(1, api.requests)
        assert.are.equal(1, api.h2)
      end)

      it("without ca_file, the test CA is not trusted (the system's store is used)", function()
        local conv, err = call(assert(featurebase.new({ api_key = H.KEY, base_url = srv.url, max_retries = 0 })))
        assert.is_nil(conv)
        assert.are.equal("network", err.kind)
        assert.are.equal(false, err.request_sent)
        assert.matches("TLS: SSL certificate problem", err.message, 1, true)
        assert.are.equal(0, #srv:requests())
      end)

      it("refuses an untrusted, an expired and a wrong-host certificate before sending anything", function()
        local expect = { untrusted = "self%-signed certificate", expired = "certificate has expired",
          wrong_host = "no alternative certificate subject name matches target host name 'localhost'" }
        for _, bad in ipairs(BAD) do
          local conv, err = call(client(srv.bad_tls[bad]))
          assert.is_nil(conv, bad)
          assert.are.equal("network", err.kind, bad)
          assert.are.equal(false, err.request_sent, bad)
          assert.matches("failed: TLS: .*" .. expect[bad], err.message)
          assert.is_nil(tostring(err):find(H.KEY, 1, true))
        end
        assert.are.equal(0, #srv:requests())
        local stats = srv:tls_stats()
        for _, bad in ipairs(BAD) do
          assert.are.equal(1, stats[bad].handshakes, bad) -- the handshake began, then the client refused
          assert.is_nil(stats[bad].requests, bad)
        end
      end)

      it("goes through an http proxy only in a CONNECT tunnel: the proxy never sees the key", function()
        local conv, err = call(client(nil, { proxy = "http://127.0.0.1:" .. proxy.port }))
        assert.is_nil(err)
        assert.are.equal("conversation", conv.object)
        local seen = proxy.seen()
        assert.matches("^CONNECT localhost:" .. srv.tls_port .. " HTTP/1%.1\r\n", seen)
        assert.is_true(#seen > 500, "the TLS bytes went through the proxy") -- ClientHello and more
        assert.is_nil(seen:find(H.KEY, 1, true))
        assert.is_nil(seen:lower():find("authorization", 1, true))
        assert.is_nil(seen:find("/v2/conversations", 1, true))
        assert.are.equal("Bearer " .. H.KEY, srv:requests()[1].headers.authorization) -- the origin got it
      end)

      it("goes through an https proxy verified with the same ca_file, in a tunnel", function()
        local conv, err = call(client(nil, { proxy = "https://localhost:" .. tls_proxy.port }))
        assert.is_nil(err)
        assert.are.equal("conversation", conv.object)
        local seen = tls_proxy.seen()
        assert.matches("^CONNECT localhost:" .. srv.tls_port .. " HTTP/1%.1\r\n", seen)
        assert.is_nil(seen:find(H.KEY, 1, true))
        assert.are.equal(1, #srv:requests())
        -- without the CA the proxy's own certificate is refused: nothing reaches the proxy's log
        tls_proxy.clear()
        local c = assert(featurebase.new({ api_key = H.KEY, base_url = "https://localhost:" .. srv.tls_port,
          proxy = "https://localhost:" .. tls_proxy.port, max_retries = 0 }))
        conv, err = call(c)
        assert.is_nil(conv)
        assert.are.equal("network", err.kind)
        assert.are.equal(false, err.request_sent)
        assert.matches("TLS: ", err.message, 1, true)
        -- (the first call's tunnel may still log its closing bytes: only a new CONNECT would matter)
        assert.is_nil(tls_proxy.seen():find("CONNECT", 1, true))
      end)

      it("sends http:// to this machine directly, never through a proxy elsewhere", function()
        -- the proxy option: refused unless the proxy is on this machine too
        local c, err = featurebase.new({ api_key = H.KEY, base_url = srv.http_url,
          proxy = "http://192.0.2.10:3128" })
        assert.is_nil(c)
        assert.are.equal("proxy", err.field)
        assert.matches("clear text", err.message)
        -- a loopback proxy is used (the key is seen by this machine only)
        local conv
        conv, err = call(client(srv.http_url, { proxy = "http://127.0.0.1:" .. proxy.port }))
        assert.is_nil(err)
        assert.are.equal("conversation", conv.object)
        assert.matches("^POST http://127%.0%.0%.1:" .. srv.port .. "/v2/conversations HTTP/1%.1\r\n", proxy.seen())
      end)
    end)
  end

  describe("the proxy environment variables", function()
    -- A child Lua makes one call with env set; prints the result.
    local CODE = [[
      local fb = require("featurebase")
      local c = assert(fb.new({ api_key = %q, base_url = %q, ca_file = %q, max_retries = 0 }))
      local conv, err = c:create_conversation({ from = { type = "contact", id = %q }, bodyMarkdown = "env" })
      io.write(conv and ("ok " .. conv.object) or ("err " .. tostring(err)))
    ]]
    local function child(env, url)
      return H.run_lua(env, CODE:format(H.KEY, url, srv.ca_file, H.CONTACT))
    end

    it("https: https_proxy, HTTPS_PROXY and ALL_PROXY are used, through a tunnel; no_proxy bypasses", function()
      for _, var in ipairs({ "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy" }) do
        proxy.clear()
        local out = child(var .. "=http://127.0.0.1:" .. proxy.port, srv.url)
        assert.are.equal("ok conversation", out, var)
        assert.matches("^CONNECT localhost:" .. srv.tls_port, proxy.seen(), var)
        assert.is_nil(proxy.seen():find(H.KEY, 1, true), var)
      end
      for _, var in ipairs({ "no_proxy", "NO_PROXY" }) do
        proxy.clear()
        assert.are.equal("ok conversation",
          child("https_proxy=http://127.0.0.1:" .. proxy.port .. " " .. var .. "=localhost", srv.url))
        assert.are.equal("", proxy.seen(), var)
      end
    end)

    it("http:// to this machine: a proxy elsewhere from http_proxy or ALL_PROXY never gets the key", function()
      local outside = assert(outside_address(), "this test needs an address that is not loopback")
      local remote = "http://" .. outside .. ":" .. proxy.port
      -- the control: libcurl itself (the curl command) does send plain http through that proxy
      assert(sh(("http_proxy=%s curl -s -o /dev/null %s/__fb/health"):format(remote, srv.http_url)))
      assert.matches("^GET http://127%.0%.0%.1:" .. srv.port .. "/__fb/health", proxy.seen())
      for _, var in ipairs({ "http_proxy", "ALL_PROXY", "all_proxy" }) do
        proxy.clear()
        srv:reset()
        local out = child(var .. "=" .. remote, srv.http_url)
        assert.are.equal("ok conversation", out, var)
        assert.are.equal("", proxy.seen(), var) -- the proxy saw nothing at all
        assert.are.equal("Bearer " .. H.KEY, srv:requests()[1].headers.authorization, var)
      end
      -- a proxy on this machine, from the environment, is used
      proxy.clear()
      assert.are.equal("ok conversation", child("http_proxy=http://127.0.0.1:" .. proxy.port, srv.http_url))
      assert.matches("^POST http://127%.0%.0%.1:" .. srv.port .. "/v2/conversations", proxy.seen())
    end)
  end)

  describe("HTTP/2", function()
    it("the async engine runs 32 concurrent calls on at most 2 TLS connections", function()
      local c = client(srv.url .. "/__fb/mode/delay=300")
      local calls = {}
      for i = 1, 32 do calls[i] = { "create_conversation", H.contact_create() } end
      local t0 = core.now()
      local results = c:map(calls, { concurrency = 32 })
      local elapsed = core.now() - t0
      for i = 1, 32 do assert.is_nil(results[i].err) end
      assert.is_true(elapsed < 3, "took " .. elapsed .. " s: not concurrent") -- one by one: 9.6 s
      local api = srv:tls_stats().api
      assert.are.equal(32, api.requests)
      assert.are.equal(32, api.h2)
      assert.is_true(api.connections <= 2, api.connections .. " connections")
      assert.is_true(api.handshakes <= 2, api.handshakes .. " handshakes")
      c:close()
    end)

    it("the blocking client keeps one connection alive across calls", function()
      local c = client()
      for _ = 1, 5 do assert(create(c)) end
      local api = srv:tls_stats().api
      assert.are.equal(5, api.requests)
      assert.are.equal(1, api.connections)
      assert.are.equal(1, api.handshakes)
    end)
  end)

  describe("Neovim", function()
    it("verifies certificates with ca_file and multiplexes 32 calls", function()
      assert(sh("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null"))
      local bad = {}
      for _, name in ipairs(BAD) do bad[#bad + 1] = name .. "=" .. srv.bad_tls[name] end
      local outf = os.tmpname()
      local env = ("LUA_PATH=%q LUA_CPATH=%q FB_KEY=%q FB_CA=%q FB_URL=%q FB_BAD=%q FB_SLOW=%q"):format(
        ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;", ROOT .. "/build/luajit/?.so;;", H.KEY, srv.ca_file,
        srv.url, table.concat(bad, ","), srv.url .. "/__fb/mode/delay=300")
      local ok = sh(("env %s timeout 60 nvim --headless -u NONE -i NONE -n -c %q >%s 2>&1"):format(env,
        "luafile " .. ROOT .. "/spec/nvim/tls.lua", outf))
      local text = read(outf)
      os.remove(outf)
      local r = {}
      for k, v in ("\n" .. text):gmatch("\n([%w_]+)=([^\n]*)") do r[k] = v end
      assert.is_true(ok, text)
      assert.is_nil(r.error, text)
      assert.are.equal("conversation", r.trusted_value, text)
      for _, name in ipairs(BAD) do
        assert.are.equal("network", r[name .. "_kind"], text)
        assert.are.equal("false", r[name .. "_sent"], text)
        assert.matches("TLS: ", r[name .. "_message"], 1, true)
      end
      assert.are.equal("32", r.concurrent_ok, text)
      assert.is_true(tonumber(r.concurrent_ms) < 3000, text)
      local stats = srv:tls_stats()
      assert.are.equal(33, stats.api.requests)
      assert.is_true(stats.api.connections <= 3, text) -- the trusted call's client, then the 32's
      for _, name in ipairs(BAD) do assert.is_nil(stats[name].requests) end
    end)
  end)
end)

describe("TLS and proxy options", function()
  local function new(opts)
    local o = { api_key = H.KEY }
    for k, v in pairs(opts) do o[k] = v end
    return featurebase.new(o)
  end
  local dir = os.getenv("TMPDIR") or "/tmp"

  it("are checked in C: each has a valid and an invalid case", function()
    local pem = os.tmpname()
    local valid = {
      { ca_file = pem }, { ca_path = dir }, { ca_file = pem, ca_path = dir },
      { proxy = "http://proxy.example:3128" }, { proxy = "https://user:pass@proxy.example" }, { proxy = false },
      { no_proxy = "localhost, .corp.example,10.0.0.0/8" }, { no_proxy = "*" },
      { base_url = "http://127.0.0.1:1", proxy = "http://localhost:3128" },
      { base_url = "http://127.0.0.1:1", proxy = "http://10.1.2.3:3128", allow_insecure_http = true },
    }
    for _, o in ipairs(valid) do
      local c, err = new(o)
      assert.truthy(c, cjson.encode(o) .. ": " .. tostring(err))
      c:close()
    end
    local invalid = {
      { "ca_file", { ca_file = dir .. "/no-such-file.pem" }, "cannot be read" },
      { "ca_file", { ca_file = "" }, "PEM file" },
      { "ca_file", { ca_file = pem .. "\0x" }, "PEM file" },
      { "ca_file", { ca_file = true }, "PEM file" },
      { "ca_path", { ca_path = pem }, "not a readable directory" },
      { "ca_path", { ca_path = 1 }, "directory" },
      { "proxy", { proxy = true }, "proxy URL" },
      { "proxy", { proxy = "socks5://127.0.0.1:1080" }, "proxy URL" },
      { "proxy", { proxy = "proxy.example:3128" }, "proxy URL" },
      { "proxy", { proxy = "http://" }, "proxy URL" },
      { "proxy", { proxy = "http://a b" }, "proxy URL" },
      { "proxy", { base_url = "http://127.0.0.1:1", proxy = "http://10.1.2.3:3128" }, "clear text" },
      { "proxy", { base_url = "http://localhost:1", proxy = "http://127.0.0.1.evil.example:3128" }, "clear text" },
      { "no_proxy", { no_proxy = "a\nb" }, "host names" },
      { "no_proxy", { no_proxy = {} }, "host names" },
    }
    for _, case in ipairs(invalid) do
      local c, err = new(case[2])
      assert.is_nil(c, case[1])
      assert.are.equal("invalid_request", err.kind)
      assert.are.equal(case[1], err.field)
      assert.matches(case[3], err.message, 1, true)
    end
    os.remove(pem)
  end)

  it("every option featurebase.options gives to the core is one the C core knows", function()
    for _, o in ipairs(options.list) do
      if o.layer == "core" then
        local c, err = core.new({ api_key = H.KEY, [o.name] = {} }) -- a table is wrong for every one of them
        if o.name == "api_key" then c, err = core.new({ api_key = {} }) end
        assert.is_nil(c, o.name)
        assert.are.equal(o.name, err.field)
        assert.is_nil(err.message:find("not a known", 1, true), err.message)
      end
    end
    local c, err = core.new({ api_key = H.KEY, no_such_option = 1 })
    assert.is_nil(c)
    assert.matches("not a known option of the C core", err.message, 1, true)
    for _, o in ipairs(options.list) do -- and it lists exactly the core's options
      assert.are.equal(o.layer == "core", err.message:find("[(, ]" .. o.name .. "[,)]") ~= nil, o.name)
    end
  end)

  it("no option turns certificate checks off: not even allow_insecure_http, the one named so", function()
    for _, o in ipairs(options.list) do
      for _, word in ipairs({ "verif", "insecure", "ssl", "tls", "cert" }) do
        if o.name:find(word, 1, true) then assert.are.equal("allow_insecure_http", o.name) end
      end
    end
    local srv = testing.start({ api_key = H.KEY, tls = true })
    local c = assert(new({ base_url = srv.bad_tls.untrusted, allow_insecure_http = true, max_retries = 0 }))
    local conv, err = c:create_conversation(H.contact_create())
    srv:stop()
    assert.is_nil(conv)
    assert.are.equal(false, err.request_sent)
    assert.matches("TLS: SSL certificate problem", err.message, 1, true)
  end)
end)

describe("TLS in OpenResty", function()
  local app

  local APP = [[
    location = /call { content_by_lua_block {
      local cjson = require("cjson")
      local fb = require("featurebase.openresty")
      local q = cjson.decode(ngx.unescape_uri(ngx.var.arg_q))
      local client, err = fb.new(q)
      local v
      if client then v, err = client:create_conversation({ from = { type = "contact",
        id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "cosocket" }) end
      ngx.print(cjson.encode({ value = v and v.object or false, kind = err and err.kind or false,
        field = err and err.field or false, message = err and err.message or false,
        sent = err and err.request_sent or false }))
    } }
  ]]

  setup(function()
    assert(sh("make -s --no-print-directory build/luajit/featurebase/core.so >/dev/null"))
    -- tls = true also names the test CA in lua_ssl_trusted_certificate: what the cosockets trust
    app = testing.start({ api_key = H.KEY, tls = true, workers = 1, cpath = ROOT .. "/build/luajit/?.so",
      server = APP })
  end)
  teardown(function() if app then app:stop() end end)
  before_each(function() app:reset() end)

  local function call(opts)
    opts.api_key, opts.max_retries = H.KEY, 0
    local c = socket.tcp()
    c:settimeout(20)
    assert(c:connect("127.0.0.1", app.port))
    local q = cjson.encode(opts):gsub("[^%w]", function(ch) return ("%%%02X"):format(ch:byte()) end)
    c:send("GET /call?q=" .. q .. " HTTP/1.0\r\nHost: x\r\n\r\n")
    local resp = c:receive("*a")
    c:close()
    return cjson.decode(resp:match("\r\n\r\n(.*)$"))
  end

  it("trusts lua_ssl_trusted_certificate's CA and refuses the three bad certificates", function()
    local out = call({ base_url = app.url })
    assert.are.equal("conversation", out.value, out.message)
    assert.are.equal(1, #app:requests())
    app:reset()
    for _, bad in ipairs(BAD) do
      out = call({ base_url = app.bad_tls[bad] })
      assert.are.equal("network", out.kind, bad)
      assert.are.equal(false, out.sent, bad)
      assert.matches("TLS handshake", out.message, 1, true)
    end
    assert.are.equal(0, #app:requests())
  end)

  it("refuses ca_file, ca_path, proxy and no_proxy, saying what to do instead", function()
    for name, v in pairs({ ca_file = "/etc/ssl/certs/ca-certificates.crt", ca_path = "/etc/ssl/certs",
      proxy = "http://127.0.0.1:3128", no_proxy = "*" }) do
      local out = call({ base_url = app.url, [name] = v })
      assert.are.equal("invalid_request", out.kind, name)
      assert.are.equal(name, out.field)
      if name:find("^ca_") then assert.matches("lua_ssl_trusted_certificate", out.message, 1, true) end
    end
    assert.are.equal(0, #app:requests())
  end)
end)
