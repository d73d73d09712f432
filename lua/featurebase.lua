--- featurebase: the Featurebase conversations API for Lua.
--
-- A thin, friendly layer over the C module `featurebase.core`, which validates every request
-- against the API's rules, builds the JSON body, performs HTTP with libcurl and decodes the answer
-- with lua-cjson. Here: defaults from the environment, the client object, response metadata.
--
-- @module featurebase
local core = require("featurebase.core_loader").load() -- says how to build the core when it cannot load
local client_mod = require("featurebase.client")

local M = {
  _VERSION = core._VERSION,
  --- The API's limits and enumerations, as the C validator applies them.
  rules = core.rules,
  --- The API's endpoints as the C core describes them (each client method is made from one).
  api = core.api,
  --- JSON null in params, where the API allows it: `{ adminAssigneeId = featurebase.null }`
  -- unassigns. The same value as cjson.null.
  null = core.null,
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

--- Creates a client. The API key is kept only inside the C object: it never shows in
-- `tostring(client)`, in errors or in logs. Options: see featurebase.options (README "Options").
---@param opts? featurebase.Options
---@return featurebase.Client|nil client
---@return featurebase.Error|nil err an invalid_request error naming the bad option
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to 'new' (table expected, got %s)"):format(type(opts)), 2)
  end
  local client, err = client_mod.new(opts, client_mod.libcurl)
  if not client then return nil, err end
  return client
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

--- True when v is an error value produced by this module.
---@param v any
---@return boolean
function M.is_error(v)
  return getmetatable(v) == core.error_mt
end

M.Client = client_mod.Client

-- Helpers (featurebase.helpers): images as data URIs; readers of results; the API's enumerations.
-- The client helpers (start_conversation, add_note, ...) are methods of featurebase.Client.
-- Assigned one by one so that editors (LuaLS) see each with its annotations.
local helpers = require("featurebase.helpers")
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
return M
