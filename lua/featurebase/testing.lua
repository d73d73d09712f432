--- A real local fake Featurebase server for tests, demos and benchmarks.
-- Starts nginx with lua-nginx-module (featurebase.testing.server is the handler) in a fresh temp dir.
-- Works from Lua 5.1-5.4 and LuaJIT; uses luasocket when present, else falls back to curl.
--
--   local testing = require("featurebase.testing")
--   local srv = testing.start{ api_key = "sk_test_123" }
--   srv:seed{ conversations = 250, contacts = { { userId = "u1", email = "a@example.com" } } }
--   srv:script{ { match = "GET /v2/conversations", skip = 1, modes = "status=503" } }  -- 2nd list page fails
--   -- point the client at srv.url ... then:
--   for _, r in ipairs(srv:requests()) do print(r.method, r.path, r.json and r.json.bodyMarkdown) end
--   srv:stop()
--
-- The server knows every conversations and contacts endpoint (see the header of
-- featurebase/testing/server.lua for the endpoints, the test-only /__fb/ endpoints and the modes).
--
-- The nginx started here watches the calling process and exits by itself when it is gone.

local has_socket, socket = pcall(require, "socket")
local json = require("cjson.safe")

local M = {}

---@class featurebase.testing.Request
---@field id string       X-Request-Id the server answered with
---@field time number     unix time (seconds, ms precision) when it arrived
---@field method string
---@field path string     raw path, without the query string
---@field query string|nil raw query string, if any
---@field headers table<string,string> lowercased name -> value (repeated headers joined by ", ")
---@field body string     raw request body
---@field json table|nil  body decoded with lua-cjson, nil if it isn't JSON

---@class featurebase.testing.Server
---@field url string      "http://127.0.0.1:PORT"
---@field port integer
---@field api_key string
---@field dir string      temp dir holding nginx.conf, error.log, nginx.pid
local Server = {}
Server.__index = Server

local NGINX_MODULES = "/usr/lib/nginx/modules/"
local LUA51_CPATH = "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- os.execute returns a number on 5.1/LuaJIT and true|nil, "exit", code on 5.2+
local function exec(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function capture(cmd)
  local p = io.popen(cmd)
  if not p then return nil end
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function now() return has_socket and socket.gettime() or os.time() end

local function sleep(s)
  if has_socket then socket.sleep(s) else exec("sleep " .. s) end
end

local function tail(s, n)
  s = s or ""
  return #s > n and ("..." .. s:sub(-n)) or s
end

-- absolute directory that holds featurebase/, so nginx can require featurebase.testing.server
local function lua_root()
  local src = debug.getinfo(1, "S").source
  local file = src:sub(1, 1) == "@" and src:sub(2) or "./featurebase/testing.lua"
  local root = file:match("^(.*)[/\\]featurebase[/\\]testing%.lua$") or "."
  if root:sub(1, 1) ~= "/" then root = capture("pwd") .. "/" .. root:gsub("^%./", "") end
  return (root:gsub("/%.?$", ""))
end

local given = {} -- ports this process handed out: bind(0) may give a port just closed again

--- A free TCP port of 127.0.0.1 for a listener of your own, never one this process was given before
-- (a test that starts a server with several listeners must not get the same port twice).
---@return integer port
function M.free_port()
  for _ = 1, 100 do
    local port
    if has_socket then
      local s = socket.tcp()
      if s and s:bind("127.0.0.1", 0) then
        port = tonumber((select(2, s:getsockname())))
        s:close()
      end
    end
    port = port or math.random(20000, 60000)
    if not given[port] then
      given[port] = true
      return port
    end
  end
  error("featurebase.testing.free_port: no free port")
end
local free_port = M.free_port

-- pid of the calling Lua process: the server's watchdog stops nginx once it is gone
local function own_pid()
  local stat = read_file("/proc/self/stat")
  return stat and tonumber(stat:match("^(%d+)"))
end

local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("^%d+ %b() [ZX]")
end

local function http(port, method, path, body)
  body = body or ""
  if not has_socket then
    local out = capture("curl -s -m 5 -w '\\n%{http_code}' -X " .. method .. " -H 'Content-Type: application/json' "
      .. (body ~= "" and ("--data-binary " .. q(body) .. " ") or "") .. q("http://127.0.0.1:" .. port .. path))
    local b, status = (out or ""):match("^(.-)\n?(%d%d%d)$")
    return tonumber(status), b
  end
  local c = socket.tcp()
  c:settimeout(5)
  local ok, err = c:connect("127.0.0.1", port)
  if not ok then c:close() return nil, err end
  -- HTTP/1.0 so the server closes after answering and "*a" reads exactly one response
  c:send(method .. " " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    .. "Content-Length: " .. #body .. "\r\n\r\n" .. body)
  local resp, rerr, partial = c:receive("*a")
  c:close()
  resp = resp or partial
  if not resp or resp == "" then return nil, rerr end
  return tonumber(resp:match("^HTTP/%d%.%d (%d%d%d)")), resp:match("\r\n\r\n(.*)$") or ""
end

-- TLS -----------------------------------------------------------------------------------------------

---@class featurebase.testing.Certificates
---@field dir string          where the files are
---@field ca_file string      the test CA's certificate (PEM): trust this one
---@field ca_key string
---@field server string     signed by the CA for localhost and 127.0.0.1 (key: server_key)
---@field server_key string
---@field expired string    signed by the CA for localhost and 127.0.0.1, expired (key: expired_key)
---@field expired_key string
---@field wrong_host string signed by the CA for wrong-host.invalid only (key: wrong_host_key)
---@field wrong_host_key string
---@field untrusted string  self-signed for localhost and 127.0.0.1 (key: untrusted_key)
---@field untrusted_key string

local function openssl(args)
  if not exec("openssl " .. args .. " >/dev/null 2>&1") then
    error("featurebase.testing: openssl failed: openssl " .. args, 3)
  end
end

--- Makes a test CA and certificates with the openssl command into `dir` (created if missing):
-- a trusted server certificate, an expired one, one for a wrong host name and a self-signed one.
---@param dir string
---@return featurebase.testing.Certificates
function M.certificates(dir)
  exec("mkdir -p " .. q(dir))
  local c = { dir = dir, ca_file = dir .. "/ca.crt", ca_key = dir .. "/ca.key" }
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  openssl(("req -x509 %s -days 3 -subj '/CN=featurebase-lua test CA' -addext basicConstraints=critical,CA:TRUE "
    .. "-addext keyUsage=critical,keyCertSign,cRLSign -keyout %s -out %s"):format(ec, q(c.ca_key), q(c.ca_file)))
  local function signed(name, host_ext, days)
    local crt, key, csr, ext = dir .. "/" .. name .. ".crt", dir .. "/" .. name .. ".key", dir .. "/" .. name .. ".csr",
      dir .. "/" .. name .. ".ext"
    local f = assert(io.open(ext, "w"))
    f:write("subjectAltName=" .. host_ext .. "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    f:close()
    openssl(("req %s -subj /CN=%s -keyout %s -out %s"):format(ec, name, q(key), q(csr)))
    openssl(("x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -days %d -extfile %s -out %s")
      :format(q(csr), q(c.ca_file), q(c.ca_key), days, q(ext), q(crt)))
    c[name], c[name .. "_key"] = crt, key
  end
  local made = now()
  signed("expired", "DNS:localhost,IP:127.0.0.1", 0) -- valid until the second it was made
  signed("server", "DNS:localhost,IP:127.0.0.1", 2)
  signed("wrong_host", "DNS:wrong-host.invalid", 2)
  c.untrusted, c.untrusted_key = dir .. "/untrusted.crt", dir .. "/untrusted.key"
  openssl(("req -x509 %s -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
    .. "-keyout %s -out %s"):format(ec, q(c.untrusted_key), q(c.untrusted)))
  while now() < made + 1.05 do sleep(0.05) end -- the expired one is past its notAfter second now
  return c
end

-- Per listener: TLS handshakes (every ClientHello), connections and requests seen, and requests over h2.
local function tls_counting(name)
  return ("    ssl_client_hello_by_lua_block { ngx.shared.fb_tls:incr(%q, 1, 0) }\n"):format(name .. ":handshakes")
    .. "    log_by_lua_block {\n"
    .. "      local d = ngx.shared.fb_tls\n"
    .. ("      if d:add(%q .. ngx.var.connection, true) then d:incr(%q, 1, 0) end\n")
      :format(name .. ":c:", name .. ":connections")
    .. ("      d:incr(%q, 1, 0)\n"):format(name .. ":requests")
    .. ("      if ngx.req.http_version() == 2 then d:incr(%q, 1, 0) end\n"):format(name .. ":h2")
    .. "    }\n"
end

local TLS_NAMES = { "api", "untrusted", "expired", "wrong_host" }
local TLS_CERT = { api = "server", untrusted = "untrusted", expired = "expired", wrong_host = "wrong_host" }

-- The HTTPS + HTTP/2 listeners: the API with a trusted certificate, and three that must be refused.
local function tls_conf(o)
  local out = { "  lua_shared_dict fb_tls 1m;" }
  if not (o.http or ""):find("lua_ssl_trusted_certificate", 1, true) then -- cosockets in this nginx trust the CA
    out[#out + 1] = "  lua_ssl_trusted_certificate " .. o.certs.ca_file .. ";"
  end
  for _, name in ipairs(TLS_NAMES) do
    local cert = TLS_CERT[name]
    out[#out + 1] = "  server {\n    listen 127.0.0.1:" .. o.tls_ports[name] .. " ssl http2;\n"
      .. "    ssl_certificate " .. o.certs[cert] .. ";\n    ssl_certificate_key " .. o.certs[cert .. "_key"] .. ";\n"
      .. "    client_max_body_size 16m;\n    client_body_buffer_size 16m;\n"
      .. tls_counting(name)
      .. '    location / { content_by_lua_block { require("featurebase.testing.server").handle() } }\n'
      .. "  }"
  end
  return table.concat(out, "\n")
end

-- On the plain listener: GET /__fb/tls reports the counters, DELETE clears them.
local TLS_STATS_LOCATION = [[
    location = /__fb/tls { content_by_lua_block {
      local d = ngx.shared.fb_tls
      if ngx.req.get_method() == "DELETE" then d:flush_all() return end
      local out = {}
      for _, k in ipairs(d:get_keys(0)) do
        local name, what = k:match("^([%w_]+):(%w+)$")
        if name then
          out[name] = out[name] or {}
          out[name][what] = d:get(k)
        end
      end
      ngx.header["Content-Type"] = "application/json"
      ngx.print(require("cjson").encode(out))
    } }
]]

local function write_conf(dir, o)
  local root = lua_root()
  local key_hex = o.api_key:gsub(".", function(ch) return string.format("%02x", ch:byte()) end)
  local conf = {
    "daemon on;",
    "master_process on;",
    "worker_processes " .. o.workers .. ";",
    -- as root, workers would otherwise run as nobody and fail on non world-readable files
    o.root and "user root;" or "",
    'pid "' .. dir .. '/nginx.pid";',
    'error_log "' .. dir .. '/error.log" warn;',
    o.main or "",
    "load_module " .. NGINX_MODULES .. "ndk_http_module.so;",
    "load_module " .. NGINX_MODULES .. "ngx_http_lua_module.so;",
    "events { worker_connections 4096; }",
    "http {",
    "  access_log off;",  -- keeps the Authorization header (the key) out of any log
    '  client_body_temp_path "' .. dir .. '/client_body";',
    '  proxy_temp_path "' .. dir .. '/proxy";',
    '  fastcgi_temp_path "' .. dir .. '/fastcgi";',
    '  uwsgi_temp_path "' .. dir .. '/uwsgi";',
    '  scgi_temp_path "' .. dir .. '/scgi";',
    '  lua_package_path "' .. root .. "/?.lua;" .. root .. '/?/init.lua;;";',  -- ';;' keeps resty.core findable
    '  lua_package_cpath "' .. (o.cpath and (o.cpath .. ";") or "") .. LUA51_CPATH .. '";',
    "  lua_shared_dict fb " .. o.shm .. ";",
    "  lua_shared_dict fb_ids 1m;",
    "  server_tokens off;",
    "  lua_check_client_abort on;",  -- lets the hang mode end when the client gives up
    "  keepalive_requests 1000000;",
    "  init_by_lua_block {",
    '    require("featurebase.testing.server").configure({ api_key_hex = "' .. key_hex .. '", record = '
      .. tostring(o.record) .. ", watch_pid = " .. tostring(o.watch_pid or "nil") .. ', prefix = "' .. dir .. '"'
      .. ", rate_limit = " .. tostring(o.rate_limit or "nil") .. ", rate_window = " .. tostring(o.rate_window or "nil")
      .. " })",
    "  }",
    '  init_worker_by_lua_block { require("featurebase.testing.server").init_worker() }',
    o.http or "",
    o.tls and tls_conf(o) or "",
    "  server {",
    "    listen 127.0.0.1:" .. o.port .. ";",
    -- bodies stay in memory: no temp-file I/O per request
    "    client_max_body_size 16m;",
    "    client_body_buffer_size 16m;",
    '    location / { content_by_lua_block { require("featurebase.testing.server").handle() } }',
    o.tls and TLS_STATS_LOCATION or "",
    o.server or "",
    "  }",
    "}",
    "",
  }
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(table.concat(conf, "\n"))
  f:close()
end

-- polls with a real GET /__fb/health: proves the port is bound and the handler loads
local function wait_ready(port, timeout)
  local deadline = now() + timeout
  repeat
    if http(port, "GET", "/__fb/health") == 200 then return true end
    sleep(0.02)
  until now() > deadline
  return false
end

-- error.log once nginx got that far, else what it printed before opening it
local function logs(dir)
  local log = read_file(dir .. "/error.log") or ""
  return tail(log ~= "" and log or read_file(dir .. "/start.log"), 2000)
end

---@class featurebase.testing.Options
---@field api_key string|nil  key the server accepts as "Authorization: Bearer <key>" (default "sk_test_featurebase")
---@field port integer|nil    fixed port; default: a free one
---@field workers integer|nil nginx worker_processes (default 1)
---@field record boolean|nil  record requests for srv:requests() (default true; false for benchmarks)
---@field nginx string|nil    nginx binary (default $FEATUREBASE_NGINX or /usr/sbin/nginx)
---@field shm string|nil      size of the state shared dict (default "64m")
---@field watch boolean|nil   stop nginx when this Lua process exits (default true)
---@field timeout number|nil  seconds to wait for nginx to answer (default 5)
---@field cpath string|nil    prepended to lua_package_cpath, e.g. "/abs/build/luajit/?.so"
---@field main string|nil     extra directives for the main context (e.g. `env NAME;`)
---@field http string|nil     extra directives for the http block (e.g. lua_ssl_trusted_certificate)
---@field server string|nil   extra directives for the server block, e.g. your own `location`s
---                           beside the fake API: an app under test served by the same nginx
---@field rate_limit integer|nil enforce this many API requests per window: over it, 429 rate_limit_error
---                           (default: X-RateLimit-* headers count 2000 per minute but nothing is refused)
---@field rate_window number|nil  seconds per rate-limit window (default 60); X-RateLimit-Reset is its end
---                           in epoch seconds
---@field tls boolean|nil     also serve the API over HTTPS with HTTP/2 (certificates from testing.certificates):
---                           srv.url is then https://localhost:PORT, srv.ca_file the CA to trust, srv.http_url
---                           the plain listener; srv.bad_tls = {untrusted=, expired=, wrong_host=} are URLs of
---                           listeners whose certificates a client must refuse; srv:tls_stats() counts handshakes

--- Start a fake Featurebase server. Raises with the tail of nginx's error log if it does not come up.
---@param opts featurebase.testing.Options|nil
---@return featurebase.testing.Server
function M.start(opts)
  opts = opts or {}
  local o = {
    api_key = opts.api_key or "sk_test_featurebase",
    workers = math.floor(tonumber(opts.workers) or 1),
    record = opts.record ~= false,
    shm = opts.shm or "64m",
    root = capture("id -u") == "0",
    watch_pid = opts.watch ~= false and own_pid() or nil,
    cpath = opts.cpath, main = opts.main, http = opts.http, server = opts.server,
    rate_limit = opts.rate_limit, rate_window = opts.rate_window, tls = opts.tls,
  }
  assert(type(o.api_key) == "string" and o.api_key ~= "",
    "featurebase.testing.start: api_key must be a non-empty string")
  assert(o.rate_limit == nil or (type(o.rate_limit) == "number" and o.rate_limit >= 0 and o.rate_limit % 1 == 0),
    "featurebase.testing.start: rate_limit must be a non-negative integer")
  assert(o.rate_window == nil or (type(o.rate_window) == "number" and o.rate_window > 0),
    "featurebase.testing.start: rate_window must be a positive number of seconds")
  local nginx = opts.nginx or os.getenv("FEATUREBASE_NGINX") or "/usr/sbin/nginx"
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))

  local last, cert_dir
  if o.tls then
    cert_dir = capture("mktemp -d \"${TMPDIR:-/tmp}/fbcerts.XXXXXX\"")
    o.certs = M.certificates(cert_dir)
  end
  for _ = 1, opts.port and 1 or 5 do  -- a free port can be taken before nginx binds it: retry
    o.port = opts.port or free_port()
    local dir = capture("mktemp -d \"${TMPDIR:-/tmp}/fbtest.XXXXXX\"")
    assert(dir and dir ~= "", "featurebase.testing.start: mktemp -d failed")
    local srv = setmetatable({ url = "http://127.0.0.1:" .. o.port, port = o.port, api_key = o.api_key,
      dir = dir }, Server)
    if o.tls then
      o.tls_ports = {}
      for _, name in ipairs(TLS_NAMES) do o.tls_ports[name] = free_port() end
      srv.http_url, srv.url = srv.url, "https://localhost:" .. o.tls_ports.api
      srv.tls_port, srv.ca_file, srv.certificates = o.tls_ports.api, o.certs.ca_file, o.certs
      srv.bad_tls = {}
      for _, name in ipairs(TLS_NAMES) do
        if name ~= "api" then srv.bad_tls[name] = "https://localhost:" .. o.tls_ports[name] end
      end
    end
    write_conf(dir, o)
    local started = exec(q(nginx) .. " -p " .. q(dir .. "/") .. " -c " .. q(dir .. "/nginx.conf") .. " -e "
      .. q(dir .. "/error.log") .. " >" .. q(dir .. "/start.log") .. " 2>&1")
    if started and wait_ready(o.port, opts.timeout or 5) then
      srv.cert_dir = cert_dir -- removed by stop
      return srv
    end
    last = logs(dir)
    srv:stop()
    if started then
      error("featurebase.testing: nginx did not answer on port " .. o.port .. " within " .. (opts.timeout or 5)
        .. " s; error log:\n" .. last, 2)
    end
    if not last:find("in use", 1, true) then break end
  end
  if cert_dir then exec("rm -rf " .. q(cert_dir)) end
  error("featurebase.testing: could not start " .. nginx .. ":\n" .. (last or ""), 2)
end

--- Every API request received since start or the last reset, oldest first (at most the last 10000).
---@return featurebase.testing.Request[]
function Server:requests()
  local status, body = http(self.port, "GET", "/__fb/requests")
  local list = status == 200 and json.decode(body)
  if type(list) ~= "table" then
    error("featurebase.testing: GET /__fb/requests failed: " .. tostring(status or body), 2)
  end
  for _, r in ipairs(list) do
    local ok = type(r.body) == "string" and json.decode(r.body)
    r.json = type(ok) == "table" and ok or nil
  end
  return list
end

--- Forget conversations, contacts, seeds, recorded requests, queued test modes and rate counters.
--- Cursors handed out before the reset answer 400 invalid_cursor afterwards.
function Server:reset()
  local status = http(self.port, "POST", "/__fb/reset")
  if status ~= 200 then error("featurebase.testing: POST /__fb/reset failed", 2) end
  if self.bad_tls and http(self.port, "DELETE", "/__fb/tls") ~= 200 then
    error("featurebase.testing: DELETE /__fb/tls failed", 2)
  end
end

---@class featurebase.testing.TlsCounts
---@field handshakes integer|nil  TLS ClientHellos received (also those the client then refused)
---@field connections integer|nil connections that carried at least one request
---@field requests integer|nil    requests answered
---@field h2 integer|nil          of those, requests over HTTP/2

--- With start{tls = true}: per listener (api, untrusted, expired, wrong_host), what arrived since
--- start or the last reset (a listener nothing reached is absent).
---@return table<string, featurebase.testing.TlsCounts>
function Server:tls_stats()
  local status, body = http(self.port, "GET", "/__fb/tls")
  local t = status == 200 and json.decode(body)
  if type(t) ~= "table" then error("featurebase.testing: GET /__fb/tls failed: " .. tostring(status or body), 2) end
  return t
end

---@class featurebase.testing.ScriptEntry
---@field match string    "METHOD /path" where "*" stands for one path segment, e.g. "GET /v2/conversations/*";
---                       the method may be "*" or left out
---@field modes string    X-Fb-Test modes for the matching request ("" answers normally)
---@field skip integer|nil let this many matching requests pass first

--- Queue X-Fb-Test modes for later API requests that carry no X-Fb-Test header nor /__fb/mode/ prefix,
--- in order. A string (e.g. "status=503" or "delay=100,close") is taken by the next such request; a table
--- {match = "GET /v2/conversations", modes = "status=503", skip = 1} by the next one that matches (here: the
--- second list page fails). Lets clients that can't add headers meet failures.
---@param entries (string|featurebase.testing.ScriptEntry)[]
function Server:script(entries)
  local body = json.encode(entries)
  if not body or http(self.port, "POST", "/__fb/script", body) ~= 200 then
    error("featurebase.testing: POST /__fb/script failed", 2)
  end
end

---@class featurebase.testing.Seed
---@field conversations integer|table[]|nil how many default conversations, or Conversation tables: any fields
---                       (missing ones get defaults; `id` 1-16 letters and digits, else the next number; `tags`
---                       tag ids or {id, name}; `participants` contact ids or {type, id}; `conversationParts`
---                       parts, partType defaulting to user_msg)
---@field contacts integer|table[]|nil how many default customers (seed<n>@example.com, userId seed_user_<n>),
---                       or Contact tables (`type` customer|lead, `id` 24 hex, else derived from userId or email)
---@field tags (string|{id:string, name:string})[]|nil known tags; once any are seeded, others are 404
---@field admins string[]|nil known admin ids; once any are seeded, others give 403 / 404 admin_not_found
---@field teams string[]|nil  known team ids; once any are seeded, others give 404 team_not_found

--- Store conversations, contacts, tags, admins and teams directly (no API request is recorded).
--- Seeded items come after those already stored, in the order given.
---@param data featurebase.testing.Seed
---@return {conversations:string[], contacts:string[]} ids the items got, in order
function Server:seed(data)
  local body = json.encode(data)
  local status, out = http(self.port, "POST", "/__fb/seed", body or "")
  local ids = status == 200 and json.decode(out)
  if type(ids) ~= "table" then
    local e = json.decode(out or "")
    error("featurebase.testing: POST /__fb/seed failed: "
      .. tostring(type(e) == "table" and e.error and e.error.message or status or out), 2)
  end
  return ids
end

--- The stored conversation (with all its parts) as the server sees it, or nil if unknown.
---@param id string
---@return table|nil
function Server:conversation(id)
  local status, body = http(self.port, "GET", "/__fb/conversations/" .. tostring(id))
  return status == 200 and json.decode(body) or nil
end

--- The stored contact as the server sees it, or nil if unknown.
---@param id string
---@return table|nil
function Server:contact(id)
  local status, body = http(self.port, "GET", "/__fb/contacts/" .. tostring(id))
  return status == 200 and json.decode(body) or nil
end

---@class featurebase.testing.RateReport
---@field limit integer       requests per window
---@field window number       seconds per window
---@field enforced boolean    true when started with rate_limit
---@field requests integer    API requests counted since start or reset
---@field limited integer     429 answers given because a window was spent
---@field windows integer     windows that saw at least one API request

--- What the rate limiter counted since start or the last reset.
---@return featurebase.testing.RateReport
function Server:rate()
  local status, body = http(self.port, "GET", "/__fb/rate")
  local t = status == 200 and json.decode(body)
  if type(t) ~= "table" then error("featurebase.testing: GET /__fb/rate failed: " .. tostring(status or body), 2) end
  return t
end

--- Stop nginx (QUIT, then KILL after 3 s) and remove the temp dir. Idempotent.
function Server:stop()
  if self.stopped then return end
  self.stopped = true
  local pid = tonumber((read_file(self.dir .. "/nginx.pid") or ""):match("%d+"))
  if pid then
    local pids = { pid }  -- workers too: they'd outlive a KILLed master
    for child in (capture("pgrep -P " .. pid) or ""):gmatch("%d+") do pids[#pids + 1] = child end
    exec("kill -QUIT " .. pid .. " 2>/dev/null")
    local deadline, signal = now() + 3, "KILL"
    while true do
      local left = {}
      for _, p in ipairs(pids) do if alive(p) then left[#left + 1] = p end end
      if #left == 0 then break end
      if now() > deadline then
        if not signal then break end
        exec("kill -" .. signal .. " " .. table.concat(left, " ") .. " 2>/dev/null")
        deadline, signal = now() + 1, nil
      end
      sleep(0.02)
    end
  end
  exec("rm -rf " .. q(self.dir) .. (self.cert_dir and (" " .. q(self.cert_dir)) or ""))
end

Server.__close = Server.stop  -- Lua 5.4: local srv <close> = testing.start{}
M.Server = Server  -- lets a spec stop an nginx it started itself from a conf (Server:stop needs only .dir)

-- Webhook deliveries ------------------------------------------------------------------------------
-- Sends deliveries signed like Featurebase's (featurebase.webhooks.sign) to your own handler, for
-- end-to-end tests of it:
--
--   local status, body = testing.deliver("http://127.0.0.1:8080/webhook",
--     { id = "notif_1", topic = "conversation.user.replied", data = { item = {...} } },
--     { secret = "whsec_..." })
--   -- or srv:deliver(url, event, opts): the same, and a url starting with "/" is on the fake server

---@class featurebase.testing.DeliveryOptions
---@field secret string            the webhook secret the handler verifies with (required)
---@field timestamp? string|integer X-Webhook-Timestamp, default now (an old one tests the tolerance)
---@field signature? string        send this X-Webhook-Signature instead of the right one
---@field headers? table<string, string|false> extra headers; a name set to false is not sent
---@field timeout? number          seconds, default 10

local function delivery_body(event)
  if type(event) == "string" then return event end
  assert(type(event) == "table", "featurebase.testing: the event must be a table or a raw body string")
  return assert(json.encode(event))
end

--- The raw body and the headers of a signed delivery, without sending it (e.g. to send many at once).
---@param event table|string the envelope (encoded as JSON) or the raw body
---@param opts featurebase.testing.DeliveryOptions
---@return string body
---@return table<string, string> headers
function M.delivery(event, opts)
  assert(type(opts) == "table" and type(opts.secret) == "string",
    "featurebase.testing.delivery: opts.secret (the webhook secret) is required")
  local webhooks = require("featurebase.webhooks")
  local body = delivery_body(event)
  local timestamp = opts.timestamp or os.time()
  local headers = webhooks.signed_headers(opts.secret, body, timestamp)
  if opts.signature then headers[webhooks.SIGNATURE_HEADER] = opts.signature end
  headers["Content-Type"] = "application/json"
  headers["User-Agent"] = "featurebase-lua testing"
  for k, v in pairs(opts.headers or {}) do
    for name in pairs(headers) do -- one spelling per header name
      if name:lower() == k:lower() then headers[name] = nil end
    end
    if v then headers[k] = v end
  end
  return body, headers
end

local function post_raw(url, body, headers, timeout)
  local host, port, path = url:match("^http://([^/:]+):?(%d*)(.*)$")
  if not host or not has_socket then -- https, or no luasocket: curl does it
    local args = {}
    for k, v in pairs(headers) do args[#args + 1] = "-H " .. q(k .. ": " .. v) end
    local tmp = os.tmpname()
    local f = assert(io.open(tmp, "wb"))
    f:write(body)
    f:close()
    local out = capture("curl -s -m " .. timeout .. " -w '\\n%{http_code}' -X POST " .. table.concat(args, " ")
      .. " --data-binary @" .. q(tmp) .. " " .. q(url))
    os.remove(tmp)
    local b, status = (out or ""):match("^(.-)\n?(%d%d%d)$")
    return tonumber(status), b
  end
  local c = socket.tcp()
  c:settimeout(timeout)
  local ok, err = c:connect(host, tonumber(port) or 80)
  if not ok then c:close() return nil, err end
  local lines = { "POST " .. (path ~= "" and path or "/") .. " HTTP/1.0",
    "Host: " .. host .. (port ~= "" and (":" .. port) or ""), "Content-Length: " .. #body }
  for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
  -- HTTP/1.0: the answer ends when the connection closes
  c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. body)
  local resp, rerr, partial = c:receive("*a")
  c:close()
  resp = resp or partial
  if not resp or resp == "" then return nil, rerr end
  return tonumber(resp:match("^HTTP/%d%.%d (%d%d%d)")), resp:match("\r\n\r\n(.*)$") or ""
end

--- Sends one signed delivery to `url` (http://, or https:// through curl) and waits for the answer.
---@param url string your handler's URL
---@param event table|string the envelope (encoded as JSON) or the raw body
---@param opts featurebase.testing.DeliveryOptions
---@return integer|nil status nil when no answer came
---@return string body the answer's body, or the error
function M.deliver(url, event, opts)
  local body, headers = M.delivery(event, opts)
  return post_raw(url, body, headers, opts.timeout or 10)
end

--- `testing.deliver`, where a url starting with "/" is on this server (an app given by `opts.server`).
---@param url string
---@param event table|string
---@param opts featurebase.testing.DeliveryOptions
---@return integer|nil status
---@return string body
function Server:deliver(url, event, opts)
  if url:sub(1, 1) == "/" then url = self.url .. url end
  return M.deliver(url, event, opts)
end

return M
