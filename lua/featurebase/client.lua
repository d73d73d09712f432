--- featurebase.client: the one client class, whatever the transport.
--
-- Its API methods are made from the C core's description of the API (`core.api`, src/fb_api.c):
-- for each endpoint a blocking form `client:name(args..., [params], [opts])` and a callback form
-- `client:name_async(args..., [params], callback, [opts])`. Both run the one request pipeline
-- below (validation and encoding in C, send, decode, retries). What varies is the transport, a
-- parameter of the client:
--   perform(client, method, path, body|nil, timeout, safe) -> value, {status=, headers=} | nil, err
--   sleep(seconds), now() -> monotonic seconds, time() -> Unix time with its fraction
--   submit(client, callback, req|nil, o|err)  start a call without blocking (the async forms)
--   check(client, method)?                    refuse a call this transport cannot make now
-- featurebase (libcurl, blocking; async forms on the curl-multi engine, featurebase.async),
-- featurebase.nvim (the same, driven by Neovim's loop) and featurebase.openresty (cosockets)
-- bring theirs.
-- @module featurebase.client
local core = require("featurebase.core_loader").load()
local retry = require("featurebase.retry")
local options = require("featurebase.options")
local env = require("featurebase.env")
local pacer_mod = require("featurebase.pacer")

local M = {}

---@class featurebase.Client
local Client = {}
Client.__index = Client
M.Client = Client

local select, type, error, getmetatable = select, type, error, getmetatable
local unpack = table.unpack or unpack ---@diagnostic disable-line: deprecated

-- Misuse raises, naming the argument, at the caller of the public method (`level` above this).
local function check_arg(v, want, n, method, level, what)
  if type(v) ~= want then
    error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, method, what or want, type(v)), level + 1)
  end
end
M.check_arg = check_arg

-- `self` must be a live featurebase.Client (a call with a dot, client.reply(...), is caught here).
local function check_client(self, method, level)
  if getmetatable(self) ~= Client then
    error(("bad argument #1 to '%s' (featurebase.Client expected, got %s: call it as client:%s(...))")
      :format(method, type(self), method), level + 1)
  end
  if not self._core then error("featurebase: the client is closed", level + 1) end
end
M.check_client = check_client

-- The message handler for a user's callback (featurebase.async, featurebase.openresty): a string
-- error keeps its traceback.
local function traceback(e)
  if type(e) == "string" then return debug.traceback(e, 2) end
  return e
end
M.traceback = traceback

-- One line (and its fields) per attempt for the `log` option: no body, no headers, so no key.
local function log_attempt(log, req, attempt, started, now, info, err, wait, why)
  local e = { method = req.method, path = req.path, attempt = attempt,
    ms = math.floor((now - started) * 1e6 + 0.5) / 1e3, status = info and info.status, kind = err and err.kind,
    request_id = info and info.request_id, retry_in = wait, gave_up = err and not wait and why or nil }
  local outcome = err and (err.kind .. (e.status and (" " .. e.status) or "")) or tostring(e.status)
  local line = ("featurebase: %s %s -> %s%s in %.1f ms, attempt %d"):format(req.method, req.path, outcome,
    e.request_id and (" (" .. e.request_id .. ")") or "", e.ms, attempt)
  if wait then line = line .. ("; retrying in %.2f s"):format(wait)
  elseif err then line = line .. "; not retried: " .. tostring(why) end
  log(line, e)
end

-- Waits until the client's pacer lets this attempt go (featurebase.pacer), within the deadline:
-- the pacer's token for this attempt | nil, err.
local function pace(pacer, req, o, io, start, attempt)
  while true do
    local wait, token = pacer:acquire(io.time(), o.rate_limit_reserve)
    if wait <= 0 then return token end
    -- longer than a 429 would be waited for: the server decides (its 429 then comes back at once)
    if wait > o.max_retry_wait then return pacer:sent(io.time()) end
    if o.deadline and io.now() - start + wait >= o.deadline then
      return nil, setmetatable({ kind = "timeout", request_sent = false, limit = "rate_limit", attempts = attempt - 1,
        message = ("%s %s not sent: the rate limit allows no call for %.2f s, past the deadline")
          :format(req.method, req.path, wait) }, core.error_mt)
    end
    if o.log then
      o.log(("featurebase: %s %s waits %.2f s for the rate limit"):format(req.method, req.path, wait),
        { method = req.method, path = req.path, attempt = attempt, paced = wait })
    end
    io.sleep(wait)
  end
end

--- The one request pipeline: pace, send, decode, and retry when that cannot do anything twice.
-- req = {method=, path=, body=, safe=, ep=, id=} as prepared below; o the merged options.
-- Returns value, nil, response | nil, err (err carries status, headers, request_id, rate_limit,
-- attempts).
---@param self featurebase.Client
---@param req table
---@param o table
---@param io table the transport
---@return any value
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function M.run(self, req, o, io)
  local start, attempt = o.deadline and io.now(), 0 -- the clock is read only when something needs it
  local pacer = o.pace and self._pacer
  while true do
    attempt = attempt + 1
    local token
    if pacer then
      local perr
      token, perr = pace(pacer, req, o, io, start, attempt)
      if not token then return nil, perr end
    end
    local timeout = o.timeout
    if start then
      local left = math.max(0.001, o.deadline - (io.now() - start))
      timeout = timeout and math.min(timeout, left) or left
    end
    local began = o.log and io.now()
    local value, res = io.perform(self, req.method, req.path, req.body, timeout, req.safe)
    -- the response, and an http error, come with status, headers, request_id and rate_limit (core)
    res.attempts = attempt
    if value ~= nil then
      if pacer then pacer:record(token, res.status, res.rate_limit, res.headers, io.time()) end
      if o.log then log_attempt(o.log, req, attempt, began, io.now(), res) end
      return value, nil, res
    end
    local err = res
    local info = err.headers and err -- an answer came
    if pacer then pacer:record(token, info and err.status, err.rate_limit, err.headers, io.time()) end
    -- an earlier attempt of this DELETE may have done it, its answer lost: gone is what was asked
    if info and req.ep.deleted and attempt > 1 and err.status == 404 then
      info = { status = err.status, headers = err.headers, request_id = err.request_id, rate_limit = err.rate_limit,
        attempts = attempt, deleted_before = true }
      if o.log then log_attempt(o.log, req, attempt, began, io.now(), info) end
      return { object = req.ep.deleted, deleted = true, id = req.id }, nil, info
    end
    local wait, why = retry.delay(err, attempt, o, os.time(), nil, req.safe)
    if wait and start and io.now() - start + wait >= o.deadline then wait, why = nil, "deadline reached" end
    if o.log then log_attempt(o.log, req, attempt, began, io.now(), info, err, wait, why) end
    if not wait then return nil, err end
    io.sleep(wait)
  end
end

-- A call's arguments by the endpoint's shape: path arguments, params (when it takes them), the
-- callback (async forms), options. Misuse raises at the caller of `method` (`level` above this).
-- Returns params, callback, opts, a1, a2.
local function split_args(ep, method, async, level, ...)
  local n = ep.nargs
  local k = n + 1
  local params, callback, opts
  if ep.params then
    params = select(k, ...)
    if params ~= nil or ep.params == "required" then check_arg(params, "table", k, method, level + 1) end
    k = k + 1
  end
  if async then
    callback = select(k, ...)
    check_arg(callback, "function", k, method, level + 1)
    k = k + 1
  end
  opts = select(k, ...)
  if opts ~= nil then check_arg(opts, "table", k, method, level + 1, "table of options") end
  local a1, a2
  if n == 1 then a1 = ... elseif n == 2 then a1, a2 = ... end
  return params, callback, opts, a1, a2
end

-- Returns req, o, callback | nil, err, callback.
local function prepare(self, ep, method, async, ...)
  local params, callback, opts, a1, a2 = split_args(ep, method, async, 3, ...)
  local o, oerr = options.merge(self._opts, opts)
  if not o then return nil, oerr, callback end
  local verb, path, body, safe = core.encode(ep.name, params, o.max_request_size, a1, a2)
  if not verb then return nil, path, callback end
  return { method = verb, path = path, body = body, safe = safe, ep = ep,
    id = ep.deleted and ep.args[1].kind ~= "string" and a1 or nil }, o, callback
end

--- Checks a call of method `name` (its path arguments, then params) against the API's rules
-- without sending anything: true, or nil and the invalid_request error. Misuse raises.
---@param name string
---@return true|nil ok
---@return featurebase.Error|nil err
function M.check(name, ...)
  local ep = M.endpoints[name]
  if not ep then
    error(("bad argument #1 to 'check' (an API method such as \"create_conversation\" expected, got %s)")
      :format(tostring(name)), 2)
  end
  local params, _, _, a1, a2 = split_args(ep, "check", false, 2, ...)
  local verb, err = core.encode(name, params, nil, a1, a2)
  if not verb then return nil, err end
  return true
end

-- A blocking call on a client whose calls an event loop drives would freeze that loop.
local function refuse_blocking(self, method)
  local s = rawget(self, "_async")
  local by = s and (s.driver or (s.driving and "client:run()"))
  if by then
    error(("featurebase: a blocking call on a client driven by %s would freeze it: use client:%s_async(...)")
      :format(by, method), 3)
  end
end

--- The API's endpoints, each a blocking method and an async one, made from `core.api`.
for _, ep in ipairs(core.api) do
  local name, async_name = ep.name, ep.name .. "_async"
  ep.nargs = #ep.args
  Client[name] = function(self, ...)
    check_client(self, name, 2)
    refuse_blocking(self, name)
    local io = self._io
    if io.check then io.check(self, name, 2) end
    local req, o = prepare(self, ep, name, false, ...)
    if not req then return nil, o end
    return M.run(self, req, o, io)
  end
  Client[async_name] = function(self, ...)
    check_client(self, async_name, 2)
    local req, o, callback = prepare(self, ep, async_name, true, ...)
    self._io.submit(self, callback, req, o)
  end
end

--- A call described as a list, for map: { "name", args..., [params], [opts] } -> req, o | nil, err.
-- Misuse raises at the caller of map (level).
---@param self featurebase.Client
---@param spec table
---@param i integer its index in calls
---@param method string "map" or "map_async", for messages
---@param level integer
---@return table|nil req
---@return table|featurebase.Error o_or_err
function M.prepare_spec(self, spec, i, method, level)
  if type(spec) ~= "table" then
    error(("bad argument #1 to '%s' (calls[%d] must be a table, got %s)"):format(method, i, type(spec)), level + 1)
  end
  local ep = M.endpoints[spec[1]]
  if not ep then
    error(("bad argument #1 to '%s' (calls[%d][1] must name an API method such as \"create_conversation\", got %s)")
      :format(method, i, tostring(spec[1])), level + 1)
  end
  local ok, req, o = pcall(prepare, self, ep, method, false, unpack(spec, 2, ep.nargs + 3))
  if not ok then error(("bad argument #1 to '%s' (calls[%d]: %s)"):format(method, i, tostring(req)), level + 1) end
  return req, o
end

M.endpoints = {}
for _, ep in ipairs(core.api) do M.endpoints[ep.name] = ep end

-- What both pagers read of a list answer: its items, and the next page's cursor, nil at the end
-- (an absent, null or empty nextCursor). Each pager pages a copy of the caller's query.
local function items(page) return type(page.data) == "table" and page.data or {} end
local function next_cursor(page)
  local c = page.nextCursor
  return type(c) == "string" and c ~= "" and c or nil
end
local function copy(query)
  local q = {}
  for k, v in pairs(query or {}) do q[k] = v end
  return q
end

--- Paging: an iterator over every item of a list endpoint, across pages, fetching the next page
-- only when needed. A failure raises the error value (a featurebase.Error): a list never ends
-- early as if it were complete.
local function pager(list_method, method)
  return function(self, query, opts)
    check_client(self, method, 2)
    refuse_blocking(self, method) -- before the loop starts, naming the async form
    if query ~= nil then check_arg(query, "table", 1, method, 2) end
    local q = copy(query)
    local data, i, done = nil, 0, false
    return function()
      while true do
        if data and i < #data then
          i = i + 1
          return data[i]
        end
        if done then return nil end
        local page, err = self[list_method](self, q, opts)
        if not page then error(err, 2) end
        data, i, q.cursor = items(page), 0, next_cursor(page)
        done = q.cursor == nil
      end
    end
  end
end

--- Every conversation, across pages: `for conv in client:conversations{ limit = 100 } do ... end`.
-- Raises a featurebase.Error when a page cannot be fetched (wrap the loop in pcall to handle it).
---@param query? featurebase.ListConversationsQuery
---@param opts? featurebase.CallOptions
---@return fun(): featurebase.Conversation|nil
Client.conversations = pager("list_conversations", "conversations")

--- Every contact, across pages: `for contact in client:contacts{ contactType = "all" } do ... end`.
-- Raises a featurebase.Error when a page cannot be fetched.
---@param query? featurebase.ListContactsQuery
---@param opts? featurebase.CallOptions
---@return fun(): featurebase.Contact|nil
Client.contacts = pager("list_contacts", "contacts")

--- Paging without blocking, on every transport: the pages are fetched one after another with
-- `list_async`, on_item(item) is called for each item in order (returning false stops: no further
-- page is fetched), then on_done(true) once the list ends or is stopped, or on_done(nil, err) when a
-- page fails.
local function async_pager(list_async, method)
  return function(self, query, on_item, on_done, opts)
    check_client(self, method, 2)
    if query ~= nil then check_arg(query, "table", 1, method, 2) end
    check_arg(on_item, "function", 2, method, 2)
    check_arg(on_done, "function", 3, method, 2)
    if opts ~= nil then check_arg(opts, "table", 4, method, 2, "table of options") end
    local q = copy(query)
    local function on_page(page, err)
      if not page then return on_done(nil, err) end
      local data = items(page)
      for i = 1, #data do
        if on_item(data[i]) == false then return on_done(true) end
      end
      q.cursor = next_cursor(page)
      if not q.cursor then return on_done(true) end
      self[list_async](self, q, on_page, opts)
    end
    self[list_async](self, q, on_page, opts)
  end
end

--- Every conversation, across pages, without blocking (Neovim, client:run(), OpenResty):
-- `client:conversations_async({ limit = 100 }, function(conv) ... end, function(ok, err) ... end)`.
-- on_item returning false stops the listing; on_done(true) when it ends, on_done(nil, err) when a
-- page cannot be fetched.
---@param query? featurebase.ListConversationsQuery
---@param on_item fun(conversation: featurebase.Conversation): boolean|nil
---@param on_done fun(ok: true|nil, err: featurebase.Error|nil)
---@param opts? featurebase.CallOptions
Client.conversations_async = async_pager("list_conversations_async", "conversations_async")

--- Every contact, across pages, without blocking: as conversations_async.
---@param query? featurebase.ListContactsQuery
---@param on_item fun(contact: featurebase.Contact): boolean|nil
---@param on_done fun(ok: true|nil, err: featurebase.Error|nil)
---@param opts? featurebase.CallOptions
Client.contacts_async = async_pager("list_contacts_async", "contacts_async")

--- The libcurl transport: one easy handle per client for the blocking calls, the curl-multi
-- engine (featurebase.async, loaded on first use) for the async forms.
M.libcurl = {
  perform = function(self, method, path, body, timeout, safe)
    return self._core:perform(method, path, body, timeout, safe)
  end,
  sleep = core.sleep,
  now = core.now,
  time = core.time,
  submit = function(...) return require("featurebase.async").submit(...) end,
  run = function(...) return require("featurebase.async").run(...) end,
  map = function(...) return require("featurebase.async").map(...) end,
  map_async = function(...) return require("featurebase.async").map_async(...) end,
}

--- Creates a client on a transport. `layers` names the option layers beyond the core's and the
-- pipeline's (e.g. {openresty = true}); their values come back as the second result.
---@param opts? featurebase.Options
---@param transport table perform, sleep, now, submit, ... (see above)
---@param layers? table<string, boolean>
---@return featurebase.Client|nil client
---@return table|featurebase.Error own options of the extra layers, or err
function M.new(opts, transport, layers)
  local own, c_opts = options.split(opts, layers or { client = true })
  if not own then return nil, c_opts end
  if c_opts.api_key == nil then c_opts.api_key = env.get("FEATUREBASE_API_KEY") end
  if c_opts.api_key == nil then
    return nil, options.error("api_key", env.missing("FEATUREBASE_API_KEY", "api_key"))
  end
  if c_opts.base_url == nil then c_opts.base_url = env.get("FEATUREBASE_BASE_URL") end
  if own.log == nil and env.get("FEATUREBASE_LOG") == "debug" then
    own.log = function(line) io.stderr:write(line, "\n") end
  end
  if own.log == false then own.log = nil end
  local handle, err = core.new(c_opts)
  if not handle then return nil, err end
  -- the per-attempt timeout the pipeline passes down; a deadline only ever shortens it
  own.timeout = c_opts.timeout or core.limits.timeout
  -- one pacer for every call of this client (featurebase.openresty may put it in a shared dict)
  return setmetatable({ _core = handle, _opts = own, _io = transport, _pacer = pacer_mod.new() }, Client), own
end

--- Stops this client's async calls (their callbacks are not called) and frees its curl handle now
-- rather than at garbage collection. Safe to call twice.
function Client:close()
  if getmetatable(self) ~= Client then check_client(self, "close", 2) end
  local s = rawget(self, "_async")
  if s then
    self._async = nil
    s:close()
  end
  if self._io.close then self._io.close(self) end
  if self._core then
    self._core:close()
    self._core = nil
  end
end

Client.__close = Client.close

--- This client on the blocking libcurl transport, sharing its handle (closing either closes both):
-- for OpenResty's init_by_lua and scripts, where stalling the worker is acceptable. A blocking
-- client returns itself.
---@return featurebase.Client
function Client:blocking()
  check_client(self, "blocking", 2)
  if self._io == M.libcurl then return self end
  return setmetatable({ _core = self._core, _opts = self._opts, _io = M.libcurl, _pacer = self._pacer }, Client)
end -- Lua 5.4: local client <close> = featurebase.new{...}

function Client:__tostring()
  return self._core and tostring(self._core) or "featurebase.Client (closed)"
end

--- Runs this client's async calls until every one has called back (scripts; not inside Neovim).
-- Re-raises the first error a callback raised.
function Client:run()
  check_client(self, "run", 2)
  self._io.run(self)
end

--- Runs many calls, at most opts.concurrency (default 16) at a time, and returns their results in
-- order: results[i] = { value =, err =, response = } for calls[i], where a call is a list
-- { "method_name", args..., [params], [opts] }, e.g. { "reply", "42", params }. Blocks until all
-- are done (it drives the engine itself).
---@param calls table[]
---@param opts? {concurrency?: integer}
---@return {value: any, err: featurebase.Error|nil, response: featurebase.Response|nil}[]
function Client:map(calls, opts)
  check_client(self, "map", 2)
  return self._io.map(self, calls, opts)
end

--- map without blocking: callback(results) is called by the driver once every call is done.
---@param calls table[]
---@param opts? {concurrency?: integer}
---@param callback fun(results: {value: any, err: featurebase.Error|nil, response: featurebase.Response|nil}[])
function Client:map_async(calls, opts, callback)
  check_client(self, "map_async", 2)
  check_arg(callback, "function", 3, "map_async", 2)
  self._io.map_async(self, calls, opts, callback)
end

--- The concurrency option of map: a whole number >= 1, default 16.
---@param opts? {concurrency?: integer}
---@param method string for messages
---@param level integer
---@return integer
function M.concurrency(opts, method, level)
  if opts == nil then return 16 end
  check_arg(opts, "table", 2, method, level + 1)
  local n = opts.concurrency
  if n == nil then return 16 end
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
    error(("bad argument #2 to '%s' (concurrency must be a whole number >= 1)"):format(method), level + 1)
  end
  return n
end

-- The helpers (start_conversation, reply_as_admin, add_note, ...) and client:import are methods
-- of this same class, on every transport. Their modules are installed at the first lookup of a name
-- the class does not have: a program that only makes API calls never loads them (start-up time).
setmetatable(Client, { __index = function(_, name)
  require("featurebase.helpers").install(Client)
  require("featurebase.import").install(Client)
  setmetatable(Client, nil)
  return Client[name]
end })

return M
