--- Conversations in the fake Featurebase server (runs inside nginx): create, reply, list, get, update,
-- delete, participants, redact, tags, and seeding. Each handler takes the request (`r.id`, `r.tag_id`,
-- `r.args` query, `r.body` decoded JSON) and returns status, body.
--
-- State in the shared dict:
--   conv:<id>      the Conversation as JSON, without conversationParts, updatedAt and lastActivityAt
--   upd:<id>       updatedAt (= lastActivityAt), spliced in on read so a reply never rewrites conv:<id>
--   chan:<id>      channel, for replies
--   np:<id>        number of parts; part:<id>:<n> part n (ids "1", "2", ... within the conversation)
--   conv_seq       last generated id; the list order is the collection "c" (see common.lua)
--   tag:<id>       a seeded tag's name; admin:<id> / team:<id> seeded admins and teams (when any are
--                  seeded, unknown ones are refused)

local C = require("featurebase.testing.common")
local contacts = require("featurebase.testing.contacts")
local ngx = ngx

local M = {}

local dict, null, encode, decode = C.dict, C.null, C.encode, C.decode
local invalid, missing, fail = C.invalid, C.missing, C.fail
local concat = table.concat

local MAX_PARTS = 500  -- a get answers at most the 500 most recent parts
local REDACTABLE = { user_msg = true, admin_msg = true, email_msg = true, bot_msg = true }

-- storage -----------------------------------------------------------------------------------------

local function load(id)
  local s = dict:get("conv:" .. id)
  return s and decode(s)
end

local function save(id, conv, updated)
  conv.conversationParts, conv.updatedAt, conv.lastActivityAt = nil, nil, nil
  dict:set("conv:" .. id, encode(conv))
  if updated then dict:set("upd:" .. id, updated) end
end

local function add_part(id, part)
  local n = dict:incr("np:" .. id, 1, 0)
  part.id = tostring(n)
  part.object = "conversation_part"
  local json = encode(part)
  dict:set("part:" .. id .. ":" .. n, json)
  return json
end

--- The Conversation as JSON, with its parts (at most the 500 most recent) when `with_parts`.
function M.json(id, with_parts)
  local conv = dict:get("conv:" .. id)
  if not conv then return nil end
  local upd = C.encode(dict:get("upd:" .. id))
  local head = '{"updatedAt":' .. upd .. ',"lastActivityAt":' .. upd .. ","
  if not with_parts then return head .. conv:sub(2) end
  local parts, n = {}, dict:get("np:" .. id) or 0
  for i = math.max(1, n - MAX_PARTS + 1), n do parts[#parts + 1] = dict:get("part:" .. id .. ":" .. i) end
  return head .. '"conversationParts":[' .. concat(parts, ",") .. "]," .. conv:sub(2)
end

local function not_found()
  return fail(404, "conversation_not_found", "Conversation not found", "id")
end

-- a fresh id: the next number not taken (seeded conversations may have chosen their own)
local function next_id()
  while true do
    local id = tostring(dict:incr("conv_seq", 1, 0))
    if not dict:get("conv:" .. id) then return id end
  end
end

local function store_new(id, conv, parts, updated)
  save(id, conv, updated)
  dict:set("chan:" .. id, conv.source and conv.source.channel or "desktop")
  dict:set("np:" .. id, 0)
  for _, p in ipairs(parts) do add_part(id, p) end
  C.append("c", id)
end

-- shared checks -----------------------------------------------------------------------------------

local function admins_known() return dict:get("admins_seeded") end

-- actingAdminId: an ObjectId; when admins were seeded, one of them (else 403 forbidden)
local function check_acting(b, required)
  local v = b.actingAdminId
  if v == nil then
    if required then return missing("actingAdminId") end
    return
  end
  local s, e = C.check_hex24(v, "actingAdminId")
  if s then return s, e end
  if admins_known() and not dict:get("admin:" .. v) then
    return fail(403, "forbidden", "Admin " .. v .. " is not a member of this organization", "actingAdminId")
  end
end

local function check_body_markdown(v)
  if v == nil then return missing("bodyMarkdown") end
  if type(v) ~= "string" then return invalid("bodyMarkdown must be a string", "bodyMarkdown") end
  if v == "" then return invalid("bodyMarkdown must not be empty", "bodyMarkdown") end
end

local function tag_name(tag_id)
  return dict:get("tag:" .. tag_id) or ("tag-" .. tag_id)
end

-- create ------------------------------------------------------------------------------------------

local function check_list(r, p, key, ok, what)
  local list = r[key]
  if list == nil then return 0 end
  if not C.is_array(list) then
    return nil, invalid(p .. "." .. key .. " must be an array of strings", p .. "." .. key)
  end
  for i, v in ipairs(list) do
    if not ok(v) then
      return nil, invalid(p .. "." .. key .. "[" .. i .. "] must be " .. what, p .. "." .. key .. "[" .. i .. "]")
    end
  end
  return #list
end

local function check_recipients(r, p, need_one)
  if not C.is_object(r) then return invalid(p .. " must be an object with emails and/or ids", p) end
  local s, e = C.check_keys(r, { emails = true, ids = true }, p .. ".")
  if s then return s, e end
  local ne, b
  ne, s, b = check_list(r, p, "emails", C.is_email, "a valid email address")
  if not ne then return s, b end
  local ni
  ni, s, b = check_list(r, p, "ids", C.is_hex24, "a 24-character hex ObjectId")
  if not ni then return s, b end
  if need_one and ne + ni == 0 then return invalid(p .. " needs at least one email or id", p, "missing_parameter") end
end

local CREATE_KEYS = { bodyMarkdown = true, from = true, channel = true, createdAt = true, recipients = true,
  subject = true }

local function validate_create(b)
  local s, e = C.check_keys(b, CREATE_KEYS)
  if s then return s, e end
  s, e = check_body_markdown(b.bodyMarkdown)
  if s then return s, e end
  local from = b.from
  if from == nil then return missing("from") end
  if not C.is_object(from) then return invalid("from must be an object", "from") end
  s, e = C.check_keys(from, { type = true, id = true }, "from.")
  if s then return s, e end
  if from.type == nil then return missing("from.type") end
  if from.type ~= "contact" and from.type ~= "admin" then
    return invalid('from.type must be "contact" or "admin"', "from.type")
  end
  if from.id == nil then return missing("from.id") end
  s, e = C.check_hex24(from.id, "from.id")
  if s then return s, e end
  if b.channel ~= nil and b.channel ~= "desktop" and b.channel ~= "email" then
    return invalid('channel must be "desktop" or "email"', "channel")
  end
  if b.createdAt ~= nil and not C.is_iso8601(b.createdAt) then
    return invalid("createdAt must be an ISO 8601 timestamp", "createdAt")
  end
  if b.subject ~= nil then
    s, e = C.check_string(b.subject, "subject", 500)
    if s then return s, e end
  end
  local r = b.recipients
  if from.type == "contact" then
    if r ~= nil then return invalid('recipients is only allowed when from.type is "admin"', "recipients") end
    return
  end
  if r == nil then return invalid('recipients is required when from.type is "admin"', "recipients",
    "missing_parameter") end
  if not C.is_object(r) then return invalid("recipients must be an object", "recipients") end
  s, e = C.check_keys(r, { to = true, cc = true, bcc = true }, "recipients.")
  if s then return s, e end
  if r.to == nil then return missing("recipients.to") end
  s, e = check_recipients(r.to, "recipients.to", true)
  if s then return s, e end
  for _, k in ipairs({ "cc", "bcc" }) do
    if r[k] ~= nil then
      s, e = check_recipients(r[k], "recipients." .. k, false)
      if s then return s, e end
    end
  end
  if b.channel == "email" and b.subject == nil then
    return invalid('subject is required when channel is "email" and from.type is "admin"', "subject",
      "missing_parameter")
  end
end

--- POST /v2/conversations -> 201 Conversation (with its first part)
function M.create(r)
  local b = r.body
  local s, e = validate_create(b)
  if s then return s, e end
  local id = next_id()
  local created = b.createdAt or C.now_iso()
  local channel = b.channel or "desktop"
  local contact = b.from.type == "contact"
  local author = { type = contact and "customer" or "admin", id = b.from.id }
  local html = C.to_html(b.bodyMarkdown)
  local participants, seen = {}, {}
  local function add(pid)
    if not seen[pid] then seen[pid] = true; participants[#participants + 1] = { type = "customer", id = pid } end
  end
  if contact then
    add(b.from.id)
  else
    for _, k in ipairs({ "to", "cc", "bcc" }) do
      local rc = b.recipients[k]
      if rc then
        for _, v in ipairs(rc.ids or {}) do add(v) end
        for _, v in ipairs(rc.emails or {}) do add(C.derived_id("email:" .. v:lower())) end
      end
    end
  end
  local part = {
    partType = contact and "user_msg" or (channel == "email" and "email_msg" or "admin_msg"),
    bodyHtml = html, bodyMarkdown = b.bodyMarkdown, author = author, channel = channel,
    createdAt = created, updatedAt = created, redacted = false,
  }
  local conv = {
    object = "conversation", id = id, state = "open", priority = false, prioritySetAt = null,
    adminAssigneeId = null, teamAssigneeId = null, brandId = null, snoozedUntil = null,
    isBlocked = false, hasAdminOverriddenLanguage = false, userPreferredLanguage = null,
    botConversationStateLastUpdatedAt = null, awaitingCustomerReply = not contact,
    waitingSince = contact and created or null, participants = participants, tags = {},
    source = {
      channel = channel, deliveredAs = contact and "customer_initiated" or "admin_initiated",
      bodyHtml = html, bodyMarkdown = b.bodyMarkdown, author = author, subject = b.subject,
    },
    title = b.subject or C.utf8_cut(b.bodyMarkdown:match("^%s*([^\n]*)"), 120),
    createdAt = created,
  }
  store_new(id, conv, { part }, created)
  return 201, M.json(id, true)
end

-- reply -------------------------------------------------------------------------------------------

local REPLY_KEYS = { type = true, id = true, userId = true, bodyMarkdown = true, messageType = true,
  skipNotifications = true }

local function validate_reply(b)
  local s, e = C.check_keys(b, REPLY_KEYS)
  if s then return s, e end
  if b.type == nil then return missing("type") end
  if b.type ~= "contact" and b.type ~= "admin" then return invalid('type must be "contact" or "admin"', "type") end
  s, e = check_body_markdown(b.bodyMarkdown)
  if s then return s, e end
  if b.messageType == nil then return missing("messageType") end
  if b.skipNotifications ~= nil and type(b.skipNotifications) ~= "boolean" then
    return invalid("skipNotifications must be a boolean", "skipNotifications")
  end
  if b.type == "contact" then
    if b.messageType ~= "reply" then
      return invalid('messageType must be "reply" for contact replies', "messageType")
    end
    if b.id ~= nil then
      s, e = C.check_hex24(b.id, "id")
      if s then return s, e end
    end
    if b.userId ~= nil then
      s, e = C.check_string(b.userId, "userId", 255, 1)
      if s then return s, e end
    end
    if b.id == nil and b.userId == nil then
      return invalid("id or userId is required for contact replies", "id", "missing_parameter")
    end
  else
    if b.messageType ~= "reply" and b.messageType ~= "note" then
      return invalid('messageType must be "reply" or "note"', "messageType")
    end
    if b.id == nil then return invalid("id is required for admin replies", "id", "missing_parameter") end
    s, e = C.check_hex24(b.id, "id")
    if s then return s, e end
    if b.userId ~= nil then return invalid("userId is only allowed for contact replies", "userId") end
  end
end

--- POST /v2/conversations/{id}/reply -> 201 ConversationPart
function M.reply(r)
  local s, e = validate_reply(r.body)
  if s then return s, e end
  local id, b = r.id, r.body
  local channel = dict:get("chan:" .. id)
  if not channel then return not_found() end
  local now = C.now_iso()
  local contact = b.type == "contact"
  local note = b.messageType == "note"
  local json = add_part(id, {
    partType = contact and "user_msg" or (note and "admin_note" or "admin_msg"),
    bodyHtml = C.to_html(b.bodyMarkdown), bodyMarkdown = b.bodyMarkdown,
    author = { type = contact and "customer" or "admin", id = b.id or C.derived_id("user:" .. b.userId) },
    channel = not note and channel or nil,  -- notes are internal: no channel, as in the docs
    createdAt = now, updatedAt = now, redacted = false,
  })
  dict:set("upd:" .. id, now)
  return 201, json
end

-- list, get, delete -------------------------------------------------------------------------------

--- GET /v2/conversations?limit&cursor&tagIds -> list (items without conversationParts), insertion order
function M.list(r)
  local want = {}
  local raw = r.args.tagIds
  for _, v in ipairs(type(raw) == "table" and raw or { raw }) do  -- "a,b" or tagIds=a&tagIds=b
    for t in tostring(v):gmatch("[^,]+") do
      if not C.is_hex24(t) then return invalid("tagIds must be 24-character hex ObjectIds", "tagIds") end
      want[#want + 1] = t
    end
  end
  table.sort(want)
  local filter = concat(want, ",")
  local limit, start, e = C.page_args("c", filter, r.args)
  if not limit then return start, e end
  return 200, C.page("c", filter, limit, start, function(id)
    local json = M.json(id, false)
    if json and #want > 0 then
      local have = {}
      for _, t in ipairs(decode(json).tags or {}) do have[t.id] = true end
      for _, t in ipairs(want) do if not have[t] then return nil end end  -- all tags must be there (AND)
    end
    return json
  end)
end

--- GET /v2/conversations/{id} -> Conversation with conversationParts
function M.get(r)
  local json = M.json(r.id, true)
  if not json then return not_found() end
  return 200, json
end

--- DELETE /v2/conversations/{id} -> {id, object, deleted}
function M.delete(r)
  local id = r.id
  if not dict:get("conv:" .. id) then return not_found() end
  for i = 1, dict:get("np:" .. id) or 0 do dict:delete("part:" .. id .. ":" .. i) end
  for _, k in ipairs({ "conv:", "upd:", "chan:", "np:" }) do dict:delete(k .. id) end
  C.remove("c", id)
  return 200, '{"id":' .. encode(id) .. ',"object":"conversation","deleted":true}'
end

-- update ------------------------------------------------------------------------------------------

local UPDATE_KEYS = { actingAdminId = true, state = true, snoozedUntil = true, adminAssigneeId = true,
  teamAssigneeId = true, title = true, customAttributes = true, markAsRead = true }
local STATES = { open = true, closed = true, snoozed = true }

local function check_id_list(v, param)
  if not C.is_array(v) then return invalid(param .. " must be an array of ObjectIds", param) end
  if #v > 255 then return invalid(param .. " must have at most 255 items", param) end
  for i, x in ipairs(v) do
    local s, e = C.check_hex24(x, param .. "[" .. i .. "]")
    if s then return s, e end
  end
end

local function check_mark_as_read(m)
  if not C.is_object(m) then return invalid("markAsRead must be an object", "markAsRead") end
  local s, e = C.check_keys(m, { allAdmins = true, adminIds = true, allContacts = true, contactIds = true },
    "markAsRead.")
  if s then return s, e end
  for _, k in ipairs({ "allAdmins", "allContacts" }) do
    if m[k] ~= nil and m[k] ~= null and type(m[k]) ~= "boolean" then
      return invalid("markAsRead." .. k .. " must be a boolean or null", "markAsRead." .. k)
    end
  end
  for _, k in ipairs({ "adminIds", "contactIds" }) do
    if m[k] ~= nil then
      s, e = check_id_list(m[k], "markAsRead." .. k)
      if s then return s, e end
    end
  end
end

-- adminAssigneeId / teamAssigneeId: null, or an ObjectId (a seeded one, when any were seeded)
local function check_assignee(b, key, kind, code)
  local v = b[key]
  if v == nil or v == null then return end
  local s, e = C.check_hex24(v, key)
  if s then return s, e end
  if dict:get(kind .. "s_seeded") and not dict:get(kind .. ":" .. v) then
    return fail(404, code, kind:sub(1, 1):upper() .. kind:sub(2) .. " " .. v .. " not found", key)
  end
end

local function validate_update(b)
  local s, e = C.check_keys(b, UPDATE_KEYS)
  if s then return s, e end
  s, e = check_acting(b)
  if s then return s, e end
  if b.state ~= nil and not STATES[b.state] then
    return invalid('state must be "open", "closed" or "snoozed"', "state")
  end
  local su = b.snoozedUntil
  if su ~= nil and su ~= null then
    if not C.is_iso8601(su) or not su:find("T") then
      return invalid("snoozedUntil must be an ISO 8601 date-time", "snoozedUntil")
    end
    if C.iso_epoch(su) <= ngx.now() then return invalid("snoozedUntil must be in the future", "snoozedUntil") end
  end
  if b.state == "snoozed" and (su == nil or su == null) then
    return invalid('snoozedUntil is required when state is "snoozed"', "snoozedUntil", "missing_parameter")
  end
  s, e = check_assignee(b, "adminAssigneeId", "admin", "admin_not_found")
  if s then return s, e end
  s, e = check_assignee(b, "teamAssigneeId", "team", "team_not_found")
  if s then return s, e end
  if b.title ~= nil then
    s, e = C.check_string(b.title, "title", 255)
    if s then return s, e end
  end
  if b.customAttributes ~= nil and not C.is_object(b.customAttributes) then
    return invalid("customAttributes must be an object", "customAttributes")
  end
  if b.markAsRead ~= nil then return check_mark_as_read(b.markAsRead) end
end

--- PATCH /v2/conversations/{id} -> the updated Conversation (only the keys sent change)
function M.update(r)
  local b = r.body
  local s, e = validate_update(b)
  if s then return s, e end
  local conv = load(r.id)
  if not conv then return not_found() end
  local now = C.now_iso()
  if b.state ~= nil then
    conv.state = b.state
    if b.state ~= "snoozed" then conv.snoozedUntil = null end
  end
  if b.snoozedUntil ~= nil then conv.snoozedUntil = b.snoozedUntil end
  if b.adminAssigneeId ~= nil then conv.adminAssigneeId = b.adminAssigneeId end
  if b.teamAssigneeId ~= nil then conv.teamAssigneeId = b.teamAssigneeId end
  if b.title ~= nil then conv.title = b.title end
  if b.customAttributes ~= nil then
    conv.customAttributes = type(conv.customAttributes) == "table" and conv.customAttributes or {}
    for k, v in pairs(b.customAttributes) do conv.customAttributes[k] = v end
  end
  save(r.id, conv, now)
  return 200, M.json(r.id, false)
end

-- participants ------------------------------------------------------------------------------------

--- POST /v2/conversations/{id}/participants {participant:{id|userId|email}, actingAdminId}
function M.add_participant(r)
  local b = r.body
  local s, e = C.check_keys(b, { participant = true, actingAdminId = true })
  if s then return s, e end
  local p = b.participant
  if p == nil then return missing("participant") end
  if not C.is_object(p) then return invalid("participant must be an object", "participant") end
  s, e = C.check_keys(p, { id = true, userId = true, email = true }, "participant.")
  if s then return s, e end
  if p.id == nil and p.userId == nil and p.email == nil then
    return invalid("participant needs one of id, userId or email", "participant", "missing_parameter")
  end
  if p.id ~= nil then s, e = C.check_hex24(p.id, "participant.id") end
  if not s and p.userId ~= nil then s, e = C.check_string(p.userId, "participant.userId", 255, 1) end
  if not s and p.email ~= nil and not C.is_email(p.email) then
    s, e = invalid("participant.email must be a valid email address", "participant.email")
  end
  if s then return s, e end
  s, e = check_acting(b)
  if s then return s, e end
  local conv = load(r.id)
  if not conv then return not_found() end
  -- lookup order id, userId, email; userId and email find customers only
  local c = p.id and contacts.load(p.id)
    or p.userId and contacts.by_user_id(p.userId)
    or p.email and contacts.by_email(p.email)
  if c and not p.id and c.type ~= "customer" then c = nil end
  if not c then return fail(404, "contact_not_found", "Contact not found", "participant") end
  local there = false
  for _, x in ipairs(conv.participants) do if x.id == c.id then there = true end end
  if not there then conv.participants[#conv.participants + 1] = { type = c.type, id = c.id } end
  save(r.id, conv, C.now_iso())
  return 200, M.json(r.id, false)
end

--- DELETE /v2/conversations/{id}/participants with body {id, actingAdminId}
function M.remove_participant(r)
  local b = r.body
  local s, e = C.check_keys(b, { id = true, actingAdminId = true })
  if s then return s, e end
  if b.id == nil then return missing("id") end
  s, e = C.check_hex24(b.id, "id")
  if s then return s, e end
  s, e = check_acting(b)
  if s then return s, e end
  local conv = load(r.id)
  if not conv then return not_found() end
  local at
  for i, x in ipairs(conv.participants) do if x.id == b.id then at = i end end
  if not at then return fail(404, "participant_not_found", "The contact is not a participant", "id") end
  if #conv.participants == 1 then
    return fail(400, "invalid_request", "A conversation must keep at least one participant", "id")
  end
  table.remove(conv.participants, at)
  save(r.id, conv, C.now_iso())
  return 200, M.json(r.id, false)
end

-- redact ------------------------------------------------------------------------------------------

--- POST /v2/conversations/redact {type:"conversation_part", conversationId, conversationPartId, actingAdminId}
function M.redact(r)
  local b = r.body
  local s, e = C.check_keys(b, { type = true, conversationId = true, conversationPartId = true,
    actingAdminId = true })
  if s then return s, e end
  if b.type == nil then return missing("type") end
  if b.type ~= "conversation_part" then return invalid('type must be "conversation_part"', "type") end
  for _, k in ipairs({ "conversationId", "conversationPartId" }) do
    if b[k] == nil then return missing(k) end
    if not C.is_short_id(b[k]) then return invalid(k .. " must be 1 to 16 letters and digits", k) end
  end
  s, e = check_acting(b)
  if s then return s, e end
  local id = b.conversationId
  if not dict:get("conv:" .. id) then
    return fail(404, "conversation_not_found", "Conversation not found", "conversationId")
  end
  local key = "part:" .. id .. ":" .. b.conversationPartId
  local part = b.conversationPartId:find("^%d+$") and dict:get(key) and decode(dict:get(key))
  if not part then
    return fail(404, "conversation_part_not_found", "Conversation part not found", "conversationPartId")
  end
  if not REDACTABLE[part.partType] then
    return fail(400, "invalid_request", "Only user, admin, email and bot messages can be redacted ("
      .. tostring(part.partType) .. " cannot)", "conversationPartId")
  end
  local now = C.now_iso()
  part.bodyHtml, part.bodyMarkdown, part.redacted, part.updatedAt = "", "", true, now
  dict:set(key, encode(part))
  if b.conversationPartId == "1" then  -- the first message is also the source: wipe it there too
    local conv = load(id)
    if type(conv.source) == "table" then conv.source.bodyHtml, conv.source.bodyMarkdown = "", "" end
    save(id, conv)
  end
  dict:set("upd:" .. id, now)
  return 200, M.json(id, true)
end

-- tags --------------------------------------------------------------------------------------------

--- POST /v2/conversations/{id}/tags {tagId, actingAdminId} -> {type:"tag", id, name, appliedAt, appliedBy}
function M.add_tag(r)
  local b = r.body
  local s, e = C.check_keys(b, { tagId = true, actingAdminId = true })
  if s then return s, e end
  if b.tagId == nil then return missing("tagId") end
  s, e = C.check_hex24(b.tagId, "tagId")
  if s then return s, e end
  s, e = check_acting(b, true)
  if s then return s, e end
  if dict:get("tags_seeded") and not dict:get("tag:" .. b.tagId) then
    return fail(404, "resource_not_found", "Tag not found", "tagId")
  end
  local conv = load(r.id)
  if not conv then return not_found() end
  local name, there = tag_name(b.tagId), false
  for _, t in ipairs(conv.tags) do if t.id == b.tagId then there = true end end
  if not there then conv.tags[#conv.tags + 1] = { type = "tag", id = b.tagId, name = name } end
  local now = C.now_iso()
  save(r.id, conv, now)
  return 200, encode({ type = "tag", id = b.tagId, name = name, appliedAt = now, appliedBy = b.actingAdminId })
end

--- DELETE /v2/conversations/{id}/tags/{tagId} {actingAdminId} -> {type:"tag", id, name, removedAt, removedBy}
function M.remove_tag(r)
  local b = r.body
  local s, e = C.check_keys(b, { actingAdminId = true })
  if s then return s, e end
  if not C.is_hex24(r.tag_id) then return invalid("tagId must be a 24-character hex ObjectId", "tagId") end
  s, e = check_acting(b, true)
  if s then return s, e end
  local conv = load(r.id)
  if not conv then return not_found() end
  local at
  for i, t in ipairs(conv.tags) do if t.id == r.tag_id then at = i end end
  if not at then return fail(404, "resource_not_found", "The tag is not on this conversation", "tagId") end
  local name = conv.tags[at].name
  table.remove(conv.tags, at)
  local now = C.now_iso()
  save(r.id, conv, now)
  return 200, encode({ type = "tag", id = r.tag_id, name = name, removedAt = now, removedBy = b.actingAdminId })
end

-- seeding -----------------------------------------------------------------------------------------

--- Stores a test's conversation: any Conversation fields, the rest defaulted. `id` (1-16 letters and digits)
-- defaults to the next free number, `tags` may be tag ids or {id, name}, `participants` contact ids or
-- {type, id}, `conversationParts` parts (partType defaults to user_msg, ids are renumbered 1..n).
-- Returns the id, or nil and a message.
function M.seed(t, n)
  if not C.is_object(t) then return nil, "conversations[" .. n .. "] must be an object" end
  local id = t.id
  if id ~= nil and not C.is_short_id(id) then
    return nil, "conversations[" .. n .. "].id must be 1-16 letters and digits"
  end
  if id and dict:get("conv:" .. id) then C.remove("c", id) end  -- seeding an id again replaces it
  id = id or next_id()
  local created = t.createdAt or C.now_iso()
  local conv = {
    object = "conversation", id = id, state = "open", priority = false, prioritySetAt = null,
    adminAssigneeId = null, teamAssigneeId = null, brandId = null, snoozedUntil = null, isBlocked = false,
    hasAdminOverriddenLanguage = false, userPreferredLanguage = null, botConversationStateLastUpdatedAt = null,
    waitingSince = null, participants = {}, tags = {}, title = "Seeded conversation " .. id, createdAt = created,
  }
  for k, v in pairs(t) do
    if k ~= "conversationParts" and k ~= "updatedAt" and k ~= "lastActivityAt" then conv[k] = v end
  end
  conv.id = id
  local tags = {}
  for _, tag in ipairs(type(t.tags) == "table" and t.tags or {}) do
    local tid = type(tag) == "table" and tag.id or tag
    if not C.is_hex24(tid) then return nil, "conversations[" .. n .. "].tags: tag ids must be ObjectIds" end
    tags[#tags + 1] = { type = "tag", id = tid, name = type(tag) == "table" and tag.name or tag_name(tid) }
  end
  conv.tags = tags
  local ps = {}
  for _, p in ipairs(type(t.participants) == "table" and t.participants or {}) do
    ps[#ps + 1] = type(p) == "table" and p or { type = "customer", id = p }
  end
  if #ps == 0 then ps[1] = { type = "customer", id = C.derived_id("seed:" .. id) } end
  conv.participants = ps
  local parts = {}
  for _, p in ipairs(type(t.conversationParts) == "table" and t.conversationParts or {}) do
    local part = { partType = "user_msg", bodyMarkdown = "", author = ps[1], channel = "desktop",
      createdAt = created, updatedAt = created, redacted = false }
    for k, v in pairs(p) do part[k] = v end
    part.bodyHtml = part.bodyHtml or C.to_html(part.bodyMarkdown)
    parts[#parts + 1] = part
  end
  if #parts == 0 then
    local md = "Seeded message " .. id
    parts[1] = { partType = "user_msg", bodyMarkdown = md, bodyHtml = C.to_html(md), author = ps[1],
      channel = "desktop", createdAt = created, updatedAt = created, redacted = false }
  end
  store_new(id, conv, parts, t.updatedAt or created)
  return id
end

return M
