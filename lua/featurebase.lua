--- featurebase: the Featurebase conversations API for Lua.
--
-- A thin, friendly layer over the C module `featurebase.core`, which validates every request
-- against the API's rules, builds the JSON body, performs HTTP with libcurl and decodes the answer
-- with lua-cjson. Here: defaults from the environment, the client object, response metadata.
--
-- @module featurebase
local core = require("featurebase.core_loader").load() -- says how to build the core when it cannot load
local retry = require("featurebase.retry")

local M = {
  _VERSION = core._VERSION,
  --- The API's limits and enumerations, as the C validator applies them.
  rules = core.rules,
}

---@class featurebase.Error
---@field kind "invalid_request"|"http"|"network"|"timeout"|"decode"|"io"
---@field message string one line, never the API key
---@field field? string path of the bad field, e.g. "recipients.cc.emails[2]" (invalid_request)
---@field status? integer HTTP status (http, decode)
---@field body? table|string the decoded error body, or the raw body when it is not JSON
---@field headers? table<string,string> response headers, lowercased names
---@field request_id? string the server's request id, when it sent one
---@field code? string Featurebase error code, e.g. "validation_error"
---@field error_type? string Featurebase error type, e.g. "invalid_request_error"
---@field param? string the parameter the server blamed
---@field curl_code? integer libcurl's error code (network, timeout)
---@field limit? "max_response_size"|"stall_timeout" the limit that ended the transfer (network, timeout)
---@field request_sent? boolean false when the request certainly never reached the server (network, timeout)
---@field attempts? integer how many attempts were made (absent: refused before sending)

---@class featurebase.Response
---@field status integer HTTP status
---@field headers table<string,string> response headers, lowercased names
---@field request_id? string
---@field rate_limit featurebase.RateLimit
---@field attempts integer how many attempts the call made

---@class featurebase.RateLimit
---@field limit? integer requests allowed per window (X-RateLimit-Limit)
---@field remaining? integer requests left in the window (X-RateLimit-Remaining)
---@field reset? integer when the window resets, Unix seconds (X-RateLimit-Reset)

---@class featurebase.Options
---@field api_key? string default: $FEATUREBASE_API_KEY; required
---@field base_url? string default: $FEATUREBASE_BASE_URL or "https://do.featurebase.app"
---@field version? string Featurebase-Version header, default "2026-01-01.nova"
---@field timeout? number whole-request timeout in seconds, default 30
---@field connect_timeout? number connect timeout in seconds, default 10
---@field stall_timeout? number abort when no byte moved for this long, seconds, default 15
---@field max_response_size? integer bytes of response body, default 16 MiB; past it a network error
---@field max_request_size? integer bytes of request body, default 1 MiB; past it invalid_request
---@field log? fun(line: string, event: featurebase.LogEvent)|false one call per attempt;
--- default: lines to stderr when $FEATUREBASE_LOG is "debug"; false: never
---@field allow_insecure_http? boolean allow http:// to a host other than this machine
---@field max_retries? integer retries after the first attempt, default 2 (see featurebase.retry)
---@field retry_unsafe? boolean also retry failures the server may have acted on, default false
---@field max_retry_wait? number longest Retry-After honoured, seconds, default 60
---@field deadline? number seconds bounding all attempts and waits together, default none

---@class featurebase.LogEvent
---@field method string "POST"
---@field path string e.g. "/v2/conversations"
---@field attempt integer 1 for the first
---@field ms number how long the attempt took, milliseconds
---@field status? integer the HTTP status, when an answer came
---@field kind? string the error kind, when the attempt failed
---@field request_id? string
---@field retry_in? number seconds until the next attempt, when there is one
---@field gave_up? string why a failure is not retried

---@class featurebase.CallOptions
---@field timeout? number
---@field max_retries? integer
---@field retry_unsafe? boolean
---@field max_retry_wait? number
---@field deadline? number

---@class featurebase.Recipients
---@field emails? string[]
---@field ids? string[] contact ObjectIds

---@class featurebase.CreateParams
---@field from {type: "contact"|"admin", id: string}
---@field bodyMarkdown string
---@field channel? "desktop"|"email"
---@field subject? string at most 500 characters; required for an admin on the email channel
---@field recipients? {to: featurebase.Recipients, cc?: featurebase.Recipients, bcc?: featurebase.Recipients}
---@field createdAt? string|number RFC 3339 timestamp or a Lua time (os.time()), for migrations

---@class featurebase.ReplyParams
---@field type "contact"|"admin"
---@field id? string ObjectId: the admin (required) or the contact
---@field userId? string your own user id (contact replies), at most 255 characters
---@field bodyMarkdown string
---@field messageType "reply"|"note" contacts can only "reply"
---@field skipNotifications? boolean

---@class featurebase.Client
local Client = {}
Client.__index = Client

local function env(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
  return nil
end

local function to_int(s)
  return s and tonumber(s:match("^%s*(%d+)%s*$")) or nil
end

-- What every call hands back about the HTTP exchange, success or failure.
local function response_info(res)
  local h = res.headers
  return {
    status = res.status,
    headers = h,
    request_id = h["x-request-id"] or h["request-id"],
    rate_limit = {
      limit = to_int(h["x-ratelimit-limit"]),
      remaining = to_int(h["x-ratelimit-remaining"]),
      reset = to_int(h["x-ratelimit-reset"]),
    },
  }
end

-- Misuse raises, naming the argument, at the caller of the public method (level 3 from here).
local function check_arg(v, want, n, method, what)
  if type(v) ~= want then
    error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, method, what or want, type(v)), 3)
  end
end

-- `self` must be a live featurebase.Client (a call with a dot, client.reply(...), is caught here).
local function check_client(self, method)
  if getmetatable(self) ~= Client then
    error(("bad argument #1 to '%s' (featurebase.Client expected, got %s: call it as client:%s(...))")
      :format(method, type(self), method), 3)
  end
  if not self._core then error("featurebase: the client is closed", 3) end
end

-- Options the Lua layer handles (the rest go to the C core, which refuses unknown ones).
-- Each maps to a checker returning a message when the value is wrong.
local function retries(v)
  if type(v) ~= "number" or v < 0 or v > 100 or v ~= math.floor(v) then
    return "must be a whole number from 0 to 100"
  end
end
local function positive(v) -- at most a day, as the C core's timeouts
  if type(v) ~= "number" or not (v > 0 and v <= 86400) then return "must be a number of seconds from 0 to 86400" end
end
local function non_negative(v)
  if type(v) ~= "number" or not (v >= 0) or v == math.huge then return "must be a number of seconds, 0 or more" end
end
local function boolean(v)
  if type(v) ~= "boolean" then return "must be a boolean" end
end
local function bytes(v)
  if type(v) ~= "number" or not (v >= 1 and v <= 2 ^ 30) or v ~= math.floor(v) then
    return "must be a whole number of bytes from 1 to 1073741824 (1 GiB)"
  end
end
local function logger(v)
  if v ~= false and type(v) ~= "function" then return "must be a function(line, event) or false" end
end

local LUA_OPTIONS = {
  max_retries = retries,         -- default 2
  retry_unsafe = boolean,        -- default false: see featurebase.retry for why
  max_retry_wait = non_negative, -- default 60: a longer Retry-After returns the 429 instead
  deadline = positive,           -- default none: bounds all attempts and waits together
  max_request_size = bytes,      -- checked by the encoder before anything is sent
  log = logger,                  -- one line per attempt; never the key (Lua never holds it)
}
local DEFAULTS = { max_retries = 2, retry_unsafe = false, max_retry_wait = 60,
  max_request_size = core.limits.max_request_size }

-- A name for any key, for messages: tostring could run a hostile __tostring.
local function key_name(k)
  return type(k) == "string" and k or ("(a " .. type(k) .. " key)")
end

-- FEATUREBASE_LOG=debug: the lines go to stderr.
local function stderr_log(line)
  io.stderr:write(line, "\n")
end
-- Per call, these may be overridden; timeout is passed to the C core for each attempt.
local CALL_OPTIONS = { timeout = positive, max_retries = retries, retry_unsafe = boolean,
  max_retry_wait = non_negative, deadline = positive }

local function option_error(name, msg)
  return setmetatable({ kind = "invalid_request", field = name, message = name .. " " .. msg }, core.error_mt)
end

-- A call's options over the client's: the merged table, or nil, err.
local function call_options(self, opts, method, n)
  if opts == nil then return self._opts end
  if type(opts) ~= "table" then
    error(("bad argument #%d to '%s' (table of options expected, got %s)"):format(n, method, type(opts)), 3)
  end
  local o = {}
  for k, v in pairs(self._opts) do o[k] = v end
  for k, v in next, opts do -- raw: a __pairs metamethod must not invent options
    local check = CALL_OPTIONS[k]
    if not check then
      return nil, option_error(key_name(k), "is not a per-call option (timeout, max_retries, retry_unsafe, "
        .. "max_retry_wait, deadline)")
    end
    local why = check(v)
    if why then return nil, option_error(k, why) end
    o[k] = v
  end
  return o
end

-- A transport is three functions; the blocking one is below, the async engine and the OpenResty
-- transport bring their own and share everything else (validation, decoding, retries):
--   perform(client, path, body, timeout|nil) -> {status=, headers=, body=} | nil, err
--     (err a featurebase.Error of kind "network"/"timeout", with request_sent)
--   sleep(seconds)   wait between attempts (may yield, e.g. ngx.sleep or a coroutine)
--   now() -> seconds a monotonic clock
local BLOCKING = {
  perform = function(self, path, body, timeout) return self._core:perform(path, body, timeout) end,
  sleep = core.sleep,
  now = core.now,
}

-- One line (and its fields) per attempt for the `log` option: no body, no headers, so no key.
local function log_attempt(log, path, attempt, started, now, info, err, wait, why)
  local e = { method = "POST", path = path, attempt = attempt, ms = math.floor((now - started) * 1e6 + 0.5) / 1e3,
    status = info and info.status, kind = err and err.kind, request_id = info and info.request_id,
    retry_in = wait, gave_up = err and not wait and why or nil }
  local outcome = err and (err.kind .. (e.status and (" " .. e.status) or "")) or tostring(e.status)
  local line = ("featurebase: POST %s -> %s%s in %.1f ms, attempt %d"):format(path, outcome,
    e.request_id and (" (" .. e.request_id .. ")") or "", e.ms, attempt)
  if wait then line = line .. ("; retrying in %.2f s"):format(wait)
  elseif err then line = line .. "; not retried: " .. tostring(why) end
  log(line, e)
end

-- The one request pipeline: send, decode, and retry when that cannot duplicate a message.
local function run(self, path, body, o, io)
  local start, attempt = io.now(), 0
  while true do
    attempt = attempt + 1
    local timeout = o.timeout
    if o.deadline then
      local left = math.max(0.001, o.deadline - (io.now() - start))
      timeout = timeout and math.min(timeout, left) or left
    end
    local value, err, info
    local began = io.now()
    local res, terr = io.perform(self, path, body, timeout)
    if res then
      info = response_info(res)
      info.attempts = attempt
      value, err = core.decode(res)
      if value ~= nil then
        if o.log then log_attempt(o.log, path, attempt, began, io.now(), info) end
        return value, nil, info
      end
    else
      err = terr
    end
    err.attempts = attempt
    local wait, why = retry.delay(err, attempt, o, os.time())
    if wait and o.deadline and io.now() - start + wait >= o.deadline then wait, why = nil, "deadline reached" end
    if o.log then log_attempt(o.log, path, attempt, began, io.now(), info, err, wait, why) end
    if not wait then return nil, err, info end
    io.sleep(wait)
  end
end

--- A Lua time (seconds since 1970 in UTC, as `os.time()` gives; a fraction keeps milliseconds) as
-- the UTC ISO 8601 timestamp the API takes, e.g. `2025-01-15T10:30:00.000Z`.
---@param t number from 0 (1970) up to, not including, year 10000
---@return string|nil iso nil when t is not such a number
function M.iso8601(t)
  if type(t) ~= "number" or not (t >= 0 and t < 253402300800) then return nil end
  local sec = math.floor(t)
  local ms = math.floor((t - sec) * 1000 + 0.5)
  if ms >= 1000 then sec, ms = sec + 1, 0 end
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. (".%03dZ"):format(ms)
end

-- createdAt may also be a Lua time: the C validator takes strings, so convert on a copy first.
-- Raw access, like the validator: a metatable never supplies or hides a field.
local function encode_create(params, max_request_size)
  local t = rawget(params, "createdAt")
  if type(t) == "number" then
    local iso = M.iso8601(t)
    if not iso then
      return nil, option_error("createdAt", "must be an ISO 8601 string or a Lua time (os.time()) from 1970 "
        .. "to 9999, got the number " .. tostring(t))
    end
    local copy = {}
    for k, v in next, params do copy[k] = v end
    copy.createdAt = iso
    params = copy
  end
  return core.encode_create(params, max_request_size)
end

-- Splits an options table into the options `checks` knows (each checked, over `defaults`) and the
-- rest. Raw iteration: a __pairs metamethod must not invent or hide options.
-- Returns own, rest | nil, err.
local function split_options(opts, checks, defaults)
  local own, rest = {}, {}
  for k, v in pairs(defaults) do own[k] = v end
  for k, v in next, opts or {} do
    if checks[k] then
      local why = checks[k](v)
      if why then return nil, option_error(k, why) end
      own[k] = v
    else
      rest[k] = v
    end
  end
  return own, rest
end

--- Creates a client. The API key is kept only inside the C object: it never shows in
-- `tostring(client)`, in errors or in logs.
---@param opts? featurebase.Options
---@return featurebase.Client|nil client
---@return featurebase.Error|nil err an invalid_request error naming the bad option
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to 'new' (table expected, got %s)"):format(type(opts)), 2)
  end
  local lua_opts, c_opts = split_options(opts, LUA_OPTIONS, DEFAULTS)
  if not lua_opts then return nil, c_opts end
  if c_opts.api_key == nil then c_opts.api_key = env("FEATUREBASE_API_KEY") end
  if c_opts.base_url == nil then c_opts.base_url = env("FEATUREBASE_BASE_URL") end
  if lua_opts.log == nil and env("FEATUREBASE_LOG") == "debug" then lua_opts.log = stderr_log end
  if lua_opts.log == false then lua_opts.log = nil end
  local handle, err = core.new(c_opts)
  if not handle then return nil, err end
  -- the per-attempt timeout the pipeline passes down; a deadline only ever shortens it
  lua_opts.timeout = c_opts.timeout or core.limits.timeout
  return setmetatable({ _core = handle, _opts = lua_opts }, Client)
end

--- Opens a conversation: `POST /v2/conversations`.
---@param params featurebase.CreateParams
---@param opts? featurebase.CallOptions per-call overrides
---@return table|nil conversation the conversation object (JSON null fields are absent)
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response status, headers, request id and rate limits
function Client:create_conversation(params, opts)
  check_client(self, "create_conversation")
  check_arg(params, "table", 1, "create_conversation")
  local o, oerr = call_options(self, opts, "create_conversation", 2)
  if not o then return nil, oerr, nil end
  local path, body = encode_create(params, o.max_request_size)
  if not path then return nil, body, nil end
  return run(self, path, body, o, BLOCKING)
end

--- Replies to a conversation, or leaves an internal note: `POST /v2/conversations/{id}/reply`.
---@param conversation_id string the conversation's short id (1-16 characters)
---@param params featurebase.ReplyParams
---@param opts? featurebase.CallOptions per-call overrides
---@return table|nil part the conversation part created
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function Client:reply(conversation_id, params, opts)
  check_client(self, "reply")
  check_arg(params, "table", 2, "reply")
  local o, oerr = call_options(self, opts, "reply", 3)
  if not o then return nil, oerr, nil end
  local path, body = core.encode_reply(conversation_id, params, o.max_request_size)
  if not path then return nil, body, nil end
  return run(self, path, body, o, BLOCKING)
end

--- Frees the curl handle now rather than at garbage collection. Safe to call twice.
function Client:close()
  if getmetatable(self) ~= Client then check_client(self, "close") end
  if self._core then
    self._core:close()
    self._core = nil
  end
end

Client.__close = Client.close -- Lua 5.4: local client <close> = featurebase.new{...}

function Client:__tostring()
  return self._core and tostring(self._core) or "featurebase.Client (closed)"
end

--- True when v is an error value produced by this module.
---@param v any
---@return boolean
function M.is_error(v)
  return getmetatable(v) == core.error_mt
end

M.Client = Client
-- For featurebase.* transports only (not public API): the shared pipeline and option merging.
M._run = run
M._call_options = call_options
M._split_options = split_options
M._check_arg = check_arg
M._check_client = check_client
M._encode_create = encode_create -- createdAt as a Lua time, then core.encode_create

-- Helpers (featurebase.helpers): client:start_conversation, reply_as_contact, reply_as_admin, add_note,
-- message_contacts and send_email; images as data URIs; readers of results; the API's enumerations.
-- Assigned one by one so that editors (LuaLS) see each with its annotations.
local helpers = require("featurebase.helpers")
helpers.install(Client)
M.image = helpers.image
M.sniff_image = helpers.sniff_image
M.parts = helpers.parts
M.is_note = helpers.is_note
M.is_message = helpers.is_message
M.author = helpers.author
M.is_from_contact = helpers.is_from_contact
M.PART_TYPES = helpers.constants.PART_TYPES
M.MESSAGE_PART_TYPES = helpers.constants.MESSAGE_PART_TYPES
M.STATES = helpers.constants.STATES
M.CHANNELS = helpers.constants.CHANNELS
M.PART_CHANNELS = helpers.constants.PART_CHANNELS
M.PARTICIPANT_TYPES = helpers.constants.PARTICIPANT_TYPES
M.AUTHOR_TYPES = helpers.constants.AUTHOR_TYPES
M.MESSAGE_TYPES = helpers.constants.MESSAGE_TYPES
M.USER_TYPES = helpers.constants.USER_TYPES
M.DELIVERED_AS = helpers.constants.DELIVERED_AS
M.BOT_STATES = helpers.constants.BOT_STATES
M.TAG_ACTOR_TYPES = helpers.constants.TAG_ACTOR_TYPES
M.TAG_ACTIONS = helpers.constants.TAG_ACTIONS
M.WORKFLOW_EVENT_TYPES = helpers.constants.WORKFLOW_EVENT_TYPES
M.CSAT_STATUSES = helpers.constants.CSAT_STATUSES
M.CSAT_EMAIL_STATUSES = helpers.constants.CSAT_EMAIL_STATUSES
M.RATED_AGENT_TYPES = helpers.constants.RATED_AGENT_TYPES
-- The migration import (featurebase.import): client:import
require("featurebase.import").install(Client)
-- Non-blocking calls (client:create_conversation_async, reply_async, map, run): featurebase.async.
require("featurebase.async").install(M)
return M
