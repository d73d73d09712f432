--- Shared pieces of the fake Featurebase server (runs inside nginx): JSON with real empty arrays, the error
-- envelope, the validators, the shared-dict state and opaque list cursors. Used by featurebase.testing.server,
-- featurebase.testing.conversations and featurebase.testing.contacts.

local cjson = require("cjson.safe")
local ngx = ngx

local M = {}

M.null = cjson.null
M.decode = cjson.decode
M.dict = ngx.shared.fb          -- state: flushed by /__fb/reset
M.ids = ngx.shared.fb_ids       -- counters that survive resets (request ids, cursor generation)

local dict = M.dict
local concat = table.concat

-- JSON -------------------------------------------------------------------------------------------

-- lua-cjson 2.1.0 writes an empty table as {}: these keys always hold arrays, so {} becomes [] there.
-- (Safe on any encoder output: `"key":{}` with unescaped quotes can only be a key and its value.)
local ARRAY_KEYS = { participants = true, tags = true, conversationParts = true, data = true, companies = true,
  roles = true, tagApplications = true, emails = true, ids = true, adminIds = true, contactIds = true }

function M.encode(v)
  local s = cjson.encode(v)
  if not s then return nil end
  local out, from, at = nil, 1, 1
  while true do  -- a plain search: this runs on every stored object, so no per-character pattern
    local i = s:find(":{}", at, true)
    if not i then break end
    local key = s:sub(math.max(1, i - 19), i - 1):match('"(%w+)"$')
    if key and ARRAY_KEYS[key] then
      out = out or {}
      out[#out + 1] = s:sub(from, i) .. "[]"
      from = i + 3
    end
    at = i + 3
  end
  if not out then return s end
  out[#out + 1] = s:sub(from)
  return concat(out)
end

-- time -------------------------------------------------------------------------------------------

function M.now_iso()
  local t = ngx.now()
  local sec = math.floor(t)
  local ms = math.min(999, math.floor((t - sec) * 1000 + 0.5))
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%03dZ", ms)
end

local function days_from_civil(y, m, d)  -- days since 1970-01-01 (Howard Hinnant's algorithm)
  y = m <= 2 and y - 1 or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- Seconds since the epoch for an ISO 8601 timestamp (already checked with is_iso8601).
function M.iso_epoch(s)
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
  local h, mi, tail = rest:match("^T(%d%d):(%d%d)(.*)$")
  if not h then return t end
  t = t + tonumber(h) * 3600 + tonumber(mi) * 60
  local sec, t2 = tail:match("^:(%d%d)(.*)$")
  if sec then
    t = t + tonumber(sec)
    local frac
    frac, tail = t2:match("^[.,](%d+)(.*)$")
    if frac then t = t + tonumber("0." .. frac) else tail = t2 end
  end
  local sign, oh, om = tail:match("^([+-])(%d%d):?(%d%d)$")
  if sign then t = t - (sign == "+" and 1 or -1) * (tonumber(oh) * 3600 + tonumber(om) * 60) end
  return t
end

-- errors -----------------------------------------------------------------------------------------

local ERR_TYPE = { [400] = "invalid_request_error", [401] = "authentication_error", [403] = "authorization_error",
  [404] = "invalid_request_error", [409] = "invalid_request_error", [410] = "invalid_request_error",
  [415] = "invalid_request_error", [422] = "invalid_request_error", [429] = "rate_limit_error" }
M.ERR_TYPE = ERR_TYPE

--- The documented envelope, keys in the docs' order: {"error":{type,code,message,param?,status}}.
function M.err_body(status, code, message, param, etype)
  local encode = cjson.encode
  local s = '{"error":{"type":' .. encode(etype or ERR_TYPE[status] or "api_error") .. ',"code":' .. encode(code)
    .. ',"message":' .. encode(message)
  if param then s = s .. ',"param":' .. encode(param) end
  return s .. ',"status":' .. status .. '}}'
end

--- status, body of an error answer.
function M.fail(status, code, message, param)
  return status, M.err_body(status, code, message, param)
end

--- 400 for a field the server refuses; `param` names it, dotted with 1-based indexes ("companies[2].name").
function M.invalid(message, param, code)
  return 400, M.err_body(400, code or "invalid_parameter", message, param)
end

function M.missing(param)
  return 400, M.err_body(400, "missing_parameter", param .. " is required", param)
end

--- The same error in one of the flat shapes a real server has been seen to send.
function M.flatten(status, body)
  local t = cjson.decode(body)
  local msg = type(t) == "table" and type(t.error) == "table" and t.error.message or nil
  if type(msg) ~= "string" then return body end
  if status == 401 then return '{"success":false,"message":"Invalid API Key"}' end
  if status == 400 then return '{"code":400,"message":' .. cjson.encode("Validation error: " .. msg) .. "}" end
  return '{"message":' .. cjson.encode(msg) .. "}"
end

-- checks -----------------------------------------------------------------------------------------

function M.utf8_len(s)
  return #s - select(2, s:gsub("[\128-\191]", ""))  -- continuation bytes don't start a character
end

--- At most n bytes, never ending inside a multi-byte character.
function M.utf8_cut(s, n)
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) >= 128 and s:byte(n + 1) < 192 do n = n - 1 end
  return s:sub(1, n)
end

function M.is_hex24(s)
  return type(s) == "string" and #s == 24 and s:find("^%x+$") ~= nil
end

--- Conversation and part ids: 1-16 letters and digits.
function M.is_short_id(s)
  return type(s) == "string" and #s >= 1 and #s <= 16 and s:find("^[%w]+$") ~= nil
end

-- cjson gives {} for both [] and {}: an object has only string keys, an array only 1..n
function M.is_object(t)
  if type(t) ~= "table" then return false end
  for k in pairs(t) do if type(k) ~= "string" then return false end end
  return true
end

function M.is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

function M.is_iso8601(s)
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

function M.is_email(s)
  return type(s) == "string" and s:find("^[^%s@]+@[^%s@]+%.[^%s@]+$") ~= nil
end

--- nil if every key of b is allowed, else the 400 naming the first unknown one.
function M.check_keys(b, allowed, prefix)
  for k in pairs(b) do
    if not allowed[k] then
      local p = (prefix or "") .. tostring(k)
      return M.invalid("Unknown field '" .. p .. "'", p)
    end
  end
end

--- A string of at most max characters (min defaults to 0); nil if fine, else the 400.
function M.check_string(v, param, max, min)
  if type(v) ~= "string" then return M.invalid(param .. " must be a string", param) end
  if min and #v < min then return M.invalid(param .. " must not be empty", param) end
  if max and M.utf8_len(v) > max then
    return M.invalid(param .. " must be at most " .. max .. " characters", param)
  end
end

--- An ObjectId; nil if fine, else the 400.
function M.check_hex24(v, param)
  if not M.is_hex24(v) then return M.invalid(param .. " must be a 24-character hex ObjectId", param) end
end

-- text -------------------------------------------------------------------------------------------

local HTML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

--- Paragraphs on blank lines, <br> on single newlines: enough to look like the real bodyHtml.
function M.to_html(md)
  local out = {}
  for para in (md:gsub("\r\n", "\n") .. "\n\n"):gmatch("(.-)\n%s*\n") do
    para = para:match("^%s*(.-)%s*$")
    if para ~= "" then out[#out + 1] = "<p>" .. para:gsub("[&<>\"']", HTML_ESC):gsub("\n", "<br>") .. "</p>" end
  end
  return concat(out)
end

--- Stable fake ObjectId for a contact known only by email ("email:<lowercased>") or userId ("user:<id>").
function M.derived_id(s)
  return ngx.md5(s):sub(1, 24)
end

-- ordered collections and opaque cursors ------------------------------------------------------------
-- A collection <kind> keeps its ids in insertion order: <kind>_n is the last position, <kind>@<pos> the id
-- there (deleted items leave a hole). A cursor names the next position, signed with a per-server secret,
-- the reset generation and the list's filter, so a tampered, foreign or stale cursor is refused.

local secret = ngx.md5(tostring(ngx.now()) .. tostring(math.random()) .. tostring({}))

function M.append(kind, id)
  local pos = dict:incr(kind .. "_n", 1, 0)
  dict:set(kind .. "@" .. pos, id)
  dict:set(kind .. "#" .. id, pos)
end

function M.remove(kind, id)
  local pos = dict:get(kind .. "#" .. id)
  if pos then
    dict:delete(kind .. "@" .. pos)
    dict:delete(kind .. "#" .. id)
  end
end

local function b64url(s)
  return (ngx.encode_base64(s, true):gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
end

local function sign(payload)
  return ngx.md5(secret .. "|" .. payload):sub(1, 16)
end

local function make_cursor(kind, filter, pos)
  local payload = kind .. "|" .. (M.ids:get("gen") or 0) .. "|" .. ngx.md5(filter):sub(1, 8) .. "|" .. pos
  return b64url(payload .. "|" .. sign(payload))
end

-- the position a cursor names, or nil when it is not one this server handed out for this list
local function read_cursor(kind, filter, cursor)
  if #cursor > 512 or cursor:find("[^%w%-_]") then return nil end
  local raw = ngx.decode_base64((cursor:gsub("[-_]", { ["-"] = "+", ["_"] = "/" })) .. string.rep("=", -#cursor % 4))
  if not raw or b64url(raw) ~= cursor then return nil end  -- one spelling only: unused low bits count too
  local payload, sig = raw:match("^(.*)|(%x+)$")
  if not payload or sig ~= sign(payload) then return nil end
  local k, gen, f, pos = payload:match("^([^|]*)|(%d+)|(%x+)|(%d+)$")
  if k ~= kind or tonumber(gen) ~= (M.ids:get("gen") or 0) or f ~= ngx.md5(filter):sub(1, 8) then return nil end
  return tonumber(pos)
end

--- Reads limit (1-100, default 10) and cursor from the query; returns limit, start position, or nil and the 400.
function M.page_args(kind, filter, args)
  local limit = 10
  if args.limit ~= nil then
    limit = type(args.limit) == "string" and args.limit:find("^%d+$") and tonumber(args.limit)
    if not limit or limit < 1 or limit > 100 then
      return nil, M.invalid("limit must be an integer from 1 to 100", "limit")
    end
  end
  local start = 1
  if args.cursor ~= nil then
    start = type(args.cursor) == "string" and read_cursor(kind, filter, args.cursor)
    if not start then
      return nil, M.invalid("The cursor is malformed or expired", "cursor", "invalid_cursor")
    end
  end
  return limit, start
end

--- {object:"list", data, nextCursor}: up to `limit` items from position `start` on, in insertion order.
-- item(id) gives an item's JSON, or nil to skip it (gone, or filtered out).
function M.page(kind, filter, limit, start, item)
  local last = dict:get(kind .. "_n") or 0
  local data, next_cursor = {}, "null"
  for pos = start, last do
    local id = dict:get(kind .. "@" .. pos)
    local json = id and item(id)
    if json then
      if #data == limit then  -- one more exists: the next page starts here
        next_cursor = '"' .. make_cursor(kind, filter, pos) .. '"'
        break
      end
      data[#data + 1] = json
    end
  end
  return '{"object":"list","data":[' .. concat(data, ",") .. '],"nextCursor":' .. next_cursor .. "}"
end

--- Query arguments as a table; nil and the 400 if one is not in `allowed`.
function M.query_args(allowed)
  local args = ngx.req.get_uri_args(100)
  for k, v in pairs(args) do
    if not allowed[k] then return nil, M.invalid("Unknown query parameter '" .. tostring(k) .. "'", tostring(k)) end
    if v == true then args[k] = "" end  -- "?limit" without a value
  end
  return args
end

return M
