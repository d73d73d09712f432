--- featurebase.helpers: the everyday shortcuts, installed onto the `featurebase` module and its client.
--
-- Each helper only builds the API's params and calls `client:create_conversation` or `client:reply`,
-- so validation, retries and results are those of the real methods: a bad value comes back as
-- `nil, err` naming the API's field (`from.id`, `recipients.to.emails[2]`), while a wrong argument
-- type raises naming the helper's argument. Also here: `featurebase.image` (markdown with a base64
-- data URI), readers for results (`parts`, `is_note`, `author`, ...) and the API's enumerations.
--
-- Not required directly: `require("featurebase")` installs all of it (at the first use of one of its names).
-- @module featurebase.helpers
local core = require("featurebase.core_loader").load()

local M = {}

-- Enumerations -----------------------------------------------------------------------------------

-- A constant is a list (for ipairs, in the docs' order) that is also a set: PART_TYPES.admin_note == true.
local function from_list(list)
  local t = {}
  for i, v in ipairs(list) do t[i], t[v] = v, true end
  return t
end
local function enum(...) return from_list({ ... }) end
-- Request enumerations come from the rules the C validator applies (one source); the rest from
-- the response schemas in the API docs.
local function from_rules(list) return from_list(list) end

---@alias featurebase.Enum table<integer|string, string|boolean> a list of values that is also a set of them

--- The API's documented enumerations.
---@type table<string, featurebase.Enum>
M.constants = {
  --- conversation_part.partType: every documented part type (17).
  PART_TYPES = enum("user_msg", "admin_msg", "admin_note", "email_msg", "bot_msg", "quick_reply_opts",
    "quick_reply_resp", "rating_requested", "rating_submitted", "attr_prompt", "attr_complete", "assign", "status",
    "tags", "workflow_wait", "priority", "part_add"),
  --- Parts that carry a message someone wrote (the rest are events: assignment, status, tags, ...).
  MESSAGE_PART_TYPES = enum("user_msg", "admin_msg", "admin_note", "email_msg", "bot_msg"),
  --- conversation.state, and a status part's status.
  STATES = enum("open", "closed", "snoozed"),
  --- The channel a conversation is created on (request `channel`).
  CHANNELS = from_rules(core.rules.channels),
  --- The channel a message arrived through (part.channel, source.channel).
  PART_CHANNELS = enum("unknown", "desktop", "android", "ios", "email"),
  --- participants[].type, author.type, source.author.type.
  PARTICIPANT_TYPES = enum("customer", "lead", "admin", "bot", "guest", "integration"),
  --- Who writes a request (`from.type`, reply `type`).
  AUTHOR_TYPES = from_rules(core.rules.author_types),
  --- Reply `messageType` (contacts can only "reply").
  MESSAGE_TYPES = from_rules(core.rules.admin_message_types),
  --- readReceipts[].userType, a part_add part's participant type, a workflow wait's interruptedByUserType.
  USER_TYPES = enum("admin", "customer", "lead"),
  --- source.deliveredAs.
  DELIVERED_AS = enum("customer_initiated", "admin_initiated"),
  --- conversation.botConversationState.
  BOT_STATES = enum("active", "handed_off_to_human", "resolved"),
  --- Who applied or removed a tag (tagApplications[].appliedBy.type, removedBy.type).
  TAG_ACTOR_TYPES = enum("admin", "customer", "lead", "bot", "integration", "system", "workflow"),
  --- A tags part's action.
  TAG_ACTIONS = enum("added", "removed"),
  --- A workflow_wait part's eventType.
  WORKFLOW_EVENT_TYPES = enum("started", "finished", "interrupted"),
  --- CSAT request status (csatSummary.status, csatHistory[].status, csatDebug.status).
  CSAT_STATUSES = enum("pending", "rated", "canceled", "expired"),
  --- CSAT email delivery status (emailDelivery.status).
  CSAT_EMAIL_STATUSES = enum("pending", "sent", "failed"),
  --- ratedAgent.type.
  RATED_AGENT_TYPES = enum("teammate", "fibi", "chatbot"),
}

-- Readers ------------------------------------------------------------------------------------------

--- The parts of a conversation, in order, optionally only those of some part types.
---@param conversation featurebase.Conversation a conversation object (parts are there when fetched by id)
---@param part_type? string|string[] e.g. "admin_note", or {"user_msg", "admin_msg"}
---@return featurebase.ConversationPart[] parts
function M.parts(conversation, part_type)
  if type(conversation) ~= "table" then
    error(("bad argument #1 to 'parts' (conversation table expected, got %s)"):format(type(conversation)), 2)
  end
  local want
  if type(part_type) == "string" then
    want = { [part_type] = true }
  elseif type(part_type) == "table" then
    want = {}
    for _, v in ipairs(part_type) do want[v] = true end
  elseif part_type ~= nil then
    error(("bad argument #2 to 'parts' (part type or list of them expected, got %s)"):format(type(part_type)), 2)
  end
  local out = {}
  for _, part in ipairs(conversation.conversationParts or {}) do
    if not want or want[part.partType] then out[#out + 1] = part end
  end
  return out
end

--- Whether a part is an internal note (admins only see it).
---@param part featurebase.ConversationPart
---@return boolean
function M.is_note(part)
  return type(part) == "table" and part.partType == "admin_note"
end

--- Whether a part carries a message someone wrote (not an event such as an assignment).
---@param part featurebase.ConversationPart
---@return boolean
function M.is_message(part)
  return type(part) == "table" and M.constants.MESSAGE_PART_TYPES[part.partType] == true
end

--- Who wrote a part, or started a conversation: `{type =, id =, name? =, email? =}` or nil.
---@param part_or_conversation featurebase.ConversationPart|featurebase.Conversation (conversation: its source's)
---@return featurebase.PartAuthor|featurebase.Participant|nil
function M.author(part_or_conversation)
  local x = part_or_conversation
  if type(x) ~= "table" then return nil end
  if x.object == "conversation" then return x.source and x.source.author or nil end
  return x.author
end

--- Whether a part (or a conversation's first message) comes from a contact: a customer or a lead.
---@param part_or_conversation featurebase.ConversationPart|featurebase.Conversation
---@return boolean
function M.is_from_contact(part_or_conversation)
  local a = M.author(part_or_conversation)
  return a ~= nil and (a.type == "customer" or a.type == "lead")
end

-- Images -----------------------------------------------------------------------------------------

M.IMAGE_MAX_BYTES = 5 * 1024 * 1024 -- our own guard against pasting huge files into a message

local function new_error(kind, field, message)
  return setmetatable({ kind = kind, field = field, message = message }, core.error_mt)
end

-- Strips what may come before an SVG's root element: BOM, XML declaration, comments, doctype.
local function svg_root(s)
  s = s:sub(1, 4096):gsub("^\239\187\191", "")
  if not s:find("^%s*<") then return false end
  local prev
  repeat
    prev = s
    s = s:gsub("^%s+", ""):gsub("^<%?.-%?>", ""):gsub("^<!%-%-.-%-%->", ""):gsub("^<!DOCTYPE[^>]*>", "")
  until s == prev
  return s:find("^<svg[%s>/]") ~= nil
end

--- The MIME type of image bytes from their first bytes (PNG, JPEG, GIF, WebP, SVG), or nil.
---@param bytes string
---@return string|nil mime
function M.sniff_image(bytes)
  if type(bytes) ~= "string" then return nil end
  if bytes:sub(1, 8) == "\137PNG\r\n\26\n" then return "image/png" end
  if bytes:sub(1, 3) == "\255\216\255" then return "image/jpeg" end
  local gif = bytes:sub(1, 6)
  if gif == "GIF87a" or gif == "GIF89a" then return "image/gif" end
  if bytes:sub(1, 4) == "RIFF" and bytes:sub(9, 12) == "WEBP" then return "image/webp" end
  if svg_root(bytes) then return "image/svg+xml" end
  return nil
end

local function md_alt(s)
  return (s:gsub("[%c]+", " "):gsub("([%[%]\\])", "\\%1"))
end

--- Markdown embedding an image as a base64 data URI: `![alt](data:image/png;base64,...)`.
-- Featurebase uploads such images itself when the message is posted.
-- `source` is the image's bytes when it starts like an image (or holds a NUL or a newline),
-- else the path of a file to read.
---@param source string a file path or the image's bytes
---@param opts? {alt?: string, mime?: string, max_bytes?: integer}
---@return string|nil markdown
---@return featurebase.Error|nil err kind "io" (cannot read the file) or "invalid_request" (too big, unknown type)
function M.image(source, opts)
  if type(source) ~= "string" then
    error(("bad argument #1 to 'image' (file path or image bytes expected, got %s)"):format(type(source)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'image' (table of options expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    local ok = (k == "alt" or k == "mime") and type(v) == "string"
      or k == "max_bytes" and type(v) == "number" and v >= 0
    if not ok then
      error(("bad argument #2 to 'image' (%s: alt and mime are strings, max_bytes a number)"):format(tostring(k)), 2)
    end
  end
  local max = opts.max_bytes or M.IMAGE_MAX_BYTES
  local limit = ("the limit is %d bytes (opts.max_bytes)"):format(max)
  local bytes, name = source, "image"
  local is_bytes = M.sniff_image(source) or source:find("\0", 1, true) or source:find("\n", 1, true)
  if not is_bytes then
    name = source
    local f, why = io.open(source, "rb")
    if not f then return nil, new_error("io", "path", "cannot read image: " .. tostring(why)) end
    local size = f:seek("end")
    if size and size > max then
      f:close()
      return nil, new_error("invalid_request", "image", ("image %s is %d bytes; %s"):format(source, size, limit))
    end
    f:seek("set")
    bytes = f:read("*a") or ""
    f:close()
  end
  if #bytes > max then
    return nil, new_error("invalid_request", "image", ("image is %d bytes; %s"):format(#bytes, limit))
  end
  local mime = opts.mime
  if mime then
    if not mime:find("^image/[%w%.%+%-]+$") then
      return nil, new_error("invalid_request", "mime", "mime must look like image/png, got " .. mime)
    end
  else
    mime = M.sniff_image(bytes)
    if not mime then
      return nil, new_error("invalid_request", "image", name == "image"
        and "image is not PNG, JPEG, GIF, WebP or SVG; pass opts.mime to say what it is"
        or ("image %s is not PNG, JPEG, GIF, WebP or SVG; pass opts.mime to say what it is"):format(name))
    end
  end
  return ("![%s](data:%s;base64,%s)"):format(md_alt(opts.alt or ""), mime, core.base64(bytes))
end

-- Client helpers -----------------------------------------------------------------------------------

-- Misuse raises at the helper's caller, with the client's own checks (client.lua requires this file
-- only when a helper is first used, so there is no cycle).
local client = require("featurebase.client")
local check_client, check_arg = client.check_client, client.check_arg

-- Splits a helper's options into params fields (the names in `fields`) and per-call options
-- (everything else: timeout, max_retries, ..., which the client checks by name).
local function split(opts, fields, params, n, method)
  if opts == nil then return params, nil end
  if type(opts) ~= "table" then
    error(("bad argument #%d to '%s' (table of options expected, got %s)"):format(n, method, type(opts)), 3)
  end
  local call
  for k, v in pairs(opts) do
    if fields[k] then
      params[k] = v
    else
      call = call or {}
      call[k] = v
    end
  end
  return params, call
end

local CREATE_FIELDS = { channel = true, subject = true, createdAt = true }
local REPLY_FIELDS = { skipNotifications = true }

---@class featurebase.Client
local H = {}

--- A contact opens a conversation. `opts` may hold `channel`, `subject`, `createdAt` (an ISO
-- string or a Lua time) and any per-call option (`timeout`, ...).
---@param contact_id string the contact's ObjectId
---@param markdown string the first message
---@param opts? table
---@return table|nil conversation
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function H:start_conversation(contact_id, markdown, opts)
  check_client(self, "start_conversation", 2)
  check_arg(contact_id, "string", 1, "start_conversation", 2, "contact id")
  check_arg(markdown, "string", 2, "start_conversation", 2, "markdown string")
  local params, call = split(opts, CREATE_FIELDS,
    { from = { type = "contact", id = contact_id }, bodyMarkdown = markdown }, 3, "start_conversation")
  return self:create_conversation(params, call)
end

--- A contact replies. `who` is the contact's ObjectId, or `{userId = "your-user-id"}` (or `{id = ...}`).
-- `opts` may hold `skipNotifications` and per-call options.
---@param conversation_id string
---@param who string|{id?: string, userId?: string}
---@param markdown string
---@param opts? table
---@return table|nil part
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function H:reply_as_contact(conversation_id, who, markdown, opts)
  check_client(self, "reply_as_contact", 2)
  local params = { type = "contact", messageType = "reply", bodyMarkdown = markdown }
  if type(who) == "string" then
    params.id = who
  elseif type(who) == "table" then
    for k, v in pairs(who) do
      if k ~= "id" and k ~= "userId" then
        error(("bad argument #2 to 'reply_as_contact' (who may hold id and userId, not %s)"):format(tostring(k)), 2)
      end
      params[k] = v
    end
  else
    error(("bad argument #2 to 'reply_as_contact' (contact id or {userId = ...} expected, got %s)")
      :format(type(who)), 2)
  end
  check_arg(markdown, "string", 3, "reply_as_contact", 2, "markdown string")
  local call
  params, call = split(opts, REPLY_FIELDS, params, 4, "reply_as_contact")
  return self:reply(conversation_id, params, call)
end

local function admin_reply(self, method, conversation_id, admin_id, markdown, opts, message_type)
  check_client(self, method, 2)
  check_arg(admin_id, "string", 2, method, 2, "admin id")
  check_arg(markdown, "string", 3, method, 2, "markdown string")
  local params, call = split(opts, REPLY_FIELDS,
    { type = "admin", id = admin_id, messageType = message_type, bodyMarkdown = markdown }, 4, method)
  return self:reply(conversation_id, params, call)
end

--- An admin replies; the contact sees it. `opts` may hold `skipNotifications` and per-call options.
---@param conversation_id string
---@param admin_id string the admin's ObjectId
---@param markdown string
---@param opts? table
---@return table|nil part
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function H:reply_as_admin(conversation_id, admin_id, markdown, opts)
  return admin_reply(self, "reply_as_admin", conversation_id, admin_id, markdown, opts, "reply")
end

--- An admin leaves an internal note, which only admins see.
---@param conversation_id string
---@param admin_id string the admin's ObjectId
---@param markdown string
---@param opts? table `skipNotifications` and per-call options
---@return table|nil part
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function H:add_note(conversation_id, admin_id, markdown, opts)
  return admin_reply(self, "add_note", conversation_id, admin_id, markdown, opts, "note")
end

-- A string or a list of strings, copied; `level` points error() at the helper's caller.
local function id_list(v, n, method, what, level)
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" then
    error(("bad argument #%d to '%s' (%s: a string or a list of strings expected, got %s)")
      :format(n, method, what, type(v)), level + 1)
  end
  local out = {}
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      error(("bad argument #%d to '%s' (%s[%d]: string expected, got %s)"):format(n, method, what, i, type(s)),
        level + 1)
    end
    out[i] = s
  end
  return out
end

--- An admin reaches out in-app (channel "desktop") to one or more contacts.
-- `opts` may hold `subject`, `createdAt` and per-call options.
---@param admin_id string the admin's ObjectId
---@param contact_ids string|string[] contact ObjectIds
---@param markdown string
---@param opts? table
---@return table|nil conversation
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function H:message_contacts(admin_id, contact_ids, markdown, opts)
  check_client(self, "message_contacts", 2)
  check_arg(admin_id, "string", 1, "message_contacts", 2, "admin id")
  local ids = id_list(contact_ids, 2, "message_contacts", "contact_ids", 3)
  check_arg(markdown, "string", 3, "message_contacts", 2, "markdown string")
  local params, call = split(opts, { subject = true, createdAt = true }, {
    from = { type = "admin", id = admin_id }, channel = "desktop", bodyMarkdown = markdown,
    recipients = { to = { ids = ids } },
  }, 4, "message_contacts")
  return self:create_conversation(params, call)
end

---@class featurebase.EmailArgs
---@field from string the admin's ObjectId
---@field to string|string[] email addresses and/or contact ObjectIds
---@field cc? string|string[]
---@field bcc? string|string[]
---@field subject string at most 500 characters
---@field markdown string the email's body
---@field createdAt? string|number ISO 8601 string or Lua time

local EMAIL_ARGS = { from = true, to = true, cc = true, bcc = true, subject = true, markdown = true,
  createdAt = true }

-- Plain strings with an "@" are addresses, the rest contact ids: {emails = {...}, ids = {...}}.
local function recipients(v, what)
  local r = {}
  for _, s in ipairs(id_list(v, 1, "send_email", what, 4)) do
    local key = s:find("@", 1, true) and "emails" or "ids"
    r[key] = r[key] or {}
    r[key][#r[key] + 1] = s
  end
  if not r.emails and not r.ids then r.ids = {} end -- an empty list: the validator names recipients.to
  return r
end

--- An admin sends an email, opening an email conversation. `to`, `cc` and `bcc` take email
-- addresses and contact ids alike (sorted into `emails` and `ids`).
---@param args featurebase.EmailArgs
---@param opts? featurebase.CallOptions
---@return table|nil conversation
---@return featurebase.Error|nil err
---@return featurebase.Response|nil response
function H:send_email(args, opts)
  check_client(self, "send_email", 2)
  if type(args) ~= "table" then
    error(("bad argument #1 to 'send_email' (table expected, got %s)"):format(type(args)), 2)
  end
  for k in pairs(args) do
    if not EMAIL_ARGS[k] then
      error(("bad argument #1 to 'send_email' (unknown field %s: from, to, cc, bcc, subject, markdown, createdAt)")
        :format(tostring(k)), 2)
    end
  end
  for _, k in ipairs({ "from", "subject", "markdown" }) do
    if type(args[k]) ~= "string" then
      error(("bad argument #1 to 'send_email' (%s: string expected, got %s)"):format(k, type(args[k])), 2)
    end
  end
  if args.to == nil then error("bad argument #1 to 'send_email' (to: required)", 2) end
  local params = {
    from = { type = "admin", id = args.from }, channel = "email", subject = args.subject,
    bodyMarkdown = args.markdown, createdAt = args.createdAt,
    recipients = { to = recipients(args.to, "to") },
  }
  if args.cc ~= nil then params.recipients.cc = recipients(args.cc, "cc") end
  if args.bcc ~= nil then params.recipients.bcc = recipients(args.bcc, "bcc") end
  return self:create_conversation(params, opts)
end

--- Installs the client helpers as methods of featurebase.Client.
---@param client_class table featurebase.Client
function M.install(client_class)
  for name, f in pairs(H) do client_class[name] = f end
end

return M
