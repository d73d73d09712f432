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

-- The types of what goes in and comes back (featurebase.Options, featurebase.CreateParams, ...,
-- featurebase.Conversation, featurebase.Error, ...) and every method of featurebase.Client are
-- LuaLS definitions in featurebase/types/ (objects.lua by hand, api.lua generated from core.api).

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

--- Checks a call against the API's rules without sending anything: the same arguments as the
-- method `name` (path arguments, then params), e.g. `featurebase.check("create_conversation", params)`
-- before other work that should not start when the message would be refused.
---@param name string a method of the client made from core.api, e.g. "update_conversation"
---@param ... any its path arguments and params
---@return true|nil ok
---@return featurebase.Error|nil err the invalid_request error naming the field
M.check = client_mod.check

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
-- Assigned one by one so that editors (LuaLS) see each with its annotations, at the first lookup of
-- a name this module does not have: a program that only makes API calls never loads them (start-up).
local function install_helpers()
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
end
setmetatable(M, { __index = function(_, name)
  install_helpers()
  setmetatable(M, nil)
  return M[name]
end })

return M
