--- featurebase.openresty: the Featurebase client for OpenResty / nginx + lua-nginx-module, never blocking
-- the nginx worker.
--
-- The client is featurebase.Client itself, every method and helper included; only its transport
-- differs: a small HTTP/1.1 client on nginx cosockets (`ngx.socket.tcp`), with keep-alive through
-- nginx's connection pool and TLS verified by `sslhandshake`. Validation, encoding and decoding are
-- the C core's, the request pipeline is featurebase.client's. While it waits for Featurebase, the
-- worker goes on serving every other request. The async forms run in light threads
-- (`ngx.thread.spawn`); `client:run()` waits for the request's (or timer's) calls, those their
-- callbacks start included.
--
--   local fb = require("featurebase.openresty")
--   local client = assert(fb.new{ api_key = os.getenv("FEATUREBASE_API_KEY") })
--   local conv, err, res = client:create_conversation{ from = {...}, bodyMarkdown = "..." }
--
-- Works in every phase that allows cosockets: rewrite, access, content, ngx.timer callbacks and
-- ngx.thread. In init_by_lua, init_worker_by_lua, set_by_lua, header/body filters and log_by_lua,
-- cosockets do not exist: run the call in `ngx.timer.at(0, fn)`, or (scripts, init_by_lua) use
-- `client:blocking()`, the libcurl client, which blocks the whole worker while it waits.
--
-- nginx.conf needs `lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;` for https
-- (certificates are always verified) and a `resolver` for host names; see README "OpenResty".
-- That directive is the CA store of every cosocket in nginx: the libcurl options ca_file and ca_path
-- are refused here (name a private CA in lua_ssl_trusted_certificate instead), and so are proxy and
-- no_proxy (cosockets connect directly; nginx reads no proxy environment variable).
--
-- @module featurebase.openresty
local featurebase = require("featurebase")
local core = require("featurebase.core_loader").load()
local client_mod = require("featurebase.client")
local fbenv = require("featurebase.env")
local pacer = require("featurebase.pacer")
local options = require("featurebase.options")
local semaphore = ngx and require("ngx.semaphore") -- lua-resty-core, inside nginx

local ngx = ngx
local concat, tonumber, setmetatable, type = table.concat, tonumber, setmetatable, type

local M = {
  _VERSION = featurebase._VERSION,
  rules = featurebase.rules,
  null = featurebase.null,
  is_error = featurebase.is_error,
}

local TOO_BIG = "max_response_size" -- read_* failure meaning the body passed the client's limit
local MAX_HEADER_LINES = 200

-- Phases in which lua-nginx-module has no cosockets.
local NO_COSOCKET = { init = true, init_worker = true, set = true, header_filter = true, body_filter = true,
  log = true, balancer = true, exit_worker = true }

---@class featurebase.openresty.Options: featurebase.Options
---@field keepalive_timeout? number seconds an idle connection stays in nginx's pool, default 60
---@field keepalive_pool? integer idle connections kept per worker for this server, default 32
---@field rate_limit_dict? string a lua_shared_dict that shares the rate-limit pacing among all workers

-- Connection details per client, kept out of the client table so that dumping a client (or a
-- table holding one) never shows the API key.
local private = setmetatable({}, { __mode = "k" })

local function transport_error(kind, url, detail, sent)
  return setmetatable({ kind = kind, message = "request to " .. url .. " failed: " .. detail,
    request_sent = sent }, core.error_mt)
end

-- base_url has passed the C core's checks (scheme, host, no credentials, query or fragment).
local function parse_url(url)
  local scheme, authority, prefix = url:match("^(https?)://([^/]+)(.*)$")
  local host, port = authority:match("^(%[.+%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  local default_port = scheme == "https" and 443 or 80
  port = tonumber(port) or default_port
  local connect_host = host:match("^%[(.+)%]$") or host
  if connect_host == "localhost" then connect_host = "127.0.0.1" end -- no resolver needed
  return {
    scheme = scheme,
    host = connect_host,
    sni = not host:find("^%[") and not host:find("^[%d.]+$") and host or nil,
    port = port,
    host_header = port == default_port and host or (host .. ":" .. port),
    prefix = prefix:gsub("/+$", ""),
    origin = scheme .. "://" .. authority,
  }
end

local COSOCKET_IO -- the transport, below

--- Creates a client for use inside nginx: a featurebase.Client whose calls go through cosockets.
-- Takes the blocking client's options (same defaults from `FEATUREBASE_API_KEY` /
-- `FEATUREBASE_BASE_URL`: name them in `env` directives) plus `keepalive_timeout`, `keepalive_pool`
-- and `rate_limit_dict`.
---@param opts? featurebase.openresty.Options
---@return featurebase.Client|nil client
---@return featurebase.Error|nil err an invalid_request error naming the bad option
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to 'new' (table expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  for _, o in ipairs(options.list) do -- libcurl's options that cosockets cannot honour (ca_file, proxy, ...)
    if o.openresty and rawget(opts, o.name) ~= nil then return nil, options.error(o.name, o.openresty) end
  end
  -- The C core checks every shared option (one set of rules), as for the blocking client.
  local self, own = client_mod.new(opts, COSOCKET_IO, { client = true, openresty = true })
  if not self then return nil, own end
  if own.rate_limit_dict then
    local dict = ngx and ngx.shared and ngx.shared[own.rate_limit_dict]
    if not dict then
      return nil, options.error("rate_limit_dict", ("names no lua_shared_dict: add `lua_shared_dict %s 1m;` to "
        .. "the http block of nginx.conf"):format(own.rate_limit_dict))
    end
    -- one count per API key (told apart by a checksum, never the key itself), for every worker
    local key = opts.api_key or fbenv.get("FEATUREBASE_API_KEY")
    self._pacer = pacer.new(pacer.shared_dict(dict, ("fb:%u:"):format(ngx.crc32_long(key))))
  end

  local base_url = opts.base_url or fbenv.get("FEATUREBASE_BASE_URL") or core.rules.default_base_url
  local u = parse_url(base_url)
  local user_agent = ("featurebase-lua/%s (%s; ngx_lua/%s; cosocket)"):format(featurebase._VERSION,
    jit and jit.version or _VERSION, ngx and ngx.config and ngx.config.ngx_lua_version or "?")
  u.key = opts.api_key or fbenv.get("FEATUREBASE_API_KEY") -- also to redact it from what the server sends
  u.head = " HTTP/1.1\r\nHost: " .. u.host_header .. "\r\nAuthorization: Bearer " .. u.key
    .. "\r\nContent-Type: application/json\r\nAccept: application/json\r\nFeaturebase-Version: "
    .. (opts.version or core.rules.default_version) .. "\r\nUser-Agent: " .. user_agent .. "\r\n"
  u.pool = ("featurebase:%s:%s:%d:%s"):format(u.scheme, u.host, u.port, u.sni or "")
  u.timeout = opts.timeout or core.limits.timeout
  u.connect_timeout = math.min(opts.connect_timeout or core.limits.connect_timeout, u.timeout)
  u.keepalive_ms = math.floor(own.keepalive_timeout * 1000)
  u.keepalive_pool = own.keepalive_pool
  u.max_response = opts.max_response_size or core.limits.max_response_size
  u.stall = opts.stall_timeout or core.limits.stall_timeout
  private[self] = u
  return self
end

-- HTTP/1.1 over a cosocket --------------------------------------------------------------------------

-- Sets the socket's timeout to what is left of the request's; false once it is spent.
local function budget(sock, deadline, stall)
  ngx.update_time()
  local left = deadline - ngx.now()
  if left <= 0 then return false end
  -- a cosocket's timeout runs from its last byte, so the lower of the two is the stall watch too
  sock:settimeout(math.max(1, math.floor(math.min(left, stall or left) * 1000)))
  return true
end

-- Reads a chunked body (RFC 9112 7.1); trailers are read and dropped.
local function read_chunked(sock, deadline, max, stall)
  local parts, total = {}, 0
  while true do
    if not budget(sock, deadline, stall) then return nil, "timeout" end
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return nil, "bad chunk size line" end
    if size == 0 then
      repeat
        if not budget(sock, deadline, stall) then return nil, "timeout" end
        line, err = sock:receive("*l")
        if not line then return nil, err end
      until line == ""
      return concat(parts)
    end
    total = total + size
    if total > max then return nil, TOO_BIG end
    if not budget(sock, deadline, stall) then return nil, "timeout" end
    local data
    data, err = sock:receive(size)
    if not data then return nil, err end
    parts[#parts + 1] = data
    if not budget(sock, deadline, stall) then return nil, "timeout" end
    line, err = sock:receive("*l") -- the CRLF after the chunk
    if not line then return nil, err end
  end
end

-- Reads one response: status, headers (lowercased names, repeats joined by ", " as the C core
-- does), body. Returns res, keepalive | nil, err, got_bytes, status (once a final status line came).
local function read_response(sock, deadline, max, stall)
  local status, version, got, headers, final
  repeat -- skip 1xx interim responses
    if not budget(sock, deadline, stall) then return nil, "timeout", got, final end
    local line, err = sock:receive("*l")
    if not line then return nil, err, got, final end
    got = true
    version, status = line:match("^HTTP/(%d%.%d) (%d%d%d)")
    status = tonumber(status)
    if not status then return nil, "malformed status line", got, final end
    final = status >= 200 and status or nil
    headers = {}
    for _ = 1, MAX_HEADER_LINES + 1 do
      if not budget(sock, deadline, stall) then return nil, "timeout", got, final end
      line, err = sock:receive("*l")
      if not line then return nil, err, got, final end
      if line == "" then break end
      local name, value = line:match("^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = name:lower()
        local old = headers[name]
        headers[name] = old and (old .. ", " .. value) or value
      end
    end
    if line ~= "" then return nil, "too many header lines", got, final end
  until status >= 200

  local body, err = "", nil
  local te, len = headers["transfer-encoding"], headers["content-length"]
  local conn = (headers["connection"] or ""):lower()
  local keepalive = version == "1.1" and not conn:find("close", 1, true)
    or version == "1.0" and conn:find("keep-alive", 1, true) ~= nil
  if status == 204 or status == 304 then
    body = "" -- no body by definition
  elseif te and te:lower():find("chunked", 1, true) then
    body, err = read_chunked(sock, deadline, max, stall)
  elseif len then
    local n = tonumber(len:match("^%d+$"))
    if not n then return nil, "bad Content-Length", got, final end
    if n > max then return nil, TOO_BIG, got, final end
    if n > 0 then
      if not budget(sock, deadline, stall) then return nil, "timeout", got, final end
      body, err = sock:receive(n)
    end
  else -- delimited by the server closing the connection
    keepalive = false
    if not budget(sock, deadline, stall) then return nil, "timeout", got, final end
    local partial
    body, err, partial = sock:receive("*a")
    if not body and err == "closed" then body, err = partial, nil end
    if body and #body > max then return nil, TOO_BIG, got, final end
  end
  if not body then return nil, err, got, final end
  return { status = status, headers = headers, body = body }, keepalive
end

-- The API key redacted from what came from the network (a server may echo it), by the C core's
-- own redaction (core.redact), as for the libcurl transports.
local function redact(s, key)
  return type(s) == "string" and core.redact(s, key) or s
end

local function redact_response(res, key)
  res.body = redact(res.body, key)
  for name, value in pairs(res.headers) do res.headers[name] = redact(value, key) end
  return res
end

-- One attempt on one connection. Returns res | nil, err, sent, retry_fresh, status.
--
-- Stale pooled connections: nginx's keepalive pool watches every idle connection (its idle read
-- handler) and closes it as soon as the server closes it or sends anything, so a socket taken from
-- the pool was alive a moment ago; a server closing it in that moment is rare. When it happens, a
-- send or receive failure on a reused socket cannot tell "closed while idle" from "read the
-- request, then closed": only a request safe to repeat is run again on a fresh connection
-- (retry_fresh); any other is an ambiguous failure (sent = true), never resent here.
local function exchange(u, method, path, body, deadline, safe)
  local sock = ngx.socket.tcp()
  ngx.update_time()
  local left = deadline - ngx.now()
  if left <= 0 then return nil, "timeout", false end
  sock:settimeout(math.max(1, math.floor(math.min(u.connect_timeout, left) * 1000)))
  local ok, err = sock:connect(u.host, u.port, { pool = u.pool })
  if not ok then return nil, "connect: " .. tostring(err), false end
  local reused = (sock:getreusedtimes() or 0) > 0
  if u.scheme == "https" and not reused then
    if not budget(sock, deadline) then sock:close() return nil, "timeout", false end
    ok, err = sock:sslhandshake(nil, u.sni or u.host, true) -- true: verify the certificate and host name
    if not ok then sock:close() return nil, "TLS handshake: " .. tostring(err), false end
  end
  if not budget(sock, deadline, u.stall) then sock:close() return nil, "timeout", false end
  -- a table is written with one writev, no concatenation of the body
  if body then
    ok, err = sock:send({ method, " ", u.prefix, path, u.head, "Content-Length: ", #body, "\r\n\r\n", body })
  else
    local tail = method == "GET" and "\r\n" or "Content-Length: 0\r\n\r\n"
    ok, err = sock:send({ method, " ", u.prefix, path, u.head, tail })
  end
  if not ok then
    sock:close()
    -- part of the request may have left: sent, and a fresh try only when repeating is harmless
    return nil, "send: " .. tostring(err), true, safe and reused and err ~= "timeout"
  end
  local res, keepalive_or_err, got, status = read_response(sock, deadline, u.max_response, u.stall)
  if not res then
    sock:close()
    return nil, keepalive_or_err, true, safe and reused and not got and keepalive_or_err ~= "timeout", status
  end
  if keepalive_or_err then sock:setkeepalive(u.keepalive_ms, u.keepalive_pool) else sock:close() end
  return redact_response(res, u.key)
end

-- The transport's perform (see featurebase.client). A pooled connection that yields nothing is run
-- again at once on a fresh connection only for a request safe to repeat (see exchange).
local function perform(self, method, path, body, timeout, safe)
  local u = private[self]
  ngx.update_time()
  local deadline = ngx.now() + (timeout or u.timeout)
  local res, err, sent, fresh, status = exchange(u, method, path, body, deadline, safe)
  if not res and fresh then
    local _
    res, err, sent, _, status = exchange(u, method, path, body, deadline, safe)
  end
  if res then
    local value, derr = core.decode(res)
    res.body = nil -- the response handed back has what the C transports' has, not the raw bytes
    if value ~= nil then return value, res end
    return nil, derr
  end
  local e
  if err == TOO_BIG then -- as the C core reports it: never retried, the connection dropped
    e = transport_error("network", u.origin .. u.prefix .. path, ("the response body is larger than "
      .. "max_response_size (%d bytes); the connection was dropped"):format(u.max_response), true)
    e.limit = TOO_BIG
  else
    local kind = (err == "timeout" or tostring(err):find("timeout$")) and "timeout" or "network"
    ngx.update_time()
    if kind == "timeout" and sent and deadline - ngx.now() > 0.005 then -- the stall watch, not the deadline
      e = transport_error(kind, u.origin .. u.prefix .. path, ("no byte moved for %d ms (stall_timeout)")
        :format(math.floor(u.stall * 1000 + 0.5)), sent)
      e.limit = "stall_timeout"
    else
      e = transport_error(kind, u.origin .. u.prefix .. path, redact(tostring(err), u.key), sent)
    end
    -- sslhandshake's message for a certificate that does not verify: never transient
    if not sent and tostring(err):find("^TLS handshake: .*certificate") then e.certificate = true end
  end
  e.status = status -- the status line came before the failure: a 2xx means the server acted
  return nil, e
end

local function now()
  ngx.update_time()
  return ngx.now()
end

-- Cosockets exist in rewrite, access, content, timer and ngx.thread code only.
local function check(_, method, level)
  local phase = ngx and ngx.get_phase and ngx.get_phase()
  if not phase then error("featurebase.openresty: not running inside nginx (use require('featurebase'))", level + 1) end
  if NO_COSOCKET[phase] then
    error(("featurebase.openresty: nginx has no cosockets in the %s phase: run %s in ngx.timer.at(0, fn), or "
      .. "use client:blocking() where stalling the worker is acceptable"):format(phase, method), level + 1)
  end
end

-- The async calls of this request (or timer) on this client: how many have not called back yet, the
-- light threads running them, the callback errors kept for run(). Kept in ngx.ctx, so a client shared
-- by a worker's requests waits in run() for its own request's calls only.
local function inflight(self)
  local st = ngx.ctx[self]
  if not st then
    st = { pending = 0, threads = setmetatable({}, { __mode = "k" }), failures = {} }
    ngx.ctx[self] = st
  end
  return st
end

-- Runs fn (a call and its callback) in a light thread that run() waits for. Not with
-- ngx.thread.wait: a call started by a callback is the child of that callback's thread, which only
-- its parent may wait for. An error fn raises is logged (as nginx does for an aborted thread) and
-- kept for run().
local function spawn(self, fn)
  local st = inflight(self)
  st.pending = st.pending + 1
  ngx.thread.spawn(function()
    st.threads[coroutine.running()] = true
    local ok, err = xpcall(fn, client_mod.traceback)
    st.pending = st.pending - 1
    if not ok then
      ngx.log(ngx.ERR, "featurebase.openresty: a callback raised: ", tostring(err))
      st.failures[#st.failures + 1] = err
    end
    local waiting = st.pending == 0 and st.idle and -st.idle:count() -- run()s waiting (a negative count)
    if waiting and waiting > 0 then st.idle:post(waiting) end
  end)
end

-- The async forms: each call in a light thread of the current request (or timer).
local function submit(self, callback, req, o)
  check(self, "an async call", 3)
  spawn(self, function()
    if not req then return callback(nil, o) end
    local value, err, info = client_mod.run(self, req, o, COSOCKET_IO)
    return callback(value, err, info)
  end)
end

-- Waits until every async call of this request has called back, those their callbacks started
-- included; then raises the oldest kept callback error (call run() again for the next).
local function run(self)
  check(self, "run", 3)
  local st = inflight(self)
  if st.threads[coroutine.running()] then
    error("featurebase.openresty: client:run() inside a callback would wait for that callback itself", 3)
  end
  while st.pending > 0 do
    st.idle = st.idle or semaphore.new()
    st.idle:wait(60)
  end
  if #st.failures > 0 then error(table.remove(st.failures, 1), 0) end
end

local function map_async(self, calls, opts, callback)
  client_mod.check_arg(calls, "table", 1, "map_async", 3)
  local limit = client_mod.concurrency(opts, "map_async", 3)
  local prepared = {}
  for i = 1, #calls do prepared[i] = { client_mod.prepare_spec(self, calls[i], i, "map_async", 4) } end
  local n, started, finished, results = #prepared, 0, 0, {}
  if n == 0 then return callback(results) end
  -- `limit` light threads, each taking the next call when its last one is done
  check(self, "map_async", 3)
  local function worker()
    while started < n do
      started = started + 1
      local i = started
      local req, o = prepared[i][1], prepared[i][2]
      local value, err, info
      if req then value, err, info = client_mod.run(self, req, o, COSOCKET_IO) else err = o end
      results[i] = { value = value, err = err, response = info }
      finished = finished + 1
      if finished == n then callback(results) end
    end
  end
  for _ = 1, math.min(limit, n) do spawn(self, worker) end
end

local function map(self, calls, opts)
  local out
  map_async(self, calls, opts, function(results) out = results end)
  if out == nil then run(self) end
  return out
end

COSOCKET_IO = { perform = perform, sleep = function(s) ngx.sleep(s) end, now = now, time = now, check = check,
  submit = submit, run = run, map = map, map_async = map_async,
  close = function(self) private[self] = nil end }

M.Client = client_mod.Client

--- A content_by_lua handler for Featurebase's webhooks: see featurebase.webhooks.openresty.
M.webhook = require("featurebase.webhooks").openresty
return M
