--- Fake Featurebase API server: the request handler that runs inside nginx (lua-nginx-module, LuaJIT).
-- Started and configured by featurebase.testing; not meant to be required from plain Lua. The resources
-- live in featurebase.testing.conversations and featurebase.testing.contacts, shared pieces in
-- featurebase.testing.common.
--
-- API (as in the Featurebase docs, validated independently of the C client; state kept in memory
-- across calls until /__fb/reset):
--   POST   /v2/conversations                        -> 201 Conversation (with conversationParts)
--   GET    /v2/conversations?limit&cursor&tagIds=a,b -> 200 {object:"list", data, nextCursor|null}; items
--                                                      without conversationParts; tagIds: all must match
--   GET    /v2/conversations/{id}                   -> 200 Conversation with conversationParts (last 500)
--   PATCH  /v2/conversations/{id}                   -> 200 Conversation (state, snoozedUntil, adminAssigneeId,
--                                                      teamAssigneeId, title, customAttributes, markAsRead)
--   DELETE /v2/conversations/{id}                   -> 200 {id, object:"conversation", deleted:true}
--   POST   /v2/conversations/{id}/reply             -> 201 ConversationPart
--   POST   /v2/conversations/{id}/participants      -> 200 Conversation ({participant:{id|userId|email}})
--   DELETE /v2/conversations/{id}/participants      -> 200 Conversation (JSON body {id}; 400 for the last one)
--   POST   /v2/conversations/redact                 -> 200 Conversation with parts; the part gets bodyHtml "",
--                                                      bodyMarkdown "", redacted true (user/admin/email/bot_msg)
--   POST   /v2/conversations/{id}/tags              -> 200 {type:"tag", id, name, appliedAt, appliedBy}
--   DELETE /v2/conversations/{id}/tags/{tagId}      -> 200 {type:"tag", id, name, removedAt, removedBy}
--   GET    /v2/contacts?limit&cursor&contactType    -> 200 list; contactType customer (default) | lead | all
--   POST   /v2/contacts                             -> 201 created | 200 updated Contact (userId wins over email)
--   GET    /v2/contacts/{id}, DELETE likewise       -> 200 Contact | {id, object:"contact", deleted:true}
--   GET    /v2/contacts/by-user-id/{userId}, DELETE -> the same for customers, userId percent-decoded
-- Lists keep insertion order; limit is 1-100 (default 10); cursors are opaque, signed, tied to the list's
-- filter and to the state since the last reset: a tampered or stale one answers 400 invalid_cursor.
-- Ids: conversations and parts 1-16 letters and digits (new ones "1", "2", ...), everything else 24-hex
-- ObjectIds. Part ids count 1, 2, ... within their conversation. actingAdminId, adminAssigneeId,
-- teamAssigneeId and tagId are checked against the seeded admins, teams and tags once any are seeded
-- (403 forbidden, 404 admin_not_found / team_not_found / resource_not_found); otherwise any ObjectId goes.
-- Errors: {"error":{"type","code","message","param"?,"status"}}; bad input is 400 (invalid_parameter,
-- missing_parameter, invalid_id, invalid_cursor, invalid_request) with `param` naming the field, dotted
-- with 1-based indexes, e.g. "recipients.to.emails[2]". Unknown fields and query parameters are refused.
-- Unknown paths 404 resource_not_found, other methods 405 (with Allow), non-JSON bodies 415.
-- X-RateLimit-Limit/Remaining/Reset (Reset in epoch seconds) on every answer; API requests count per
-- window. Enforced only when started with rate_limit (then 429 rate_limit_error once a window is spent).
--
-- Test-only endpoints (never rate counted nor recorded):
--   GET  /__fb/health                 -> 200 {"ok":true}
--   GET  /__fb/requests               -> JSON array of recorded API requests, oldest first (last 10000):
--                                        {id, time, method, path, query?, headers{lowercased}, body}
--   POST /__fb/reset                  -> forget conversations, contacts, seeds, recorded requests, queued
--                                        modes, rate counters; cursors handed out before stop working
--   POST /__fb/script                 -> body: JSON array; each entry is used by one later API request that
--                                        has no X-Fb-Test header nor /__fb/mode/ prefix, in order: a string
--                                        of modes applies to the next such request; {"match":"GET /v2/
--                                        conversations/*","modes":"...","skip":n} to the next request that
--                                        matches, after letting n matching ones pass ("*" is one path segment;
--                                        the method may be "*" or left out)
--   POST /__fb/seed                   -> body {conversations = n | [Conversation...], contacts = n | [Contact...],
--                                        tags = [{id, name} | id...], admins = [id...], teams = [id...]}:
--                                        stores them (missing fields get defaults) -> {conversations:[ids],
--                                        contacts:[ids]}
--   GET  /__fb/conversations/{id}     -> stored conversation with all its parts
--   GET  /__fb/contacts/{id}          -> stored contact
--   GET  /__fb/rate                   -> {limit, window, enforced, requests, limited (429s answered),
--                                        windows (windows that saw a request)}
--
-- Misbehaviour switch: request header `X-Fb-Test: <mode>[,<mode>...]` (only this fake honours it), the
-- same list in a path prefix, `/__fb/mode/<mode>[,<mode>...]/v2/...`, for a client's base_url, or a
-- /__fb/script entry (which can target one endpoint):
--   delay=<ms>        sleep, then go on (combine with any mode below, or answer normally)
--   hang              never answer (until the client gives up; at most 60 s, then close)
--   close             close the connection without answering (ngx.exit(444))
--   status=<code>     answer <code> with a Featurebase error body
--   429               same as status=429 (type rate_limit_error, X-RateLimit-Remaining: 0)
--   flat              error answers (simulated or real) use the flat shapes seen from real servers:
--                     401 {"success":false,"message":"Invalid API Key"}, 400 {"code":400,"message":
--                     "Validation error: ..."}, others {"message":"..."}
--   retry-after=<s>   add `Retry-After: <s>` to the error answer; `date+<s>`: as an HTTP date <s> s ahead
--   reset=<s>         X-RateLimit-Reset <s> seconds from now (instead of the window's end)
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
-- Modes combine, e.g. `status=503,trickle=200`, `429,retry-after=date+1` or `status=400,flat`.
-- An unknown mode answers 400 code "invalid_test_mode" so typos don't pass silently.
-- The request is recorded before the switch applies, so retries can be counted. State changes made by
-- several workers at once are not serialised: tests that need exact state use one worker (the default).

local cjson = require("cjson.safe")
local C = require("featurebase.testing.common")
local conversations = require("featurebase.testing.conversations")
local contacts = require("featurebase.testing.contacts")
local ngx = ngx

local M = {}

local LOG_CAP = 10000
local MIN_VERSION = "2026-01-01"

local cfg = { api_key = nil, record = true, rate_limit = 2000, rate_window = 60, enforce = false }
local dict, ids = C.dict, C.ids
local err_body = C.err_body
local encode = cjson.encode
local concat, tostring, type, pairs, ipairs = table.concat, tostring, type, pairs, ipairs

---@param c {api_key_hex:string, record:boolean, watch_pid:integer|nil, prefix:string, rate_limit:integer|nil,
---  rate_window:number|nil}
function M.configure(c)
  -- the key arrives hex-encoded so no quoting in nginx.conf can break it
  cfg.api_key = c.api_key_hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  cfg.record = c.record ~= false
  cfg.watch_pid = c.watch_pid
  cfg.prefix = c.prefix
  cfg.enforce = c.rate_limit ~= nil
  cfg.rate_limit = c.rate_limit or 2000
  cfg.rate_window = c.rate_window or 60
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

-- answers -----------------------------------------------------------------------------------------

-- codes of the simulated errors (status=<code>)
local ERR_CODE = { [400] = "bad_request", [401] = "invalid_api_key", [403] = "forbidden",
  [404] = "resource_not_found", [409] = "conflict", [422] = "validation_error", [429] = "rate_limit_exceeded",
  [500] = "internal_error", [502] = "bad_gateway", [503] = "service_unavailable", [504] = "gateway_timeout" }

-- the flat mode rewrites every error body on its way out
local function shaped(status, body)
  if ngx.ctx.fb_flat and status >= 400 then return C.flatten(status, body) end
  return body
end

local function send(status, body, ctype, extra)
  body = shaped(status, body)
  ngx.status = status
  local h = ngx.header
  h["Content-Type"] = ctype or "application/json"
  h["Content-Length"] = #body
  if extra then for k, v in pairs(extra) do h[k] = v end end
  ngx.print(body)
end

-- routes ------------------------------------------------------------------------------------------
-- Each route: a path pattern, the names of its captures (percent-decoded) and a handler per method.
-- `query` lists the query parameters a handler takes; conversation routes check their {id}.

local ROUTES = {
  { "^/v2/conversations$", {}, { GET = { conversations.list, query = { limit = true, cursor = true,
    tagIds = true } }, POST = { conversations.create } } },
  { "^/v2/conversations/redact$", {}, { POST = { conversations.redact } } },
  { "^/v2/conversations/([^/]+)$", { "id" }, { GET = { conversations.get }, PATCH = { conversations.update },
    DELETE = { conversations.delete } }, conversation = true },
  { "^/v2/conversations/([^/]+)/reply$", { "id" }, { POST = { conversations.reply } }, conversation = true },
  { "^/v2/conversations/([^/]+)/participants$", { "id" }, { POST = { conversations.add_participant },
    DELETE = { conversations.remove_participant } }, conversation = true },
  { "^/v2/conversations/([^/]+)/tags$", { "id" }, { POST = { conversations.add_tag } }, conversation = true },
  { "^/v2/conversations/([^/]+)/tags/([^/]+)$", { "id", "tag_id" }, { DELETE = { conversations.remove_tag } },
    conversation = true },
  { "^/v2/contacts$", {}, { GET = { contacts.list, query = { limit = true, cursor = true, contactType = true } },
    POST = { contacts.upsert } } },
  { "^/v2/contacts/by%-user%-id/([^/]+)$", { "user_id" }, { GET = { contacts.get_by_user_id },
    DELETE = { contacts.delete_by_user_id } } },
  { "^/v2/contacts/([^/]+)$", { "id" }, { GET = { contacts.get }, DELETE = { contacts.delete } } },
}

local function route(path)
  for _, rt in ipairs(ROUTES) do
    local caps = { path:match(rt[1]) }
    if caps[1] then
      local r = {}
      for i, name in ipairs(rt[2]) do r[name] = ngx.unescape_uri(caps[i]) end
      return rt, r
    end
  end
end

local function allow(methods)
  local list = {}
  for m in pairs(methods) do list[#list + 1] = m end
  table.sort(list)
  return concat(list, ", ")
end

-- the JSON object a POST, PATCH or DELETE carries (an empty DELETE body counts as {}), or nil and the error
local function json_body(method, headers, body)
  if method == "DELETE" and body == "" then return {} end
  local ctype = headers["content-type"]
  if type(ctype) ~= "string" or not (ctype:lower() .. ";"):find("^application/json%s*;") then
    return nil, 415, err_body(415, "unsupported_media_type", "Content-Type must be application/json")
  end
  local b, derr = cjson.decode(body)
  if type(b) ~= "table" or not body:find("^%s*{") then
    return nil, 400, err_body(400, "invalid_json",
      derr and ("Malformed JSON body: " .. derr) or "Request body must be a JSON object")
  end
  return b
end

local function api(method, path, headers, body)
  local auth = headers["authorization"]
  local key = type(auth) == "string" and auth:match("^[Bb]earer%s+(.-)%s*$")
  if key ~= cfg.api_key then
    return 401, err_body(401, "invalid_api_key", "Invalid API key")
  end

  local rt, r = route(path)
  if not rt then
    return 404, err_body(404, "resource_not_found", "No route for " .. method .. " " .. path)
  end
  local handler = rt[3][method]
  if not handler then
    return 405, err_body(405, "method_not_allowed", "Method " .. method .. " not allowed on " .. path), nil,
      { Allow = allow(rt[3]) }
  end

  local version = headers["featurebase-version"]
  if version ~= nil then
    local date = type(version) == "string" and version:match("^(%d%d%d%d%-%d%d%-%d%d)%.%a[%w_%-]*$")
    if not date or date < MIN_VERSION then
      return 400, err_body(400, "unsupported_version", "Featurebase-Version "
        .. tostring(version) .. " is not supported: this endpoint needs 2026-01-01.nova or newer")
    end
  end

  if rt.conversation and not C.is_short_id(r.id) then
    return 400, err_body(400, "invalid_id", "Conversation id must be 1 to 16 letters and digits", "id")
  end
  local args, s, e = C.query_args(handler.query or {})
  if not args then return s, e end
  r.args = args
  if method ~= "GET" then
    r.body, s, e = json_body(method, headers, body)
    if not r.body then return s, e end
  end
  return handler[1](r)
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
  body = shaped(status, body)
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
    elseif k == "flat" then
      ngx.ctx.fb_flat = true
    elseif k == "close-mid" or k == "chunked" then
      how[k == "close-mid" and "close_mid" or "chunked"] = true
    elseif mode ~= "" then
      return 400, err_body(400, "invalid_test_mode", "Unknown X-Fb-Test mode: " .. mode), nil, nil, {}
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
    return answer, err_body(answer, ERR_CODE[answer] or "simulated_error", "Simulated " .. answer .. " (X-Fb-Test)"),
      nil, extra, how
  end
  return nil, nil, nil, nil, how
end

-- scripted modes ----------------------------------------------------------------------------------
-- The queue is one JSON array under "script"; a short lock keeps workers from taking the same entry.

local function with_lock(f)
  for _ = 1, 1000 do
    if dict:add("script_lock", true, 1) then
      local ok, a = pcall(f)
      dict:delete("script_lock")
      if not ok then error(a) end
      return a
    end
    ngx.sleep(0.001)
  end
  return f()  -- a crashed holder: its lock expires after 1 s anyway
end

-- "GET /v2/conversations/*": method (or "*", or none) and a path where "*" is one segment
local function matches(spec, method, path)
  if type(spec) ~= "string" then return false end
  local m, p = spec:match("^(%S+)%s+(%S+)$")
  if not m then m, p = "*", spec end
  if m ~= "*" and m:upper() ~= method then return false end
  local pat = "^" .. p:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", "[^/]+") .. "$"
  return path:find(pat) ~= nil
end

-- the modes the script holds for this request, or nil
local function scripted(method, path)
  if not dict:get("script") then return nil end
  return with_lock(function()
    local list = cjson.decode(dict:get("script") or "[]") or {}
    for i, e in ipairs(list) do
      local take = type(e) ~= "table"
      if not take and matches(e.match, method, path) then
        if (tonumber(e.skip) or 0) > 0 then
          e.skip = e.skip - 1
          dict:set("script", encode(list))
          return nil
        end
        take = true
      end
      if take then
        table.remove(list, i)
        if #list == 0 then dict:delete("script") else dict:set("script", encode(list)) end
        return type(e) == "table" and tostring(e.modes or "") or tostring(e)
      end
    end
  end)
end

local function queue_script(list)
  if not C.is_array(list) then return nil end
  for _, e in ipairs(list) do
    if type(e) == "table" and type(e.match) ~= "string" then return nil end
  end
  with_lock(function()
    local q = cjson.decode(dict:get("script") or "[]") or {}
    for _, e in ipairs(list) do q[#q + 1] = e end
    if #q > 0 then dict:set("script", encode(q)) end
  end)
  return #list
end

-- rate limit --------------------------------------------------------------------------------------

-- Sets the X-RateLimit-* headers; true when this API request is over an enforced limit.
local function rate(is_control)
  ngx.update_time()
  local w = cfg.rate_window
  local win = math.floor(ngx.now() / w)
  local used
  if is_control then
    used = dict:get("rl:" .. win) or 0
  else
    used = dict:incr("rl:" .. win, 1, 0, math.ceil(w) * 2 + 1)
    if used == 1 then dict:incr("rl_windows", 1, 0) end
    dict:incr("rl_requests", 1, 0)
  end
  local h = ngx.header
  h["X-RateLimit-Limit"] = cfg.rate_limit
  h["X-RateLimit-Remaining"] = math.max(0, cfg.rate_limit - used)
  h["X-RateLimit-Reset"] = math.ceil((win + 1) * w)
  return cfg.enforce and not is_control and used > cfg.rate_limit
end

-- test-only endpoints -----------------------------------------------------------------------------

local function control_body()
  ngx.req.read_body()
  return cjson.decode(ngx.req.get_body_data() or "")
end

local function seed_list(v, what, seed, out)
  if v == nil then return end
  if type(v) == "number" then
    if v < 0 or v > 100000 or v % 1 ~= 0 then return what .. " must be a count or an array" end
    for i = 1, v do out[#out + 1] = seed({}, i) end
    return
  end
  if not C.is_array(v) then return what .. " must be a count or an array" end
  for i, t in ipairs(v) do
    local id, err = seed(t, i)
    if not id then return err end
    out[#out + 1] = id
  end
end

local function seed(b)
  if not C.is_object(b) then return "expected a JSON object" end
  for _, k in ipairs({ "admins", "teams" }) do
    if b[k] ~= nil then
      if not C.is_array(b[k]) then return k .. " must be an array of ObjectIds" end
      for _, id in ipairs(b[k]) do
        if not C.is_hex24(id) then return k .. " must be an array of ObjectIds" end
        dict:set(k:sub(1, -2) .. ":" .. id, true)
        dict:set(k .. "_seeded", true)
      end
    end
  end
  if b.tags ~= nil then
    if not C.is_array(b.tags) then return "tags must be an array" end
    for _, t in ipairs(b.tags) do
      local id = type(t) == "table" and t.id or t
      if not C.is_hex24(id) then return "tag ids must be ObjectIds" end
      dict:set("tag:" .. id, type(t) == "table" and t.name or ("tag-" .. id))
      dict:set("tags_seeded", true)
    end
  end
  local out = { conversations = {}, contacts = {} }
  local err = seed_list(b.contacts, "contacts", contacts.seed, out.contacts)
    or seed_list(b.conversations, "conversations", conversations.seed, out.conversations)
  if err then return err end
  return nil, out
end

local function bad_control(message)
  return 400, err_body(400, "invalid_request", message)
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
    ids:incr("gen", 1, 0)  -- cursors from before the reset become stale
    return 200, '{"ok":true}'
  end
  if path == "/__fb/script" and method == "POST" then
    local n = queue_script(control_body())
    if not n then return bad_control('Expected a JSON array of modes or {"match":..., "modes":...} entries') end
    return 200, '{"queued":' .. n .. "}"
  end
  if path == "/__fb/seed" and method == "POST" then
    local err, out = seed(control_body())
    if err then return bad_control(err) end
    local function ids_json(list) return #list == 0 and "[]" or encode(list) end
    return 200, '{"conversations":' .. ids_json(out.conversations) .. ',"contacts":' .. ids_json(out.contacts) .. "}"
  end
  if path == "/__fb/rate" and method == "GET" then
    return 200, encode({ limit = cfg.rate_limit, window = cfg.rate_window, enforced = cfg.enforce,
      requests = dict:get("rl_requests") or 0, limited = dict:get("rl_limited") or 0,
      windows = dict:get("rl_windows") or 0 })
  end
  local kind, id = path:match("^/__fb/(%a+)/([^/]+)$")
  id = id and ngx.unescape_uri(id)
  local json = kind == "conversations" and conversations.json(id, true) or kind == "contacts" and contacts.json(id)
  if json then return 200, json end
  return 404, err_body(404, "resource_not_found", "Not found")
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
  local limited = rate(is_control)
  local rid = "req_" .. ids:incr("rid", 1, 0)
  ngx.header["X-Request-Id"] = rid

  if is_control then return send(control(method, path)) end
  -- Like a real server, finish what was started even if the client goes away (a killed import
  -- relies on it); only a hanging request ends when its client gives up.
  ngx.on_abort(function() if ngx.ctx.fb_hang then ngx.exit(499) end end)

  local body = read_body()
  local headers = ngx.req.get_headers(200)
  if cfg.record then
    record(rid, method, path, query ~= "" and query or nil, headers, body)
  end
  local modes = headers["x-fb-test"] or (path_modes and ngx.unescape_uri(path_modes))
  if type(modes) == "table" then modes = concat(modes, ",") end
  if limited then  -- the front door: refused before any scripted mode is taken
    dict:incr("rl_limited", 1, 0)
    if modes and (("," .. modes .. ","):find(",%s*flat%s*,")) then ngx.ctx.fb_flat = true end
    ngx.header["X-RateLimit-Remaining"] = 0
    return send(429, err_body(429, "rate_limit_exceeded", "Rate limit exceeded: " .. cfg.rate_limit
      .. " requests per " .. cfg.rate_window .. " s"))
  end
  modes = modes or scripted(method, path)
  local how
  if modes then
    local status, rbody, ctype, extra
    status, rbody, ctype, extra, how = misbehave(modes)
    if status then return deliver(status, rbody, ctype, extra, how) end
  end
  local status, rbody, ctype, extra = api(method, path, headers, body)
  if how then return deliver(status, rbody, ctype, extra, how) end
  return send(status, rbody, ctype, extra)
end

return M
