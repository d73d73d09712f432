--- featurebase.webhooks: receive Featurebase's webhook deliveries safely.
--
-- Featurebase signs each delivery with two headers: `X-Webhook-Timestamp` (Unix seconds) and
-- `X-Webhook-Signature`, the hex HMAC-SHA256 of `timestamp .. "." .. raw_body` keyed with the whole
-- webhook secret (`whsec_...`, prefix included). `verify` checks both in C (OpenSSL's libcrypto,
-- constant-time comparison, 300 s tolerance either way) and only then decodes the body.
--
--   local webhooks = require("featurebase.webhooks")
--   local event, err = webhooks.verify(secret, headers, raw_body)
--   if not event then return 401 end            -- err.kind says why (see featurebase.webhooks.Error)
--   local ev = webhooks.read(event)              -- ev.id, ev.topic, ev.item, ev.changes, ...
--
-- In OpenResty, `webhooks.openresty(secret, {on_event = fn, dedupe = "dict"})` is a whole
-- content handler: it answers at once and runs `fn(event)` afterwards in an `ngx.timer`.
--
-- Error kinds (`nil, err` from verify; err.header names the header when one is at fault):
--
-- - `missing_header`: X-Webhook-Signature or X-Webhook-Timestamp is absent
-- - `malformed_signature`: the signature is not exactly 64 hex digits (or repeated with different values)
-- - `malformed_timestamp`: the timestamp is not a whole number of seconds (or repeated with different values)
-- - `signature_mismatch`: the signature does not match secret, timestamp and body
-- - `timestamp_too_old` / `timestamp_in_future`: signed correctly, but more than `tolerance` seconds
--   from now (a late or replayed delivery, or a wrong clock); err.timestamp holds the value
-- - `invalid_json`: signed correctly, but the body is not a JSON object
--
-- The secret never appears in an error, a log line or a `tostring`.
-- @module featurebase.webhooks
local core = require("featurebase.core_loader").load()

local type, tostring, setmetatable, error = type, tostring, setmetatable, error

local M = {
  --- Header carrying the hex HMAC-SHA256 signature.
  SIGNATURE_HEADER = "X-Webhook-Signature",
  --- Header carrying the Unix time (seconds) the delivery was signed at.
  TIMESTAMP_HEADER = "X-Webhook-Timestamp",
  --- Seconds a timestamp may differ from now, either way (Featurebase's own example uses 300).
  TOLERANCE = core.webhook_tolerance,
}

---@alias featurebase.webhooks.ErrorKind "missing_header"|"malformed_signature"|"malformed_timestamp"
---|"signature_mismatch"|"timestamp_too_old"|"timestamp_in_future"|"invalid_json"

---@class featurebase.webhooks.Error: featurebase.Error
---@field kind featurebase.webhooks.ErrorKind
---@field header? string "X-Webhook-Signature" or "X-Webhook-Timestamp", when one of them is at fault
---@field timestamp? number the delivery's timestamp (timestamp_too_old, timestamp_in_future)

---@class featurebase.webhooks.VerifyOptions
---@field tolerance? number seconds either way, default 300
---@field now? number the current Unix time in seconds, default the system clock (for tests)

-- A list (for ipairs) that is also a set (TOPICS["post.created"] == true), like featurebase.constants.
local function enum(...)
  local t = {}
  for i, v in ipairs({ ... }) do t[i], t[v] = v, true end
  return t
end

--- The 16 conversation topics.
M.CONVERSATION_TOPICS = enum("conversation.user.created", "conversation.user.replied",
  "conversation.admin.replied", "conversation.admin.noted", "conversation.admin.closed",
  "conversation.admin.opened", "conversation.admin.snoozed", "conversation.admin.unsnoozed",
  "conversation.admin.assigned", "conversation.priority.updated", "conversation.handover_requested",
  "conversation.deleted", "conversation.contact.attached", "conversation.contact.detached", "conversation.read",
  "conversation_part.redacted")

--- Every documented topic: the conversation topics, then posts, changelogs, comments and tickets.
M.TOPICS = enum("post.created", "post.updated", "post.deleted", "post.voted", "changelog.published",
  "comment.created", "comment.updated", "comment.deleted", "ticket.created", "ticket.updated", "ticket.deleted")
for i, v in ipairs(M.CONVERSATION_TOPICS) do table.insert(M.TOPICS, i, v); M.TOPICS[v] = true end

-- Verifying and signing ---------------------------------------------------------------------------

--- Verifies a delivery and decodes it. Checks, in order: both headers present, the signature's
-- form (64 hex digits), the timestamp's form (digits), the signature (constant time), the
-- timestamp's distance from now, the body as a JSON object (JSON nulls removed, as everywhere in
-- this module).
-- A wrong argument type (secret not a non-empty string, headers not a table, body not a string)
-- raises; everything that depends on the delivery returns `nil, err`.
---@param secret string the webhook's secret, "whsec_..." as Featurebase shows it (the whole string is the key)
---@param headers table the request headers, names in any case (`ngx.req.get_headers()`, a repeated
--- header as a list of equal values), or the two values directly: `{signature = ..., timestamp = ...}`
---@param raw_body string the request body exactly as received
---@param opts? featurebase.webhooks.VerifyOptions
---@return table|nil event the decoded envelope
---@return featurebase.webhooks.Error|nil err
function M.verify(secret, headers, raw_body, opts)
  local event, err = core.webhook_verify(secret, headers, raw_body, opts) -- not a tail call: errors name it
  return event, err
end

--- The X-Webhook-Signature value Featurebase would send: lowercase hex HMAC-SHA256 of
-- `timestamp .. "." .. raw_body`. For your own tests.
---@param secret string
---@param timestamp string|integer Unix seconds
---@param raw_body string
---@return string signature 64 lowercase hex digits
function M.sign(secret, timestamp, raw_body)
  local signature = core.webhook_sign(secret, timestamp, raw_body)
  return signature
end

--- Both headers of a signed delivery of `raw_body`, as a table for an HTTP client.
---@param secret string
---@param raw_body string
---@param timestamp? string|integer Unix seconds, default now
---@return table<string, string> headers
function M.signed_headers(secret, raw_body, timestamp)
  timestamp = timestamp or os.time()
  return {
    [M.SIGNATURE_HEADER] = core.webhook_sign(secret, timestamp, raw_body),
    [M.TIMESTAMP_HEADER] = tostring(type(timestamp) == "number" and ("%d"):format(timestamp) or timestamp),
  }
end

-- Reading events ------------------------------------------------------------------------------------

---@class featurebase.webhooks.Event
---@field id? string "notif_..."; the key to de-duplicate on
---@field topic? string e.g. "conversation.user.replied"
---@field created_at? string when the event happened (createdAt)
---@field organization_id? string
---@field webhook_id? string
---@field conversation_id? string the conversation's short id (conversation topics)
---@field conversation_url? string its dashboard link (conversation topics)
---@field data_object? string data.object ("notification_event_data") or, in older deliveries, data.type
---@field item? table the resource: a conversation, a conversation part, a post, ...
---@field item_object? string item.object: "conversation", "conversation_part", "post", ...
---@field changes table[] data.changes (`{field=, oldValue=, newValue=}`), empty when absent
---@field raw table the decoded delivery itself

local function field(t, k, kind)
  local v = type(t) == "table" and t[k] or nil
  if type(v) == kind then return v end
  return nil
end

--- The envelope's fields under stable names, whatever their presence in the delivery. Reading never
-- fails: an absent or mistyped field is nil (`changes` is then an empty list).
---@param event table a verified, decoded delivery
---@return featurebase.webhooks.Event
function M.read(event)
  if type(event) ~= "table" then
    error(("bad argument #1 to 'read' (event table expected, got %s)"):format(type(event)), 2)
  end
  local data = field(event, "data", "table")
  local item = field(data, "item", "table")
  local item_object = field(item, "object", "string")
  local conversation_id = field(event, "conversationId", "string")
  if not conversation_id and item_object == "conversation" then conversation_id = field(item, "id", "string") end
  if not conversation_id and item_object == "conversation_part" then
    conversation_id = field(item, "conversationId", "string")
  end
  return {
    id = field(event, "id", "string"),
    topic = field(event, "topic", "string"),
    created_at = field(event, "createdAt", "string"),
    organization_id = field(event, "organizationId", "string"),
    webhook_id = field(event, "webhookId", "string"),
    conversation_id = conversation_id,
    conversation_url = field(event, "conversationUrl", "string"),
    data_object = field(data, "object", "string") or field(data, "type", "string"),
    item = item,
    item_object = item_object,
    changes = field(data, "changes", "table") or {},
    raw = event,
  }
end

local function topic_of(v)
  if type(v) == "table" then return field(v, "topic", "string") end
  return v
end

--- True for the 16 conversation topics.
---@param topic_or_event string|table a topic, or a delivery
---@return boolean
function M.is_conversation_topic(topic_or_event)
  local t = topic_of(topic_or_event)
  return type(t) == "string" and M.CONVERSATION_TOPICS[t] == true
end

--- True when the delivery's item is a whole conversation (`data.item.object == "conversation"`).
-- Which conversation topics carry a conversation and which one part is not documented per topic:
-- ask the item.
---@param event table
---@return boolean
function M.is_conversation_level(event)
  return field(field(field(event, "data", "table"), "item", "table"), "object", "string") == "conversation"
end

--- True when the delivery's item is one message or event of a conversation
-- (`data.item.object == "conversation_part"`).
---@param event table
---@return boolean
function M.is_part_level(event)
  return field(field(field(event, "data", "table"), "item", "table"), "object", "string") == "conversation_part"
end

--- The change of one field in an update event.
---@param event table
---@param name string e.g. "title", "priority"
---@return boolean changed
---@return any old_value
---@return any new_value
function M.change(event, name)
  for _, c in ipairs(field(field(event, "data", "table"), "changes", "table") or {}) do
    if type(c) == "table" and c.field == name then return true, c.oldValue, c.newValue end
  end
  return false
end

-- De-duplication -------------------------------------------------------------------------------------

---@class featurebase.webhooks.Dedupe
---@field capacity integer how many ids are remembered; the oldest is forgotten first
local Dedupe = {}
Dedupe.__index = Dedupe

--- Remembers the last `capacity` event ids in this Lua state (memory is bounded: a ring of ids).
-- Featurebase may deliver an event more than once (retries); a process that restarts forgets, so
-- keep ids persistently where duplicates would do harm (in OpenResty: `shared_dedupe`).
---@param capacity? integer default 10000
---@return featurebase.webhooks.Dedupe
function M.new_dedupe(capacity)
  capacity = capacity or 10000
  if type(capacity) ~= "number" or capacity < 1 or capacity ~= math.floor(capacity) or capacity > 1e8 then
    error("bad argument #1 to 'new_dedupe' (capacity must be a whole number from 1)", 2)
  end
  return setmetatable({ capacity = capacity, ring = {}, set = {}, pos = 0, count = 0 }, Dedupe)
end

--- Whether `id` was seen before; records it when not. An id that is not a non-empty string is
-- never recorded (answers false).
---@param id any an event id (`event.id`)
---@return boolean seen
function Dedupe:seen(id)
  if type(id) ~= "string" or id == "" then return false end
  if self.set[id] then return true end
  local pos = self.pos % self.capacity + 1
  local old = self.ring[pos]
  if old ~= nil then self.set[old] = nil end
  self.ring[pos], self.set[id], self.pos = id, true, pos
  if self.count < self.capacity then self.count = self.count + 1 end
  return false
end

--- Forgets `id` (e.g. when its processing failed and a retry should be handled).
---@param id string
function Dedupe:forget(id)
  if type(id) == "string" then self.set[id] = nil end -- its ring slot is reused in turn
end

---@class featurebase.webhooks.SharedDedupe
local SharedDedupe = {}
SharedDedupe.__index = SharedDedupe

--- De-duplicates across all nginx workers through a `lua_shared_dict` (OpenResty only): ids are
-- kept `ttl` seconds (default 86400: Featurebase's last retry comes about 7 hours after the first
-- attempt) and, when the dict is full, the least recently used are evicted.
---@param dict string|table a lua_shared_dict's name, or `ngx.shared.<name>`
---@param ttl? number seconds, default 86400
---@param prefix? string key prefix, default "featurebase.webhook:" (lets the dict be shared)
---@return featurebase.webhooks.SharedDedupe
function M.shared_dedupe(dict, ttl, prefix)
  local d = dict
  if type(dict) == "string" then
    d = ngx and ngx.shared and ngx.shared[dict]
    if not d then error(("bad argument #1 to 'shared_dedupe' (no lua_shared_dict named %q)"):format(dict), 2) end
  elseif type(dict) ~= "table" and type(dict) ~= "userdata" then
    error("bad argument #1 to 'shared_dedupe' (lua_shared_dict name or ngx.shared.<name> expected)", 2)
  end
  ttl = ttl or 86400
  if type(ttl) ~= "number" or not (ttl > 0) or ttl == math.huge then
    error("bad argument #2 to 'shared_dedupe' (ttl must be a number of seconds greater than 0)", 2)
  end
  return setmetatable({ dict = d, ttl = ttl, prefix = prefix or "featurebase.webhook:" }, SharedDedupe)
end

--- Whether `id` was seen before by any worker; records it when not (atomically: of two workers
-- receiving the same id at once, exactly one gets false). When the dict refuses to store, answers
-- false and that error.
---@param id any
---@return boolean seen
---@return string|nil err the dict's error, when it could not record the id
function SharedDedupe:seen(id)
  if type(id) ~= "string" or id == "" then return false end
  local ok, err = self.dict:add(self.prefix .. id, true, self.ttl)
  if ok then return false end
  if err == "exists" then return true end
  return false, err
end

--- Forgets `id`.
---@param id string
function SharedDedupe:forget(id)
  if type(id) == "string" then self.dict:delete(self.prefix .. id) end
end

-- OpenResty handler ----------------------------------------------------------------------------------

---@class featurebase.webhooks.OpenRestyOptions
---@field tolerance? number seconds either way, default 300
---@field on_event fun(event: table) runs in an ngx.timer after the answer; may use cosockets (the API)
---@field dedupe? string|table a lua_shared_dict name (ids shared by all workers), or an object with
--- `seen(self, id)` and `forget(self, id)` such as `new_dedupe()`; default: no de-duplication
---@field dedupe_ttl? number seconds ids are kept in the shared dict, default 86400
---@field log_level? integer level for refused deliveries, default ngx.WARN

local function read_body(ngx)
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local path = ngx.req.get_body_file() -- the body was larger than client_body_buffer_size
  if not path then return "" end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  body, err = f:read("*a")
  f:close()
  return body, err
end

local function answer(ngx, status, json)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Cache-Control"] = "no-store"
  ngx.print(json)
  return ngx.eof()
end

local function run(premature, on_event, event)
  local ngx = ngx
  if premature then
    ngx.log(ngx.ERR, "featurebase webhook: worker exiting, event ", tostring(event.id), " was not processed")
    return
  end
  local ok, err = xpcall(function() return on_event(event) end, debug.traceback)
  if not ok then
    ngx.log(ngx.ERR, "featurebase webhook: on_event failed for event ", tostring(event.id), ": ", tostring(err))
  end
end

--- A `content_by_lua` handler for Featurebase's deliveries. It reads the raw body (from memory, or
-- from nginx's temp file when the body exceeded client_body_buffer_size), verifies it, and answers:
--
-- - 200 `{"ok":true}` for a verified event, then runs `opts.on_event(event)` in `ngx.timer.at(0)`,
--   so the answer never waits for your work (Featurebase gives up after 5 s);
-- - 200 `{"ok":true,"duplicate":true}` for an event id already seen (with `opts.dedupe`): not run again;
-- - 401 `{"error":"<kind>"}` when a header, the signature or the timestamp is wrong;
-- - 400 `{"error":"invalid_json"}` for a correctly signed body that is not a JSON object;
-- - 405 for a method other than POST; 500 when the body file cannot be read; 503 when no timer
--   could be created (then the id is forgotten, and Featurebase's retry is handled).
---@param secret string the webhook's secret ("whsec_...")
---@param opts featurebase.webhooks.OpenRestyOptions
---@return fun() handler for `content_by_lua_block { handler() }`
function M.openresty(secret, opts)
  if type(secret) ~= "string" or secret == "" then
    error("bad argument #1 to 'webhook' (secret must be a non-empty string)", 2)
  end
  if type(opts) ~= "table" or type(opts.on_event) ~= "function" then
    error("bad argument #2 to 'webhook' (options table with an on_event function expected)", 2)
  end
  local verify_opts = { tolerance = opts.tolerance }
  core.webhook_verify(secret, {}, "", verify_opts) -- raises now for a bad tolerance or now
  local on_event, dedupe = opts.on_event, opts.dedupe
  if type(dedupe) == "string" then
    dedupe = M.shared_dedupe(dedupe, opts.dedupe_ttl)
  elseif dedupe ~= nil and (type(dedupe) ~= "table" or type(dedupe.seen) ~= "function") then
    error("bad argument #2 to 'webhook' (opts.dedupe must be a lua_shared_dict name or an object with seen())", 2)
  end

  return function()
    local ngx = ngx
    local level = opts.log_level or ngx.WARN
    if ngx.req.get_method() ~= "POST" then
      ngx.header["Allow"] = "POST"
      return answer(ngx, 405, '{"error":"method_not_allowed"}')
    end
    local body, rerr = read_body(ngx)
    if not body then
      ngx.log(ngx.ERR, "featurebase webhook: cannot read the request body: ", tostring(rerr))
      return answer(ngx, 500, '{"error":"body_unreadable"}')
    end
    local event, err = core.webhook_verify(secret, ngx.req.get_headers(0), body, verify_opts)
    if not event then
      ngx.log(level, "featurebase webhook refused: ", tostring(err)) -- built without the secret
      return answer(ngx, err.kind == "invalid_json" and 400 or 401, '{"error":"' .. err.kind .. '"}')
    end
    local id = event.id
    if dedupe then
      local seen, derr = dedupe:seen(id)
      if derr then ngx.log(ngx.ERR, "featurebase webhook: cannot record event id: ", derr) end
      if seen then return answer(ngx, 200, '{"ok":true,"duplicate":true}') end
    end
    local ok, terr = ngx.timer.at(0, run, on_event, event)
    if not ok then
      if dedupe and dedupe.forget then dedupe:forget(id) end
      ngx.log(ngx.ERR, "featurebase webhook: cannot schedule event ", tostring(id), ": ", tostring(terr))
      return answer(ngx, 503, '{"error":"busy"}')
    end
    return answer(ngx, 200, '{"ok":true}')
  end
end

return M
