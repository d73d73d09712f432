--- featurebase.async: many calls in flight on one thread, over libcurl's multi interface.
--
-- Each call runs the blocking calls' own pipeline (featurebase.client: validation, decoding,
-- retries) in a coroutine whose transport yields: `perform` until the engine (featurebase.core's
-- libcurl multi handle) completes the transfer, `sleep` until a timer is due. Something must drive
-- the engine: `client:run()` in a script, or an event loop (featurebase.nvim for Neovim). This is
-- the `submit`/`run`/`map` part of the libcurl transport (featurebase.lua).
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
local core = require("featurebase.core_loader").load()
local client_mod = require("featurebase.client")

local M = {}

local PERFORM, SLEEP = {}, {} -- what a call's coroutine yields for

-- The transport: featurebase._run calls these inside the call's coroutine.
local IO = {
  perform = function(_, method, path, body, timeout, safe)
    return coroutine.yield(PERFORM, method, path, body, timeout, safe)
  end,
  sleep = function(seconds) coroutine.yield(SLEEP, seconds) end,
  now = core.now,
  time = core.time,
}

local traceback = client_mod.traceback

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
  if call.raw then return call.callback(call, value, err, info) end -- internal continuations (map)
  if self.deliver then return self.deliver(call.callback, value, err, info) end
  local ok, e = xpcall(function() return call.callback(value, err, info) end, traceback)
  if not ok then self.errors[#self.errors + 1] = e end
end

-- Runs a call's coroutine until it waits for a transfer or a timer, or finishes.
function Sched:resume(call, ...)
  local ok, what, a, b, c, d, e = coroutine.resume(call.co, ...)
  if not ok then -- a bug, not a result: raise it, without leaving run() waiting for this call
    self.pending = self.pending - 1
    error(debug.traceback(call.co, tostring(what)), 0)
  end
  if coroutine.status(call.co) == "dead" then return self:finish(call, what, a, b) end
  if what == PERFORM then
    local added, id = pcall(self.engine.add, self.engine, a, b, c, d, e)
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

-- Starts a call: req, o as featurebase.client prepares them, or nil, err when the input was refused.
-- raw: an internal continuation (map's), called as callback(call, value, err, info); `i` is kept in
-- call.i for it.
function Sched:submit(callback, raw, req, o, i)
  local call = { callback = callback, raw = raw, i = i }
  self.pending = self.pending + 1
  if not req then
    self.ready[#self.ready + 1] = function() self:finish(call, nil, o, nil) end
  else
    call.co = coroutine.create(client_mod.run)
    self:resume(call, self.client, req, o, IO)
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
  -- One result at a time: the call's next request (map's next call) leaves before the next
  -- answer is decoded, and a result not taken yet stays in the engine's queue.
  local engine, waiting = self.engine, self.waiting
  while true do
    local d = engine:done(1)[1]
    if not d then break end
    local call = waiting[d.id]
    waiting[d.id] = nil
    if call then self:resume(call, d.value, d.value ~= nil and d.response or d.err) end
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

-- Drives the engine with curl_multi_poll until done() is true or nothing is left. While it runs,
-- the client refuses blocking calls (they would stall every call in flight).
function Sched:drive(done)
  if self.driver then
    error("featurebase.async: this client is driven by " .. self.driver .. "; run() would block it", 3)
  end
  self:raise()
  self.driving = true
  while self.pending > 0 and not (done and done()) do
    local wait = self:next_wait()
    local ms = wait and math.min(1000, math.ceil(wait * 1000)) or 1000
    self.engine:run(ms)
    local ok, e = pcall(self.pump, self)
    if not ok then
      self.driving = false
      error(e, 0)
    end
    if #self.errors > 0 then
      self.driving = false
      self:raise()
    end
  end
  self.driving = false
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

--- Starts one call on the client's engine (the async forms of featurebase.client).
---@param client featurebase.Client
---@param callback function called with value, err, response
---@param req table|nil the prepared request (nil when preparing it failed)
---@param o table|featurebase.Error the merged options, or the error to hand back
function M.submit(client, callback, req, o)
  M.scheduler(client):submit(callback, false, req, o)
end

-- Starts every call, at most `limit` at a time; on_done(results) once all have finished.
local function map_start(client, encoded, limit, on_done)
  local s = M.scheduler(client)
  local n, started, finished, results = #encoded, 0, 0, {}
  local on_result
  local function deliver() -- the user's callback, through the driver like any other
    s.pending = s.pending + 1
    s:finish({ callback = on_done }, results)
  end
  local function launch()
    started = started + 1
    local e = encoded[started]
    s:submit(on_result, true, e[1], e[2], started)
  end
  function on_result(call, value, err, info)
    results[call.i] = { value = value, err = err, response = info }
    finished = finished + 1
    if started < n then launch() end
    if finished == n then deliver() end
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

local function prepare_all(client, calls, method)
  local encoded = {}
  for i = 1, #calls do encoded[i] = { client_mod.prepare_spec(client, calls[i], i, method, 3) } end
  return encoded
end

--- client:map on the engine: blocks until every call is done.
---@param client featurebase.Client
---@param calls table[]
---@param opts? {concurrency?: integer}
---@return {value: any, err: featurebase.Error|nil, response: featurebase.Response|nil}[]
function M.map(client, calls, opts)
  client_mod.check_arg(calls, "table", 1, "map", 2)
  local limit = client_mod.concurrency(opts, "map", 2)
  local encoded = prepare_all(client, calls, "map")
  local out
  local s = M.scheduler(client)
  if s.driver then error("featurebase.async: this client is driven by " .. s.driver .. "; use map_async", 3) end
  map_start(client, encoded, limit, function(results) out = results end)
  s:drive(function() return out ~= nil end)
  return out
end

--- client:map_async on the engine: callback(results) through the driver once every call is done.
---@param client featurebase.Client
---@param calls table[]
---@param opts? {concurrency?: integer}
---@param callback fun(results: {value: any, err: featurebase.Error|nil, response: featurebase.Response|nil}[])
function M.map_async(client, calls, opts, callback)
  client_mod.check_arg(calls, "table", 1, "map_async", 2)
  local limit = client_mod.concurrency(opts, "map_async", 2)
  map_start(client, prepare_all(client, calls, "map_async"), limit, callback)
end

return M
