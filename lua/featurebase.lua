--- featurebase: the Featurebase conversations API for Lua.
--
-- A thin, friendly layer over the C module `featurebase.core`, which validates every request
-- against the API's rules, builds the JSON body, performs HTTP with libcurl and decodes the answer
-- with lua-cjson. Here: defaults from the environment, the client object, response metadata.
--
-- @module featurebase
local core = require("featurebase.core")

local M = {
  _VERSION = core._VERSION,
  --- The API's limits and enumerations, as the C validator applies them.
  rules = core.rules,
}

---@class featurebase.Error
---@field kind "invalid_request"|"http"|"network"|"timeout"|"decode"
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

---@class featurebase.Response
---@field status integer HTTP status
---@field headers table<string,string> response headers, lowercased names
---@field request_id? string
---@field rate_limit featurebase.RateLimit

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
---@field allow_insecure_http? boolean allow http:// to a host other than this machine

---@class featurebase.Recipients
---@field emails? string[]
---@field ids? string[] contact ObjectIds

---@class featurebase.CreateParams
---@field from {type: "contact"|"admin", id: string}
---@field bodyMarkdown string
---@field channel? "desktop"|"email"
---@field subject? string at most 500 characters; required for an admin on the email channel
---@field recipients? {to: featurebase.Recipients, cc?: featurebase.Recipients, bcc?: featurebase.Recipients}
---@field createdAt? string RFC 3339 timestamp, for migrations

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

local function check_client(self, method)
  if getmetatable(self) ~= Client then
    error(("bad argument #1 to '%s' (featurebase.Client expected, got %s: call it as client:%s(...))")
      :format(method, type(self), method), 3)
  end
  if not self._core then error("featurebase: the client is closed", 3) end
end

local function check_params(params, method, n)
  if type(params) ~= "table" then
    error(("bad argument #%d to '%s' (table expected, got %s)"):format(n, method, type(params)), 3)
  end
end

-- One request: path and body come from the C validator, the answer goes through the C decoder.
local function send(self, path, body)
  local res, err = self._core:perform(path, body)
  if not res then return nil, err, nil end
  local info = response_info(res)
  local value, derr = core.decode(res)
  if value == nil then return nil, derr, info end
  return value, nil, info
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
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.api_key == nil then o.api_key = env("FEATUREBASE_API_KEY") end
  if o.base_url == nil then o.base_url = env("FEATUREBASE_BASE_URL") end
  local handle, err = core.new(o)
  if not handle then return nil, err end
  return setmetatable({ _core = handle }, Client)
end

--- Opens a conversation: `POST /v2/conversations`.
---@param params featurebase.CreateParams
---@return table|nil conversation the conversation object (JSON null fields are absent)
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response status, headers, request id and rate limits
function Client:create_conversation(params)
  check_client(self, "create_conversation")
  check_params(params, "create_conversation", 1)
  local path, body = core.encode_create(params)
  if not path then return nil, body, nil end
  return send(self, path, body)
end

--- Replies to a conversation, or leaves an internal note: `POST /v2/conversations/{id}/reply`.
---@param conversation_id string the conversation's short id (1-16 characters)
---@param params featurebase.ReplyParams
---@return table|nil part the conversation part created
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function Client:reply(conversation_id, params)
  check_client(self, "reply")
  check_params(params, "reply", 2)
  local path, body = core.encode_reply(conversation_id, params)
  if not path then return nil, body, nil end
  return send(self, path, body)
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
return M
