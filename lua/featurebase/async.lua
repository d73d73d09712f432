--- featurebase.async: many calls in flight on one thread, over libcurl's multi interface.
--
-- Each call runs the blocking calls' own pipeline (`featurebase._run`: validation, decoding,
-- retries) in a coroutine whose transport yields: `perform` until the engine (featurebase.core's
-- libcurl multi handle) completes the transfer, `sleep` until a timer is due. Something must drive
-- the engine: `client:run()` / `featurebase.async.run(client)` in a script, or an event loop
-- (featurebase.nvim for Neovim).
--
--   local client = assert(featurebase.new{ api_key = "sk_..." })
--   client:create_conversation_async(params, function(conversation, err, response) ... end)
--   client:run()                          -- returns when every call has called back
--   local results = client:map({ { "create_conversation", p1 }, { "reply", "42", p2 } },
--     { concurrency = 32 })                -- results[i] = { value =, err =, response = }, in order
--
-- Invalid input is never sent: the callback gets (nil, invalid_request error) on the next turn of
-- the driver, like every other result. A callback is never called before the *_async method returns.
-- An error raised by a callback is kept and re-raised by run()/map() once that callback is done
-- (the other calls go on; call run() again to finish them). Under Neovim, callbacks run through
-- vim.schedule and their errors are reported by Neovim.
--
-- @module featurebase.async
local core = require("featurebase.core")

local M = {}

local PERFORM, SLEEP = {}, {} -- what a call's coroutine yields for

-- The transport: featurebase._run calls these inside the call's coroutine.
local IO = {
  perform = function(_, path, body, timeout) return coroutine.yield(PERFORM, path, body, timeout) end,
  sleep = function(seconds) coroutine.yield(SLEEP, seconds) end,
  now = core.now,
}

-- A callback error keeps its traceback when it is a string.
local function traceback(e)
  if type(e) == "string" then return debug.traceback(e, 2) end
  return e
end

---@class featurebase.async.Scheduler
---@field engine userdata the featurebase.Engine (libcurl multi handle)
---@field pending integer calls started and not yet called back
---@field deliver? fun(callback: function, value: any, err: any, info: any) set by event-loop drivers
---@field wake? fun() set by event-loop drivers: new transfers or timers to watch
local Sched = {}
Sched.__index = Sched

--- The client's scheduler, created on first use.
---@param client featurebase.Client
---@return featurebase.async.Scheduler
function M.scheduler(client)
  local s = rawget(client, "_async")
  if not s then
    if not client._core then error("featurebase: the client is closed", 2) end
    s = setmetatable({
      client = client,
      engine = core.engine(client._core),
      waiting = {}, -- engine transfer id -> call
      timers = {},  -- { due =, call = }: retry waits
      ready = {},   -- functions for the next turn (results of calls refused before sending)
      errors = {},  -- callback errors, re-raised by run()
      pending = 0,
    }, Sched)
    client._async = s
  end
  return s
end

-- Hands a finished call's result to its callback.
function Sched:finish(call, value, err, info)
  self.pending = self.pending - 1
  if call.raw then return call.callback(value, err, info) end -- internal continuations (map)
  if self.deliver then return self.deliver(call.callback, value, err, info) end
  local ok, e = xpcall(function() return call.callback(value, err, info) end, traceback)
  if not ok then self.errors[#self.errors + 1] = e end
end

-- Runs a call's coroutine until it waits for a transfer or a timer, or finishes.
function Sched:resume(call, ...)
  local ok, what, a, b, c = coroutine.resume(call.co, ...)
  if not ok then -- a bug, not a result: raise it, without leaving run() waiting for this call
    self.pending = self.pending - 1
    error(debug.traceback(call.co, tostring(what)), 0)
  end
  if coroutine.status(call.co) == "dead" then return self:finish(call, what, a, b) end
  if what == PERFORM then
    local added, id = pcall(self.engine.add, self.engine, a, b, c)
    if not added then
      self.pending = self.pending - 1
      error(id, 0)
    end
    self.waiting[id] = call
  elseif what == SLEEP then
    self.timers[#self.timers + 1] = { due = core.now() + a, call = call }
  else
    error("featurebase.async: unexpected yield from a call", 0)
  end
end

-- Starts a call: path, body, o from encoding, or nil, err when the input was refused.
function Sched:submit(callback, raw, path, body, o)
  local call = { callback = callback, raw = raw }
  self.pending = self.pending + 1
  if not path then
    self.ready[#self.ready + 1] = function() self:finish(call, nil, body, nil) end
  else
    local client = self.client
    call.co = coroutine.create(function() return require("featurebase")._run(client, path, body, o, IO) end)
    self:resume(call)
  end
  if self.wake then self.wake() end
end

--- One turn: deliver completed transfers, due timers and deferred results. Drivers call it after
-- every engine action.
function Sched:pump()
  if #self.ready > 0 then
    local ready = self.ready
    self.ready = {}
    for _, f in ipairs(ready) do f() end
  end
  for _, d in ipairs(self.engine:done()) do
    local call = self.waiting[d.id]
    self.waiting[d.id] = nil
    if call then self:resume(call, d.response, d.err) end
  end
  if #self.timers > 0 then
    local now, due, keep = core.now(), {}, {}
    for _, t in ipairs(self.timers) do
      if t.due <= now then due[#due + 1] = t else keep[#keep + 1] = t end
    end
    self.timers = keep
    for _, t in ipairs(due) do self:resume(t.call) end
  end
end

--- Seconds until the scheduler itself needs a turn (0: now), or nil. The engine's own wish is
-- engine:timeout().
---@return number|nil
function Sched:next_wait()
  if #self.ready > 0 then return 0 end
  local soonest
  for _, t in ipairs(self.timers) do
    if not soonest or t.due < soonest then soonest = t.due end
  end
  return soonest and math.max(0, soonest - core.now()) or nil
end

-- Re-raises the oldest kept callback error.
function Sched:raise()
  if #self.errors > 0 then error(table.remove(self.errors, 1), 0) end
end

-- Drives the engine with curl_multi_poll until done() is true or nothing is left.
function Sched:drive(done)
  if self.driver then
    error("featurebase.async: this client is driven by " .. self.driver .. "; run() would block it", 3)
  end
  self:raise()
  while self.pending > 0 and not (done and done()) do
    local wait = self:next_wait()
    local ms = wait and math.min(1000, math.ceil(wait * 1000)) or 1000
    self.engine:run(ms)
    self:pump()
    self:raise()
  end
end

--- Stops every call in flight (their callbacks are not called) and frees the engine.
function Sched:close()
  if self.on_close then self.on_close() end
  self.engine:close()
  self.waiting, self.timers, self.ready, self.pending = {}, {}, {}, 0
end

--- Runs the client's async calls until all have called back. Re-raises a callback's error.
---@param client featurebase.Client
function M.run(client)
  local s = rawget(client, "_async")
  if s then s:drive() end
end

-- Validation and encoding, exactly as the blocking methods do: path, body, o or nil, err.
local function encode(fb, client, method, id, params, opts)
  local o, oerr = fb._call_options(client, opts, method, 0)
  if not o then return nil, oerr end
  local path, body
  if method == "create_conversation" then
    path, body = fb._encode_create(params, o.max_request_size) -- createdAt may be a Lua time
  else
    path, body = core.encode_reply(id, params, o.max_request_size)
  end
  if not path then return nil, body end
  return path, body, o
end

-- { "create_conversation", params [, opts] } or { "reply", id, params [, opts] } -> path, body, o | nil, err
local function encode_spec(fb, client, spec, i, method)
  if type(spec) ~= "table" then
    error(("bad argument #1 to '%s' (calls[%d] must be a table, got %s)"):format(method, i, type(spec)), 3)
  end
  local name, opts = spec[1], nil
  if name == "create_conversation" then
    fb._check_arg(spec[2], "table", 1, method, ("calls[%d][2] params table"):format(i))
    opts = spec[3]
  elseif name == "reply" then
    fb._check_arg(spec[3], "table", 1, method, ("calls[%d][3] params table"):format(i))
    opts = spec[4]
  else
    error(("bad argument #1 to '%s' (calls[%d][1] must be \"create_conversation\" or \"reply\", got %s)")
      :format(method, i, tostring(name)), 3)
  end
  if opts ~= nil then fb._check_arg(opts, "table", 1, method, ("calls[%d] options table"):format(i)) end
  if name == "create_conversation" then return encode(fb, client, name, nil, spec[2], opts) end
  return encode(fb, client, name, spec[2], spec[3], opts)
end

local function check_concurrency(fb, opts, method)
  if opts == nil then return 16 end
  fb._check_arg(opts, "table", 3, method)
  local n = opts.concurrency
  if n == nil then return 16 end
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
    error(("bad argument #3 to '%s' (concurrency must be a whole number >= 1)"):format(method), 3)
  end
  return n
end

-- Starts every call, at most `limit` at a time; on_done(results) once all have finished.
local function map_start(client, encoded, limit, on_done)
  local s = M.scheduler(client)
  local n, started, finished, results = #encoded, 0, 0, {}
  local launch
  local function deliver() -- the user's callback, through the driver like any other
    s.pending = s.pending + 1
    s:finish({ callback = on_done }, results)
  end
  function launch()
    started = started + 1
    local i, e = started, encoded[started]
    s:submit(function(value, err, info)
      results[i] = { value = value, err = err, response = info }
      finished = finished + 1
      if started < n then launch() end
      if finished == n then deliver() end
    end, true, e[1], e[2], e[3])
  end
  if n == 0 then
    s.pending = s.pending + 1
    s.ready[#s.ready + 1] = function() s.pending = s.pending - 1 deliver() end
    if s.wake then s.wake() end
  end
  for _ = 1, math.min(limit, n) do launch() end
end

--- A runner for client:import (or any list of jobs): `work(job, api)` runs for each job in a
-- coroutine of its own, at most `concurrency` at a time, where `api.create_conversation(params)` and
-- `api.reply(id, params)` are the client's *_async calls, awaited: each job reads like blocking code
-- while the engine keeps every job's request in flight. Blocks until all are done; an error raised
-- in `work` is re-raised here.
---@param client featurebase.Client
---@param concurrency integer
---@param request_options? featurebase.CallOptions passed to every call
---@return fun(jobs: table[], work: fun(job: table, api: table))
function M.runner(client, concurrency, request_options)
  return function(jobs, work)
    local next_job, failure = 1, nil
    local function resume(co, ...)
      local ok, err = coroutine.resume(co, ...)
      if not ok and not failure then failure = debug.traceback(co, tostring(err)) end
    end
    -- Starts a call whose callback resumes this job's coroutine; returns what the callback got.
    local function await(start)
      local co = coroutine.running()
      start(function(...) resume(co, ...) end) -- never called before start returns
      return coroutine.yield()
    end
    local api = {
      create_conversation = function(params)
        return await(function(cb) client:create_conversation_async(params, cb, request_options) end)
      end,
      reply = function(id, params)
        return await(function(cb) client:reply_async(id, params, cb, request_options) end)
      end,
    }
    local function launch()
      if failure or next_job > #jobs then return end
      local job = jobs[next_job]
      next_job = next_job + 1
      resume(coroutine.create(function()
        work(job, api)
        launch() -- this job is done: the next one takes its place
      end))
    end
    for _ = 1, math.min(concurrency, #jobs) do launch() end
    client:run()
    if failure then error(failure, 0) end
  end
end

--- Adds the *_async methods, run() and map() to featurebase.Client. Called by featurebase itself.
---@param fb table the featurebase module
function M.install(fb)
  local Client = fb.Client

  --- Opens a conversation without blocking: callback(conversation, err, response) is called by the
  -- driver (client:run(), or Neovim's loop) once the call is done, retries included.
  ---@param params featurebase.CreateParams
  ---@param callback fun(conversation: table|nil, err: featurebase.Error|nil, response: featurebase.Response|nil)
  ---@param opts? featurebase.CallOptions
  function Client:create_conversation_async(params, callback, opts)
    fb._check_client(self, "create_conversation_async")
    fb._check_arg(params, "table", 1, "create_conversation_async")
    fb._check_arg(callback, "function", 2, "create_conversation_async")
    if opts ~= nil then fb._check_arg(opts, "table", 3, "create_conversation_async", "table of options") end
    M.scheduler(self):submit(callback, false, encode(fb, self, "create_conversation", nil, params, opts))
  end

  --- Replies (or leaves a note) without blocking; see create_conversation_async.
  ---@param conversation_id string
  ---@param params featurebase.ReplyParams
  ---@param callback fun(part: table|nil, err: featurebase.Error|nil, response: featurebase.Response|nil)
  ---@param opts? featurebase.CallOptions
  function Client:reply_async(conversation_id, params, callback, opts)
    fb._check_client(self, "reply_async")
    fb._check_arg(params, "table", 2, "reply_async")
    fb._check_arg(callback, "function", 3, "reply_async")
    if opts ~= nil then fb._check_arg(opts, "table", 4, "reply_async", "table of options") end
    M.scheduler(self):submit(callback, false, encode(fb, self, "reply", conversation_id, params, opts))
  end

  --- Runs this client's async calls until every one has called back (scripts; not inside Neovim).
  -- Re-raises the first error a callback raised.
  function Client:run()
    fb._check_client(self, "run")
    M.run(self)
  end

  --- Runs many calls, at most opts.concurrency (default 16) at a time, and returns their results in
  -- order: results[i] = { value =, err =, response = } for calls[i], where a call is
  -- { "create_conversation", params [, opts] } or { "reply", conversation_id, params [, opts] }.
  -- Blocks until all are done (it drives the engine itself).
  ---@param calls table[]
  ---@param opts? {concurrency?: integer}
  ---@return {value: table|nil, err: featurebase.Error|nil, response: featurebase.Response|nil}[]
  function Client:map(calls, opts)
    fb._check_client(self, "map")
    fb._check_arg(calls, "table", 1, "map")
    local limit = check_concurrency(fb, opts, "map")
    local encoded = {}
    for i = 1, #calls do encoded[i] = { encode_spec(fb, self, calls[i], i, "map") } end
    local out
    local s = M.scheduler(self)
    if s.driver then error("featurebase.async: this client is driven by " .. s.driver .. "; use map_async", 2) end
    map_start(self, encoded, limit, function(results) out = results end)
    s:drive(function() return out ~= nil end)
    return out
  end

  --- map without blocking: callback(results) is called by the driver once every call is done.
  ---@param calls table[]
  ---@param opts? {concurrency?: integer}
  ---@param callback fun(results: {value: table|nil, err: featurebase.Error|nil, response: featurebase.Response|nil}[])
  function Client:map_async(calls, opts, callback)
    fb._check_client(self, "map_async")
    fb._check_arg(calls, "table", 1, "map_async")
    local limit = check_concurrency(fb, opts, "map_async")
    fb._check_arg(callback, "function", 3, "map_async")
    local encoded = {}
    for i = 1, #calls do encoded[i] = { encode_spec(fb, self, calls[i], i, "map_async") } end
    map_start(self, encoded, limit, callback)
  end

  -- close() also stops the engine; in-flight async calls are dropped without calling back.
  local close = Client.close
  function Client:close()
    local s = getmetatable(self) == Client and rawget(self, "_async")
    if s then
      self._async = nil
      s:close()
    end
    return close(self)
  end
  Client.__close = Client.close
end

return M
