--- Fake Featurebase API server: the request handler that runs inside nginx (lua-nginx-module, LuaJIT).
-- Started and configured by featurebase.testing; not meant to be required from plain Lua.
--
-- API (as in the Featurebase docs, validated independently of the C client):
--   POST /v2/conversations              -> 201 conversation
--   POST /v2/conversations/{id}/reply   -> 201 conversation_part (404 if the conversation is unknown)
--   other paths 404, other methods 405; errors use {"error":{"type","code","message","param"?,"status"}}.
--   Field paths in `param` are dotted with 1-based indexes, e.g. "recipients.to.emails[2]".
--   X-RateLimit-* headers count API requests per minute but are never enforced: use X-Fb-Test for 429s.
--
-- Test-only endpoints (never rate counted nor recorded):
--   GET  /__fb/health                 -> 200 {"ok":true}
--   GET  /__fb/requests               -> JSON array of recorded API requests, oldest first (last 10000):
--                                        {id, time, method, path, query?, headers{lowercased}, body}
--   POST /__fb/reset                  -> forget conversations, recorded requests, queued modes, rate counter
--   POST /__fb/script                 -> body: JSON array of X-Fb-Test values, one used per later API
--                                        request that has no X-Fb-Test header (for clients that can't add headers)
--   GET  /__fb/conversations/{id}     -> stored conversation with all its parts
--
-- Misbehaviour switch: request header `X-Fb-Test: <mode>[,<mode>...]` (only this fake honours it), or
-- the same list in a path prefix, `/__fb/mode/<mode>[,<mode>...]/v2/...`, for a client's base_url:
--   delay=<ms>        sleep, then go on (combine with any mode below, or answer normally)
--   hang              never answer (until the client gives up; at most 60 s, then close)
--   close             close the connection without answering (ngx.exit(444))
--   status=<code>     answer <code> with a Featurebase error body
--   429               same as status=429 (type rate_limit_error, X-RateLimit-Remaining: 0)
--   retry-after=<s>   add `Retry-After: <s>` to the error answer; `date+<s>`: as an HTTP date <s> s ahead
--   reset=<s>         X-RateLimit-Reset <s> seconds from now (instead of the next minute)
--   malformed         201 with a truncated, invalid JSON body
--   html              502 with a text/html proxy error page
--   empty             201 with an empty body
--   big=<bytes>       201 with a valid JSON object of that many bytes, streamed 64 KiB at a time
-- Delivery modes change how any answer above (or the normal one) goes out:
--   close-mid         send the headers (with the full Content-Length) and half the body, then close
--   trickle=<ms>      send the body in 8 pieces, <ms> apart
--   chunked           no Content-Length: HTTP/1.1 chunked transfer (with big: the size is unknown up front)
--   ctype=<type>      this Content-Type instead, e.g. ctype=text/plain on a normal 201 JSON answer
--                     (in a base_url prefix write the slash as %2F: /__fb/mode/ctype=text%2Fplain/v2/...)
-- Modes combine, e.g. `status=503,trickle=200` or `429,retry-after=date+1`.
-- An unknown mode answers 400 code "invalid_test_mode" so typos don't pass silently.
-- The request is recorded before the switch applies, so retries can be counted.

local cjson = require("cjson.safe")
local ngx = ngx

local M = {}

local RATE_LIMIT = 2000
local LOG_CAP = 10000
local MIN_VERSION = "2026-01-01"

local cfg = { api_key = nil, record = true }
local dict = ngx.shared.fb          -- state: flushed by /__fb/reset
local ids = ngx.shared.fb_ids       -- request-id counter: survives resets so ids stay unique
local null = cjson.null
local encode = cjson.encode
local concat, tostring, type, pairs, ipairs = table.concat, tostring, type, pairs, ipairs

---@param c {api_key_hex:string, record:boolean, watch_pid:integer|nil, prefix:string}
function M.configure(c)
  -- the key arrives hex-encoded so no quoting in nginx.conf can break it
  cfg.api_key = c.api_key_hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  cfg.record = c.record ~= false
  cfg.watch_pid = c.watch_pid
  cfg.prefix = c.prefix
end

--- Watchdog: when the Lua process that started us is gone, remove the temp dir and stop nginx,
-- so a crashed or killed test run never leaves a server behind.
function M.init_worker()
  if not cfg.watch_pid or ngx.worker.id() ~= 0 then return end
  ngx.timer.every(0.5, function(premature)
    if premature then return end
    local f = io.open("/proc/" .. cfg.watch_pid .. "/stat")
    local stat = f and f:read("*a")
    if f then f:close() end
    -- a zombie counts as gone: where init doesn't reap, its /proc entry stays forever
    if stat and not stat:find("^%d+ %b() [ZX]") then return end
    os.execute("rm -rf '" .. cfg.prefix .. "'")
    os.execute("kill -TERM " .. require("ngx.process").get_master_pid())
  end)
end

-- helpers -----------------------------------------------------------------------------------------

local function now_iso()
  local t = ngx.now()
  local sec = math.floor(t)
  local ms = math.min(999, math.floor((t - sec) * 1000 + 0.5))
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%03dZ", ms)
end

-- key order fixed so error bodies read like the docs
local function err_body(status, etype, code, message, param)
  local s = '{"error":{"type":' .. encode(etype) .. ',"code":' .. encode(code) .. ',"message":' .. encode(message)
  if param then s = s .. ',"param":' .. encode(param) end
  return s .. ',"status":' .. status .. '}}'
end

local ERR_TYPE = { [400] = "invalid_request_error", [401] = "authentication_error", [403] = "permission_error",
  [404] = "not_found_error", [409] = "conflict_error", [422] = "invalid_request_error", [429] = "rate_limit_error" }
local ERR_CODE = { [400] = "bad_request", [401] = "invalid_api_key", [403] = "forbidden", [404] = "not_found",
  [409] = "conflict", [422] = "validation_error", [429] = "rate_limit_exceeded", [500] = "internal_error",
  [502] = "bad_gateway", [503] = "service_unavailable", [504] = "gateway_timeout" }

local function send(status, body, ctype, extra)
  ngx.status = status
  local h = ngx.header
  h["Content-Type"] = ctype or "application/json"
  h["Content-Length"] = #body
  if extra then for k, v in pairs(extra) do h[k] = v end end
  ngx.print(body)
end

local function invalid(message, param)
  return 422, err_body(422, "invalid_request_error", "validation_error", message, param)
end

local function utf8_len(s)
  return #s - select(2, s:gsub("[\128-\191]", ""))  -- continuation bytes don't start a character
end

-- at most n bytes, never ending inside a multi-byte character
local function utf8_cut(s, n)
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) >= 128 and s:byte(n + 1) < 192 do n = n - 1 end
  return s:sub(1, n)
end

local function is_hex24(s)
  return type(s) == "string" and #s == 24 and s:find("^%x+$") ~= nil
end

-- cjson gives {} for both [] and {}: an object has only string keys, an array only 1..n
local function is_object(t)
  if type(t) ~= "table" then return false end
  for k in pairs(t) do if type(k) ~= "string" then return false end end
  return true
end

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function is_iso8601(s)
  if type(s) ~= "string" then return false end
  local mo, d, rest = s:match("^%d%d%d%d%-(%d%d)%-(%d%d)(.*)$")
  mo, d = tonumber(mo), tonumber(d)
  if not mo or mo < 1 or mo > 12 or d < 1 or d > 31 then return false end
  if rest == "" then return true end
  local h, mi, tail = rest:match("^T(%d%d):(%d%d)(.*)$")
  if not h or tonumber(h) > 23 or tonumber(mi) > 59 then return false end
  local sec, t2 = tail:match("^:(%d%d)(.*)$")
  if sec then
    if tonumber(sec) > 60 then return false end
    tail = t2:match("^[.,]%d+(.*)$") or t2
  end
  return tail == "" or tail == "Z" or tail:find("^[+-]%d%d:?%d%d$") ~= nil
end

local function is_email(s)
  return type(s) == "string" and s:find("^[^%s@]+@[^%s@]+%.[^%s@]+$") ~= nil
end

local HTML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

-- paragraphs on blank lines, <br> on single newlines: enough to look like the real bodyHtml
local function to_html(md)
  local out = {}
  for para in (md:gsub("\r\n", "\n") .. "\n\n"):gmatch("(.-)\n%s*\n") do
    para = para:match("^%s*(.-)%s*$")
    if para ~= "" then out[#out + 1] = "<p>" .. para:gsub("[&<>\"']", HTML_ESC):gsub("\n", "<br>") .. "</p>" end
  end
  return concat(out)
end

-- stable fake ObjectId for contacts known only by email or userId
local function derived_id(s)
  return ngx.md5(s):sub(1, 24)
end

-- validation (the docs' rules, written here on purpose apart from the C client) --------------------

local function check_keys(b, allowed)
  for k in pairs(b) do
    if not allowed[k] then return invalid("Unknown field '" .. tostring(k) .. "'", tostring(k)) end
  end
end

local function check_body_markdown(v)
  if v == nil then return invalid("bodyMarkdown is required", "bodyMarkdown") end
  if type(v) ~= "string" then return invalid("bodyMarkdown must be a string", "bodyMarkdown") end
  if v == "" then return invalid("bodyMarkdown must not be empty", "bodyMarkdown") end
end

local function check_list(r, p, key, ok, what)
  local list = r[key]
  if list == nil then return 0 end
  if not is_array(list) then return nil, invalid(p .. "." .. key .. " must be an array of strings", p .. "." .. key) end
  for i, v in ipairs(list) do
    if not ok(v) then
      return nil, invalid(p .. "." .. key .. "[" .. i .. "] must be " .. what, p .. "." .. key .. "[" .. i .. "]")
    end
  end
  return #list
end

local function check_recipients(r, p, need_one)
  if not is_object(r) then return invalid(p .. " must be an object with emails and/or ids", p) end
  local ne, s, b = check_list(r, p, "emails", is_email, "a valid email address")
  if not ne then return s, b end
  local ni
  ni, s, b = check_list(r, p, "ids", is_hex24, "a 24-character hex ObjectId")
  if not ni then return s, b end
  if need_one and ne + ni == 0 then return invalid(p .. " needs at least one email or id", p) end
end

local CREATE_KEYS = { bodyMarkdown = true, from = true, channel = true, createdAt = true, recipients = true,
  subject = true }

local function validate_create(b)
  local s, e = check_keys(b, CREATE_KEYS)
  if s then return s, e end
  s, e = check_body_markdown(b.bodyMarkdown)
  if s then return s, e end
  local from = b.from
  if from == nil then return invalid("from is required", "from") end
  if not is_object(from) then return invalid("from must be an object", "from") end
  if from.type == nil then return invalid("from.type is required", "from.type") end
  if from.type ~= "contact" and from.type ~= "admin" then
    return invalid('from.type must be "contact" or "admin"', "from.type")
  end
  if from.id == nil then return invalid("from.id is required", "from.id") end
  if not is_hex24(from.id) then return invalid("from.id must be a 24-character hex ObjectId", "from.id") end
  if b.channel ~= nil and b.channel ~= "desktop" and b.channel ~= "email" then
    return invalid('channel must be "desktop" or "email"', "channel")
  end
  if b.createdAt ~= nil and not is_iso8601(b.createdAt) then
    return invalid("createdAt must be an ISO 8601 timestamp", "createdAt")
  end
  if b.subject ~= nil then
    if type(b.subject) ~= "string" then return invalid("subject must be a string", "subject") end
    if utf8_len(b.subject) > 500 then return invalid("subject must be at most 500 characters", "subject") end
  end
  local r = b.recipients
  if from.type == "contact" then
    if r ~= nil then return invalid('recipients is only allowed when from.type is "admin"', "recipients") end
    return
  end
  if r == nil then return invalid('recipients is required when from.type is "admin"', "recipients") end
  if not is_object(r) then return invalid("recipients must be an object", "recipients") end
  if r.to == nil then return invalid("recipients.to is required", "recipients.to") end
  s, e = check_recipients(r.to, "recipients.to", true)
  if s then return s, e end
  for _, k in ipairs({ "cc", "bcc" }) do
    if r[k] ~= nil then
      s, e = check_recipients(r[k], "recipients." .. k, false)
      if s then return s, e end
    end
  end
  if b.channel == "email" and b.subject == nil then
    return invalid('subject is required when channel is "email" and from.type is "admin"', "subject")
  end
end

local REPLY_KEYS = { type = true, id = true, userId = true, bodyMarkdown = true, messageType = true,
  skipNotifications = true }

local function validate_reply(b)
  local s, e = check_keys(b, REPLY_KEYS)
  if s then return s, e end
  if b.type == nil then return invalid("type is required", "type") end
  if b.type ~= "contact" and b.type ~= "admin" then return invalid('type must be "contact" or "admin"', "type") end
  s, e = check_body_markdown(b.bodyMarkdown)
  if s then return s, e end
  if b.messageType == nil then return invalid("messageType is required", "messageType") end
  if b.skipNotifications ~= nil and type(b.skipNotifications) ~= "boolean" then
    return invalid("skipNotifications must be a boolean", "skipNotifications")
  end
  if b.type == "contact" then
    if b.messageType ~= "reply" then
      return invalid('messageType must be "reply" for contact replies', "messageType")
    end
    if b.id ~= nil and not is_hex24(b.id) then return invalid("id must be a 24-character hex ObjectId", "id") end
    if b.userId ~= nil then
      if type(b.userId) ~= "string" or b.userId == "" then
        return invalid("userId must be a non-empty string", "userId")
      end
      if utf8_len(b.userId) > 255 then return invalid("userId must be at most 255 characters", "userId") end
    end
    if b.id == nil and b.userId == nil then return invalid("id or userId is required for contact replies", "id") end
  else
    if b.messageType ~= "reply" and b.messageType ~= "note" then
      return invalid('messageType must be "reply" or "note"', "messageType")
    end
    if b.id == nil then return invalid("id is required for admin replies", "id") end
    if not is_hex24(b.id) then return invalid("id must be a 24-character hex ObjectId", "id") end
    if b.userId ~= nil then return invalid("userId is only allowed for contact replies", "userId") end
  end
end

-- state: conv:<id> JSON without tags/parts/updatedAt/lastActivityAt (spliced in on read, so replies never rewrite it),
-- chan:<id> channel, np:<id> part counter, part:<id>:<n> JSON part, upd:<id> updatedAt --------------

local function conversation_json(id)
  local conv = dict:get("conv:" .. id)
  if not conv then return nil end
  local parts = {}
  for i = 1, dict:get("np:" .. id) or 0 do parts[#parts + 1] = dict:get("part:" .. id .. ":" .. i) end
  -- cjson 2.1.0 can't encode an empty array, so tags [] is spliced in as text
  local upd = encode(dict:get("upd:" .. id))
  return '{"tags":[],"updatedAt":' .. upd .. ',"lastActivityAt":' .. upd .. ',"conversationParts":['
    .. concat(parts, ",") .. "]," .. conv:sub(2)
end

local function create(b)
  local id = tostring(dict:incr("conv_seq", 1, 0))
  local created = b.createdAt or now_iso()
  local channel = b.channel or "desktop"
  local contact = b.from.type == "contact"
  local author = { type = contact and "customer" or "admin", id = b.from.id }
  local html = to_html(b.bodyMarkdown)
  local participants, seen = {}, {}
  local function add(pid)
    if not seen[pid] then seen[pid] = true; participants[#participants + 1] = { type = "customer", id = pid } end
  end
  if contact then
    add(b.from.id)
  else
    for _, k in ipairs({ "to", "cc", "bcc" }) do
      local r = b.recipients[k]
      if r then
        for _, v in ipairs(r.ids or {}) do add(v) end
        for _, v in ipairs(r.emails or {}) do add(derived_id("email:" .. v:lower())) end
      end
    end
  end
  local part = {
    object = "conversation_part", id = "1",
    partType = contact and "user_msg" or (channel == "email" and "email_msg" or "admin_msg"),
    bodyHtml = html, bodyMarkdown = b.bodyMarkdown, author = author, channel = channel,
    createdAt = created, updatedAt = created, redacted = false,
  }
  local conv = {
    object = "conversation", id = id, state = "open", priority = false, prioritySetAt = null,
    adminAssigneeId = null, teamAssigneeId = null, brandId = null, snoozedUntil = null,
    isBlocked = false, hasAdminOverriddenLanguage = false, userPreferredLanguage = null,
    botConversationStateLastUpdatedAt = null, awaitingCustomerReply = not contact,
    waitingSince = contact and created or null, participants = participants,
    source = {
      channel = channel, deliveredAs = contact and "customer_initiated" or "admin_initiated",
      bodyHtml = html, bodyMarkdown = b.bodyMarkdown, author = author, subject = b.subject,
    },
    title = b.subject or utf8_cut(b.bodyMarkdown:match("^%s*([^\n]*)"), 120),
    createdAt = created,
  }
  dict:set("conv:" .. id, encode(conv))
  dict:set("part:" .. id .. ":1", encode(part))
  dict:set("upd:" .. id, created)
  dict:set("np:" .. id, 1)
  dict:set("chan:" .. id, channel)
  return 201, conversation_json(id)
end

local function reply(id, b)
  local channel = dict:get("chan:" .. id)
  if not channel then
    return 404, err_body(404, "not_found_error", "conversation_not_found", "Conversation not found")
  end
  local n = dict:incr("np:" .. id, 1)
  local now = now_iso()
  local contact = b.type == "contact"
  local note = b.messageType == "note"
  local part = {
    object = "conversation_part", id = tostring(n),
    partType = contact and "user_msg" or (note and "admin_note" or "admin_msg"),
    bodyHtml = to_html(b.bodyMarkdown), bodyMarkdown = b.bodyMarkdown,
    author = { type = contact and "customer" or "admin", id = b.id or derived_id("user:" .. b.userId) },
    channel = not note and channel or nil,  -- notes are internal: no channel, as in the docs
    createdAt = now, updatedAt = now, redacted = false,
  }
  local json = encode(part)
  dict:set("part:" .. id .. ":" .. n, json)
  dict:set("upd:" .. id, now)
  return 201, json
end

-- request handling --------------------------------------------------------------------------------

local function api(method, path, headers, body)
  local auth = headers["authorization"]
  local key = type(auth) == "string" and auth:match("^[Bb]earer%s+(.-)%s*$")
  if key ~= cfg.api_key then
    return 401, err_body(401, "authentication_error", "invalid_api_key", "Invalid API key")
  end

  local conv_id
  if path ~= "/v2/conversations" then
    conv_id = path:match("^/v2/conversations/([^/]+)/reply$")
    if not conv_id then
      return 404, err_body(404, "not_found_error", "not_found", "No route for " .. method .. " " .. path)
    end
    conv_id = ngx.unescape_uri(conv_id)
  end
  if method ~= "POST" then
    return 405, err_body(405, "invalid_request_error", "method_not_allowed",
      "Method " .. method .. " not allowed on " .. path), nil, { Allow = "POST" }
  end

  local version = headers["featurebase-version"]
  if version ~= nil then
    local date = type(version) == "string" and version:match("^(%d%d%d%d%-%d%d%-%d%d)%.%a[%w_%-]*$")
    if not date or date < MIN_VERSION then
      return 400, err_body(400, "invalid_request_error", "unsupported_version", "Featurebase-Version "
        .. tostring(version) .. " is not supported: this endpoint needs 2026-01-01.nova or newer")
    end
  end

  local ctype = headers["content-type"]
  if type(ctype) ~= "string" or not (ctype:lower() .. ";"):find("^application/json%s*;") then
    return 415, err_body(415, "invalid_request_error", "unsupported_media_type",
      "Content-Type must be application/json")
  end

  local b, derr = cjson.decode(body)
  if type(b) ~= "table" or not body:find("^%s*{") then
    return 400, err_body(400, "invalid_request_error", "invalid_json",
      derr and ("Malformed JSON body: " .. derr) or "Request body must be a JSON object")
  end

  local s, e
  if conv_id then
    if #conv_id > 16 then return invalid("Conversation id must be 1 to 16 characters", "id") end
    s, e = validate_reply(b)
    if s then return s, e end
    return reply(conv_id, b)
  end
  s, e = validate_create(b)
  if s then return s, e end
  return create(b)
end

local function record(rid, method, path, query, headers, body)
  local h = {}
  for k, v in pairs(headers) do h[k] = type(v) == "table" and concat(v, ", ") or v end
  local n = dict:incr("log_n", 1, 0)
  dict:set("log:" .. n, encode({ id = rid, time = ngx.now(), method = method, path = path, query = query,
    headers = h, body = body, connection = tonumber(ngx.var.connection) }))
  if n > LOG_CAP then dict:delete("log:" .. (n - LOG_CAP)) end
end

-- How an answer goes out, for the delivery modes (trickle, close-mid, big, chunked, ctype).
local BIG_CHUNK = string.rep("x", 65536)

-- Writes and flushes; false once the client is gone (then the handler just stops).
local function put(s)
  ngx.print(s)
  return ngx.flush(true) ~= nil
end

-- Closes the connection now, whatever was sent: 444 is nginx's "close without a response".
local function drop()
  return ngx.exit(444)
end

-- A 201 JSON object of exactly n bytes (at least its skeleton's size), streamed 64 KiB at a time
-- so 50 MiB never sit in memory at once.
local function send_big(n)
  local head, tail = '{"object":"conversation","id":"1","state":"open","pad":"', '"}'
  local pad = math.max(0, n - #head - #tail)
  if not put(head) then return end
  while pad > 0 do
    local k = math.min(pad, #BIG_CHUNK)
    if not put(k == #BIG_CHUNK and BIG_CHUNK or BIG_CHUNK:sub(1, k)) then return end
    pad = pad - k
  end
  put(tail)
end

local function deliver(status, body, ctype, extra, how)
  ngx.status = status
  local h = ngx.header
  h["Content-Type"] = how.ctype or ctype or "application/json"
  if not how.chunked then  -- without a length, nginx sends HTTP/1.1 chunked
    h["Content-Length"] = how.big and math.max(how.big, 58) or #body
  end
  if extra then for k, v in pairs(extra) do h[k] = v end end
  if how.big then return send_big(how.big) end
  if how.close_mid then
    put(body:sub(1, math.floor(#body / 2)))
    return drop()
  end
  if how.trickle then
    local step = math.max(1, math.ceil(#body / 8))
    for i = 1, #body, step do
      if i > 1 then ngx.sleep(how.trickle / 1000) end
      if not put(body:sub(i, i + step - 1)) then return end
    end
    return
  end
  ngx.print(body)
end

-- Reads the modes: returns an answer (status, body, content-type, extra headers) or nil to answer
-- normally, and the delivery options either way.
local function misbehave(modes)
  local answer, retry_after
  local how = {}
  for mode in modes:gmatch("[^,]+") do
    mode = mode:match("^%s*(.-)%s*$")
    local k, v = mode:match("^([%w%-]+)=(.*)$")
    k = k or mode
    if k == "delay" and tonumber(v) then
      ngx.sleep(tonumber(v) / 1000)
    elseif k == "close" or k == "hang" then
      answer = k
    elseif k == "status" and tonumber(v) then
      answer = answer or tonumber(v)
    elseif k == "429" then
      answer = answer or 429
    elseif k == "retry-after" and v then
      -- date+<s>: an HTTP date <s> seconds from now (a literal date's comma would split the list)
      local ahead = v:match("^date([+-]%d+)$")
      retry_after = ahead and ngx.http_time(ngx.time() + tonumber(ahead)) or v
    elseif k == "reset" and tonumber(v) then
      ngx.header["X-RateLimit-Reset"] = ngx.time() + tonumber(v)
    elseif k == "malformed" or k == "html" or k == "empty" then
      answer = answer or k
    elseif k == "big" and tonumber(v) then
      how.big = math.floor(tonumber(v))
      answer = answer or "big"
    elseif k == "trickle" and tonumber(v) then
      how.trickle = tonumber(v)
    elseif k == "ctype" and v and v ~= "" then
      how.ctype = v
    elseif k == "close-mid" or k == "chunked" then
      how[k == "close-mid" and "close_mid" or "chunked"] = true
    elseif mode ~= "" then
      return 400, err_body(400, "invalid_request_error", "invalid_test_mode", "Unknown X-Fb-Test mode: " .. mode), nil,
        nil, {}
    end
  end
  if answer == "close" then return drop() end
  if answer == "hang" then
    -- never answer; end when the client gives up (the on_abort set in M.handle), at worst after 60 s
    ngx.ctx.fb_hang = true
    ngx.sleep(60)
    return drop()
  end
  if answer == "big" then return 201, "", nil, nil, how end
  if answer == "malformed" then return 201, '{"object":"conversation","id":"1","state":', nil, nil, how end
  if answer == "empty" then return 201, "", nil, nil, how end
  if answer == "html" then
    return 502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
      .. "</center><hr><center>nginx</center></body></html>\n", "text/html", nil, how
  end
  if answer then
    local extra = { ["Retry-After"] = retry_after }
    if answer == 429 then extra["X-RateLimit-Remaining"] = 0 end
    return answer, err_body(answer, ERR_TYPE[answer] or "api_error", ERR_CODE[answer] or "simulated_error",
      "Simulated " .. answer .. " (X-Fb-Test)"), nil, extra, how
  end
  return nil, nil, nil, nil, how
end

local function control(method, path)
  if path == "/__fb/health" then return 200, '{"ok":true}' end
  if path == "/__fb/requests" and method == "GET" then
    local n, out = dict:get("log_n") or 0, {}
    for i = math.max(1, n - LOG_CAP + 1), n do out[#out + 1] = dict:get("log:" .. i) end
    return 200, "[" .. concat(out, ",") .. "]"
  end
  if path == "/__fb/reset" and method == "POST" then
    dict:flush_all()
    dict:flush_expired()
    return 200, '{"ok":true}'
  end
  if path == "/__fb/script" and method == "POST" then
    ngx.req.read_body()
    local list = cjson.decode(ngx.req.get_body_data() or "")
    if not is_array(list) then
      return 400, err_body(400, "invalid_request_error", "invalid_json", "Expected a JSON array of modes")
    end
    for _, m in ipairs(list) do dict:rpush("script", tostring(m)) end
    return 200, '{"queued":' .. #list .. "}"
  end
  local id = path:match("^/__fb/conversations/([^/]+)$")
  local conv = id and conversation_json(ngx.unescape_uri(id))
  if conv then return 200, conv end
  return 404, err_body(404, "not_found_error", "not_found", "Not found")
end

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local file = ngx.req.get_body_file()  -- only above client_body_buffer_size, which nginx.conf makes large
  if not file then return "" end
  local f = io.open(file, "rb")
  body = f and f:read("*a") or ""
  if f then f:close() end
  return body
end

--- content_by_lua entry point.
function M.handle()
  local method = ngx.req.get_method()
  local uri = ngx.var.request_uri
  local path, query = uri:match("^([^?]*)%??(.*)$")
  -- A client that cannot add headers selects modes through its base_url:
  -- http://127.0.0.1:PORT/__fb/mode/<modes>/v2/conversations is /v2/conversations with <modes>.
  local path_modes, rest = path:match("^/__fb/mode/([^/]+)(/.*)$")
  if path_modes then path = rest end
  local is_control = path:sub(1, 6) == "/__fb/"

  -- rate-limit headers on every answer; only API requests count
  local now = ngx.time()
  local minute = math.floor(now / 60)
  local used = is_control and (dict:get("rl:" .. minute) or 0) or dict:incr("rl:" .. minute, 1, 0, 120)
  local h = ngx.header
  h["X-RateLimit-Limit"] = RATE_LIMIT
  h["X-RateLimit-Remaining"] = math.max(0, RATE_LIMIT - used)
  h["X-RateLimit-Reset"] = (minute + 1) * 60
  local rid = "req_" .. ids:incr("rid", 1, 0)
  h["X-Request-Id"] = rid

  if is_control then return send(control(method, path)) end
  -- Like a real server, finish what was started even if the client goes away (a killed import
  -- relies on it); only a hanging request ends when its client gives up.
  ngx.on_abort(function() if ngx.ctx.fb_hang then ngx.exit(499) end end)

  local body = read_body()
  local headers = ngx.req.get_headers(200)
  if cfg.record then
    ngx.update_time()  -- precise timestamps let specs measure retry back-off
    record(rid, method, path, query ~= "" and query or nil, headers, body)
  end
  local modes = headers["x-fb-test"] or (path_modes and ngx.unescape_uri(path_modes)) or dict:lpop("script")
  local how
  if modes then
    local status, rbody, ctype, extra
    status, rbody, ctype, extra, how = misbehave(type(modes) == "table" and concat(modes, ",") or modes)
    if status then return deliver(status, rbody, ctype, extra, how) end
  end
  local status, rbody, ctype, extra = api(method, path, headers, body)
  if how then return deliver(status, rbody, ctype, extra, how) end
  return send(status, rbody, ctype, extra)
end

return M
