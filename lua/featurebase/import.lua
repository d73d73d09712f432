--- featurebase.import: migrate conversations from another tool, resumably.
--
-- `client:import(conversations, opts)` creates each conversation with its `createdAt`, then posts
-- its `messages` in order as replies with `skipNotifications = true`. A journal file records every
-- step, so a run that was killed can be started again and sends nothing twice.
--
-- The journal is append-only JSON lines, each written with one write() and fsync'd before the next
-- step: `{"k":key,"i":n,"s":"send"}` before a request, then `"ok"` (with the new id), `"fail"`
-- (certainly not acted on: a refused request, a 4xx, a connection never made) or `"doubt"`. `i` is
-- 0 for the conversation itself and n for `messages[n]`; `key` is the conversation's `key`, else
-- its position `#n` in the list.
--
-- The one window no journal can close: the server acted on a request but the process died (or the
-- answer was lost) before the "ok" line was written. Featurebase has no idempotency key, so such a
-- step is *in doubt*: it was sent at most once, and resending it could post it twice. By default
-- (`in_doubt = "skip"`) an in-doubt step is never sent again; it is listed in every summary so a
-- human can check it. `in_doubt = "resend"` sends it again instead (at least once: at most one
-- duplicate per step in doubt). An in-doubt conversation creation stops that conversation either
-- way when skipped, since its id (needed for the replies) never arrived.
--
-- Conversations run one after another, or `opts.concurrency` at a time on the async engine
-- (featurebase.async.runner). `opts.runner` lets any other concurrent engine run them instead:
-- `runner(jobs, work)` must call `work(job, api)` once per job, in any order or concurrently (e.g.
-- each in a coroutine), where `api` has `create_conversation(params)` and `reply(id, params)`
-- returning like the client's methods; without `api`, work uses the client's blocking calls.
-- Messages of one conversation always go in order, one at a time.
-- @module featurebase.import
local core = require("featurebase.core_loader").load()
local cjson = require("cjson.safe")

local M = {}

local Client -- featurebase.Client, set by install

---@class featurebase.ImportConversation: featurebase.CreateParams
---@field key? string|number a stable id from the source system (default: the position, "#3")
---@field messages? featurebase.ReplyParams[] replies in order; messageType defaults to "reply"

---@class featurebase.ImportOptions
---@field journal string|false path of the journal file (created if missing); false: no resuming
---@field in_doubt? "skip"|"resend" what to do with a step that may have been sent (default "skip")
---@field skip_notifications? boolean set skipNotifications on replies (default true)
---@field progress? "auto"|"bar"|"lines"|false|fun(stats: featurebase.ImportStats, event: string, info?: table)
---@field output? file* where the bar or the lines go (default io.stderr)
---@field request_options? featurebase.CallOptions per-call options for every request
---@field runner? fun(jobs: featurebase.ImportJob[], work: fun(job: featurebase.ImportJob, api?: table))
---@field concurrency? integer conversations in flight at once on the async engine (default 1: one by one)

---@class featurebase.ImportJob
---@field key string
---@field index integer position in the input list
---@field conversation table

---@class featurebase.ImportStats
---@field conversations integer in the input
---@field finished integer conversations done with (completed, failed or stopped in doubt)
---@field messages integer steps in the input: one per conversation plus one per message
---@field processed integer steps accounted for so far
---@field sent integer steps sent by this run
---@field already integer steps found done in the journal
---@field failed integer conversations that failed
---@field in_doubt integer steps in doubt
---@field elapsed number seconds since the start
---@field rate number steps sent per second
---@field eta number|nil seconds left at that rate

---@class featurebase.ImportProblem
---@field key string the conversation's key
---@field index integer 0: the conversation's creation; n: messages[n]
---@field reason string
---@field error? featurebase.Error

---@class featurebase.ImportSummary: featurebase.ImportStats
---@field completed integer conversations with every step done
---@field ids table<string, string> conversation key -> Featurebase conversation id
---@field failures featurebase.ImportProblem[] what failed, certainly not sent (a new run retries it)
---@field doubts featurebase.ImportProblem[] what may have been sent once (see in_doubt)

-- Journal ------------------------------------------------------------------------------------------

-- A cheap fingerprint of a step's body: the journal notices when the input changed under a key.
local function fingerprint(body)
  if type(body) ~= "string" then return "-" end
  local s = #body > 8192 and (body:sub(1, 4096) .. body:sub(-4096)) or body
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 4294967296 end
  return ("%d:%08x"):format(#body, h)
end

local HEADER = '{"featurebase_import_journal":1}'

-- Reads a journal: state[key][i] = the last record for that step. Lines that do not decode were
-- torn by a kill in the middle of a write, and are skipped. Returns state, whether the file ends
-- inside a line, whether it is new.
local function load_journal(path)
  local state = {}
  local f = io.open(path, "rb")
  if not f then return state, false, true end
  local data = f:read("*a") or ""
  f:close()
  if data == "" then return state, false, true end
  if data:sub(1, #HEADER + 1) ~= HEADER .. "\n" then
    error("featurebase.import: " .. path .. " is not an import journal (it does not start with "
      .. HEADER .. ")", 4)
  end
  for line in data:gmatch("([^\n]*)\n") do
    local r = cjson.decode(line)
    if type(r) == "table" and r.k ~= nil and type(r.i) == "number" then
      local k = tostring(r.k)
      state[k] = state[k] or {}
      local prev = state[k][r.i]
      r.f = r.f or (prev and prev.f)
      state[k][r.i] = r
    end
  end
  return state, data:sub(-1) ~= "\n", false
end

local function open_journal(path)
  local state, torn, new = load_journal(path)
  local f, why = io.open(path, "ab")
  if not f then error("featurebase.import: cannot open the journal: " .. tostring(why), 3) end
  if not core.lock(f) then
    f:close()
    error("featurebase.import: the journal " .. path .. " is in use by another import", 3)
  end
  local j = { state = state, file = f }
  local function append(s)
    -- one write per line, then fsync: a line is either whole in the file or absent
    local ok, err = f:write(s)
    if ok then ok, err = core.fsync(f) end
    if not ok then error("featurebase.import: cannot write the journal: " .. tostring(err), 0) end
  end
  function j.write(record) append(assert(cjson.encode(record)) .. "\n") end
  if new then append(HEADER .. "\n") end
  if torn then append("\n") end -- end the torn line, so the next record starts on its own
  return j
end

local function no_journal()
  return { state = {}, write = function() end }
end

-- Progress -----------------------------------------------------------------------------------------

local function clock(s)
  if not s or s ~= s or s == math.huge then return "--:--" end
  s = math.floor(s + 0.5)
  local h, m = math.floor(s / 3600), math.floor(s / 60) % 60
  return h > 0 and ("%d:%02d:%02d"):format(h, m, s % 60) or ("%d:%02d"):format(m, s % 60)
end

local function counts(st)
  return ("%d/%d conversations  %d/%d steps  %.1f/s  ETA %s  %d failed%s"):format(st.finished, st.conversations,
    st.processed, st.messages, st.rate, clock(st.eta), st.failed,
    st.in_doubt > 0 and ("  %d in doubt"):format(st.in_doubt) or "")
end

--- A progress reporter drawing a bar on a terminal: count, rate, ETA, failures; redrawn at most 10 times a second.
---@param out file*
---@return fun(stats: featurebase.ImportStats, event: string)
function M.bar(out)
  local last = -1
  return function(st, event)
    local t = core.now()
    if event == "step" and t - last < 0.1 then return end
    last = t
    local width = 24
    local done = st.messages > 0 and math.floor(width * st.processed / st.messages) or width
    -- ESC[K clears what a longer previous line left on the right
    out:write(("\r[%s%s] %s\27[K"):format(("#"):rep(done), ("."):rep(width - done), counts(st)))
    if event == "finish" then out:write("\n") end
    out:flush()
  end
end

--- A progress reporter writing one plain line per finished conversation (for logs and pipes).
---@param out file*
---@return fun(stats: featurebase.ImportStats, event: string, info?: table)
function M.lines(out)
  return function(st, event, info)
    if event == "conversation" then
      out:write(("import: %s %s | %s\n"):format(info.key, info.outcome, counts(st)))
    elseif event == "finish" then
      out:write(("import: finished in %s | %s\n"):format(clock(st.elapsed), counts(st)))
    end
    out:flush()
  end
end

local function reporter(progress, out)
  if not progress then return function() end end
  if type(progress) == "function" then return progress end
  if progress == "auto" then progress = core.isatty(out) and "bar" or "lines" end
  return progress == "bar" and M.bar(out) or M.lines(out)
end

--- The summary as lines of text: counts, then every failure and step in doubt with its reason.
---@param s featurebase.ImportSummary
---@return string
function M.format_summary(s)
  local out = { ("%d conversations: %d completed, %d failed, %d steps in doubt; %d steps sent, %d already done "
    .. "(%s)"):format(s.conversations, s.completed, s.failed, s.in_doubt, s.sent, s.already, clock(s.elapsed)) }
  for _, p in ipairs(s.failures) do
    out[#out + 1] = ("FAILED   %s %s: %s"):format(p.key, p.index == 0 and "create" or ("message " .. p.index), p.reason)
  end
  for _, p in ipairs(s.doubts) do
    out[#out + 1] = ("IN DOUBT %s %s: %s"):format(p.key, p.index == 0 and "create" or ("message " .. p.index), p.reason)
  end
  return table.concat(out, "\n")
end

-- The import -----------------------------------------------------------------------------------------

-- A failure the server certainly did not act on: safe to send again in a later run.
local function not_sent(err)
  if err.kind == "invalid_request" then return true end
  if err.kind == "http" then return err.status >= 400 and err.status < 500 and err.status ~= 408 end
  if err.kind == "network" or err.kind == "timeout" then return err.request_sent == false end
  return false
end

local function copy_without(t, a, b)
  local c = {}
  for k, v in pairs(t) do
    if k ~= a and k ~= b then c[k] = v end
  end
  return c
end

local OPTIONS = { journal = true, in_doubt = true, skip_notifications = true, progress = true, output = true,
  request_options = true, runner = true, concurrency = true }

local function check_opts(opts)
  if type(opts) ~= "table" then
    error(("bad argument #2 to 'import' (table of options expected, got %s)"):format(type(opts)), 3)
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then error(("bad argument #2 to 'import' (unknown option %s)"):format(tostring(k)), 3) end
  end
  if opts.journal == nil then
    error("bad argument #2 to 'import' (journal: a file path is required to resume safely; false for none)", 3)
  end
  if opts.journal ~= false and type(opts.journal) ~= "string" then
    error("bad argument #2 to 'import' (journal: a file path or false expected)", 3)
  end
  local d = opts.in_doubt
  if d ~= nil and d ~= "skip" and d ~= "resend" then
    error("bad argument #2 to 'import' (in_doubt: \"skip\" or \"resend\" expected)", 3)
  end
  local p = opts.progress
  if p and type(p) ~= "function" and p ~= "auto" and p ~= "bar" and p ~= "lines" then
    error("bad argument #2 to 'import' (progress: \"auto\", \"bar\", \"lines\", false or a function expected)", 3)
  end
  if opts.runner ~= nil and type(opts.runner) ~= "function" then
    error("bad argument #2 to 'import' (runner: function expected)", 3)
  end
  local c = opts.concurrency
  if c ~= nil and (type(c) ~= "number" or c < 1 or c > 1000 or c ~= math.floor(c)) then
    error("bad argument #2 to 'import' (concurrency: a whole number from 1 to 1000 expected)", 3)
  end
end

--- Imports conversations: creates each (with its createdAt), then replies its messages in order with
-- skipNotifications. Resumable through the journal; see the module's description.
---@param client featurebase.Client
---@param conversations featurebase.ImportConversation[]
---@param opts featurebase.ImportOptions
---@return featurebase.ImportSummary
function M.import(client, conversations, opts)
  if getmetatable(client) ~= Client then
    error(("bad argument #1 to 'import' (featurebase.Client expected, got %s: call it as client:import(...))")
      :format(type(client)), 2)
  end
  if type(conversations) ~= "table" then
    error(("bad argument #1 to 'import' (list of conversations expected, got %s)"):format(type(conversations)), 2)
  end
  check_opts(opts)
  local resend = opts.in_doubt == "resend"
  local notify = opts.skip_notifications == false
  local report = reporter(opts.progress, opts.output or io.stderr)
  local journal = opts.journal and open_journal(opts.journal) or no_journal()
  local state = journal.state

  local jobs, seen = {}, {}
  local st = { conversations = #conversations, finished = 0, messages = 0, processed = 0, sent = 0, already = 0,
    failed = 0, in_doubt = 0, elapsed = 0, rate = 0, completed = 0, ids = {}, failures = {}, doubts = {} }
  for i, conv in ipairs(conversations) do
    local key = type(conv) == "table" and conv.key ~= nil and tostring(conv.key) or ("#" .. i)
    local job = { key = key, index = i, conversation = conv }
    if seen[key] then job.duplicate = seen[key] end
    seen[key] = i
    jobs[#jobs + 1] = job
    local msgs = type(conv) == "table" and conv.messages
    st.messages = st.messages + 1 + (type(msgs) == "table" and #msgs or 0)
  end

  local start = core.now()
  local function tick(event, info)
    st.elapsed = core.now() - start
    st.rate = st.elapsed > 0 and st.sent / st.elapsed or 0
    local left = st.messages - st.processed
    st.eta = left == 0 and 0 or (st.rate > 0 and left / st.rate or nil)
    report(st, event, info)
  end

  local blocking = {
    create_conversation = function(params) return client:create_conversation(params, opts.request_options) end,
    reply = function(id, params) return client:reply(id, params, opts.request_options) end,
  }

  -- One conversation: returns how it ended ("ok", or why it stopped) for the progress line.
  local function run_job(job, api)
    local key, conv = job.key, job.conversation
    local steps = {}
    local function problem(list, index, reason, err)
      list[#list + 1] = { key = key, index = index, reason = reason, error = err }
    end
    if job.duplicate then
      problem(st.failures, 0, ("key %s is also used by conversation #%d"):format(key, job.duplicate))
      return "failed"
    end
    if type(conv) ~= "table" then
      problem(st.failures, 0, "not a table")
      return "failed"
    end
    local messages = conv.messages or {}
    if type(messages) ~= "table" then
      problem(st.failures, 0, "messages is not a list")
      return "failed"
    end
    steps[0] = copy_without(conv, "key", "messages")
    for n, m in ipairs(messages) do
      if type(m) ~= "table" then
        problem(st.failures, n, "message is not a table")
        return "failed"
      end
      local p = copy_without(m)
      if p.messageType == nil then p.messageType = "reply" end
      if p.skipNotifications == nil and not notify then p.skipNotifications = true end
      steps[n] = p
    end

    local done = state[key] or {}
    local conv_id
    for n = 0, #messages do
      local params, rec = steps[n], done[n]
      local fp = fingerprint(params.bodyMarkdown)
      local label = n == 0 and "create" or ("message " .. n)
      if rec and rec.s ~= "fail" and rec.f and rec.f ~= fp then
        problem(st.failures, n, "the input changed since the journal recorded this step (another bodyMarkdown); "
          .. "give conversations a stable key, or use a new journal")
        return "failed at " .. label
      end
      local in_doubt = rec and (rec.s == "send" or rec.s == "doubt")
      if rec and rec.s == "ok" then
        st.already = st.already + 1
        if n == 0 then conv_id = rec.id end
      elseif in_doubt and not resend then
        st.in_doubt = st.in_doubt + 1
        problem(st.doubts, n, rec.why or "the run that sent it stopped before recording the answer")
        if n == 0 then return "in doubt at create" end
      else
        journal.write({ k = key, i = n, s = "send", f = fp })
        local value, err
        if n == 0 then
          value, err = api.create_conversation(params)
        else
          value, err = api.reply(conv_id, params)
        end
        st.sent = st.sent + 1
        if value then
          journal.write({ k = key, i = n, s = "ok", id = value.id })
          if n == 0 then conv_id = value.id end
        elseif n > 0 and err.kind == "decode" and err.status and err.status < 300 then
          journal.write({ k = key, i = n, s = "ok" }) -- 2xx: posted, only the answer was unreadable
        elseif not_sent(err) then
          journal.write({ k = key, i = n, s = "fail", why = tostring(err) })
          problem(st.failures, n, tostring(err), err)
          return "failed at " .. label .. ": " .. tostring(err)
        else
          local why = "may have been sent: " .. tostring(err)
          journal.write({ k = key, i = n, s = "doubt", why = why })
          st.in_doubt = st.in_doubt + 1
          problem(st.doubts, n, why, err)
          return "in doubt at " .. label .. ": " .. tostring(err)
        end
      end
      st.processed = st.processed + 1
      if n == 0 and conv_id then st.ids[key] = conv_id end
      tick("step")
    end
    return "ok"
  end

  local function work(job, api)
    local total = 1 + (type(job.conversation) == "table" and type(job.conversation.messages) == "table"
      and #job.conversation.messages or 0)
    local before = st.processed
    local dones, fails = #st.doubts, #st.failures
    local outcome = run_job(job, api or blocking)
    if outcome == "ok" and #st.doubts == dones then st.completed = st.completed + 1 end
    if #st.failures > fails then st.failed = st.failed + 1 end
    -- steps never reached in this conversation count as processed: the progress goes on
    st.processed = before + total
    st.finished = st.finished + 1
    tick("conversation", { key = job.key, outcome = outcome })
  end

  tick("start")
  -- no pcall around the runner: it may yield (5.1 cannot yield across pcall); if it raises, the
  -- journal's file (and its lock) is closed by the garbage collector
  local runner = opts.runner
  if not runner and (opts.concurrency or 1) > 1 then -- conversations side by side on the async engine
    runner = require("featurebase.async").runner(client, opts.concurrency, opts.request_options)
  end
  runner = runner or function(list, w)
    for _, job in ipairs(list) do w(job) end
  end
  runner(jobs, work)
  if journal.file then journal.file:close() end
  tick("finish")
  st.eta = nil
  return st
end

-- luacheck: push ignore 631 (a LuaLS function type fits on one line only)
---@class featurebase.Client
---@field import fun(self: featurebase.Client, conversations: featurebase.ImportConversation[], opts: featurebase.ImportOptions): featurebase.ImportSummary
-- luacheck: pop

--- Installs `client:import` (the same function as featurebase.import.import).
---@param client_class table featurebase.Client
function M.install(client_class)
  Client = client_class
  Client.import = M.import
end

return M
