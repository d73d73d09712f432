-- Fuzz target for the validator/encoder (core.encode, every endpoint of core.api), run by harness.c.
-- The fuzz bytes pick an endpoint and path arguments, then are a little program that builds a
-- params table: nested tables, cycles, metatables, strings with any bytes, numbers with NaN and
-- infinities, booleans, JSON null. Keys and strings come from the API's own vocabulary often enough
-- that valid requests are reached too.
-- Contract checked: no raise; either nil + an invalid_request error naming a field, or a request
-- whose path is the endpoint's template with only unreserved or percent-encoded bytes in its
-- arguments, and whose body is JSON that decodes back to exactly the params given (nothing dropped,
-- added or changed; a Lua time becomes a timestamp string, redaction's type is filled in).
local core = require("featurebase.core")
local cjson = require("cjson").new()
cjson.decode_invalid_numbers(false)

local KEYS = { "bodyMarkdown", "from", "channel", "createdAt", "recipients", "subject", "type", "id",
  "to", "cc", "bcc", "emails", "ids", "userId", "messageType", "skipNotifications" }
-- every field name the description knows, too
local function add_fields(schema)
  for _, f in ipairs(schema and schema.fields or {}) do
    KEYS[#KEYS + 1] = f.name
    add_fields(f.schema)
    if f.item then add_fields(f.item.schema) end
  end
end
for _, ep in ipairs(core.api) do
  add_fields(ep.body)
  add_fields(ep.query)
end
local ENDPOINTS = {}
for _, ep in ipairs(core.api) do ENDPOINTS[ep.name] = ep end
local TIMES = { createdAt = true, snoozedUntil = true } -- a Lua time goes out as an ISO string
local WORDS = { "contact", "admin", "desktop", "email", "reply", "note", "507f1f77bcf86cd799439011",
  "676F0F6765BDAA7D7D760F88", "john@example.com", "a@b", "2025-01-15T10:30:00.000Z",
  "2024-02-29T23:59:60+05:30", "Hello", "", "user_123", "\0", "\255", "é", "\237\160\128", "\"\\\n\127",
  "2025-02-29T00:00:00Z", "x@y.", "a@b@c", "<a@b>", "1970-01-01T00:00:00z" }
local NUMBERS = { 0, 1, -1, 0 / 0, 1 / 0, -1 / 0, 2 ^ 53, 1.5, math.mininteger, math.maxinteger, 24, 500, 100,
  4102444800 }
local IDS = { "abc123", "a/b", "..", "x?y", "a#b", "%2F", "a b", "0123456789abcdef", "0123456789abcdefg",
  "", "a-b_C", "\0", "é" }

local function pick(list, b) return list[b % #list + 1] end

-- Decoded JSON equals the params: same keys, same strings and booleans, tables compared deeply.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in next, a do
    if TIMES[k] and type(rawget(b, k)) == "number" then
      if type(v) ~= "string" then return false end
    elseif not same(v, rawget(b, k)) then return false end
  end
  for k in next, b do
    if rawget(a, k) == nil then return false end
  end
  return true
end

return function(data)
  local pos = 0
  local function byte()
    pos = pos + 1
    return data:byte(pos) or 0
  end
  local function raw_string()
    local n = byte()
    local s = data:sub(pos + 1, pos + n)
    pos = pos + n
    if byte() == 255 then s = s:rep(1000) end -- long strings (well past every limit)
    return s
  end

  local tables = {}
  local value, table_

  -- A well-formed value for a known key (the fuzzer then only has to break it somewhere).
  local function list(kind, depth)
    local t = {}
    for i = 1, byte() % 4 do t[i] = value(depth + 1, kind) end
    return t
  end
  local function recipients(depth)
    local t = { to = value(depth + 1, "to") }
    if byte() % 2 == 1 then t.cc = value(depth + 1, "cc") end
    if byte() % 2 == 1 then t.bcc = value(depth + 1, "bcc") end
    return t
  end
  local function email_recipients(depth)
    local t = {}
    if byte() % 3 ~= 1 then t.emails = list("email", depth) end
    if byte() % 3 ~= 2 then t.ids = list("oid", depth) end
    return t
  end
  local VALID = {
    bodyMarkdown = function() return byte() % 2 == 0 and pick(WORDS, byte()) or raw_string() end,
    subject = function() return raw_string() end,
    userId = function() return raw_string() end,
    from = function(depth) return { type = value(depth + 1, "type"), id = value(depth + 1, "id") } end,
    type = function() return pick(WORDS, byte() % 2) end,
    id = function() return pick(WORDS, 6 + byte() % 2) end,
    oid = function() return pick(WORDS, 6 + byte() % 2) end,
    email = function() return pick(WORDS, 8 + byte() % 2) end,
    channel = function() return pick(WORDS, 2 + byte() % 2) end,
    messageType = function() return pick(WORDS, 4 + byte() % 2) end,
    createdAt = function() return pick(WORDS, 10 + byte() % 2) end,
    skipNotifications = function() return byte() % 2 == 0 end,
    recipients = recipients, to = email_recipients, cc = email_recipients, bcc = email_recipients,
    emails = function(depth) return list("email", depth) end,
    ids = function(depth) return list("oid", depth) end,
  }

  function table_(depth)
    local t = {}
    tables[#tables + 1] = t
    local n = byte() % 8
    for i = 1, n do
      local kind = byte() % 8
      local k
      if kind < 5 then k = pick(KEYS, byte())
      elseif kind == 5 then k = i
      elseif kind == 6 then k = raw_string()
      else
        k = value(depth + 1)
        if k ~= k then k = nil end -- NaN cannot be a key
      end
      if k ~= nil then t[k] = value(depth + 1, k) end
    end
    local m = byte() % 16
    if m == 1 then -- consulting a metatable would be a bug: rawget/next only
      setmetatable(t, { __index = function() error("__index consulted") end,
        __pairs = function() error("__pairs consulted") end, __len = function() error("__len consulted") end })
    elseif m == 2 then
      setmetatable(t, { __index = { bodyMarkdown = "from the metatable" } })
    end
    return t
  end
  function value(depth, key)
    local op = byte() % 10
    if depth > 8 then op = 0 end
    if op < 4 then
      local gen = VALID[key]
      if gen then return gen(depth) end
      return pick(WORDS, byte())
    elseif op == 4 then return raw_string()
    elseif op < 7 then return table_(depth)
    elseif op == 7 then return pick(NUMBERS, byte())
    elseif op == 8 then
      local b = byte() % 3
      if b == 2 then return core.null end
      return b == 0
    elseif #tables > 0 then return tables[byte() % #tables + 1] -- cycles and sharing
    end
    return pick(WORDS, byte())
  end

  local reply = byte() % 2 == 1
  local ep = ENDPOINTS[reply and "reply" or "create_conversation"]
  local id = reply and (byte() % 4 == 0 and raw_string() or pick(IDS, byte()))
  local params
  if byte() % 2 == 0 then -- a well-formed request, to be spoilt by the rest of the bytes
    params = table_(0)
    local base = reply and { "type", "id", "userId", "bodyMarkdown", "messageType", "skipNotifications" }
      or { "from", "bodyMarkdown", "channel", "subject", "recipients", "createdAt" }
    for _, k in ipairs(base) do
      if byte() % 4 ~= 3 then params[k] = VALID[k](1) end
    end
  else
    params = table_(0)
  end
  local ok, path, body
  if not reply and byte() % 3 == 0 then -- any other endpoint of the description
    ep = core.api[byte() % #core.api + 1]
    if byte() % 4 == 0 then params = nil end
  end
  local args = {}
  for i = 1, #ep.args do args[i] = byte() % 3 == 0 and raw_string() or pick(IDS, byte()) end
  if reply then args[1] = id end
  local method
  ok, method, path, body = pcall(core.encode, ep.name, params, nil, args[1], args[2])
  if ok and method == nil then path, body = method, path end
  assert(ok, path)
  if path == nil then
    local err = body
    assert(getmetatable(err) == core.error_mt, "error without the error metatable")
    assert(err.kind == "invalid_request", "kind " .. tostring(err.kind))
    assert(type(err.field) == "string" and err.field ~= "", "error without a field")
    assert(type(err.message) == "string" and err.message:sub(1, #err.field) == err.field,
      "message does not start with the field: " .. tostring(err.message))
    assert(not err.message:find("[%z\1-\31]"), "control character in message")
    assert(type(tostring(err)) == "string")
    return
  end
  assert(method == ep.method, "method " .. tostring(method))
  -- the template, each {arg} a run of unreserved or percent-encoded bytes, then maybe a query
  local pattern = "^" .. ep.path:gsub("%-", "%%-"):gsub("{[%w_]+}", "[%%w%%%%_~-]+") .. "%f[?\0]"
  assert(path:find(pattern), "path " .. path .. " is not " .. ep.path)
  if reply then
    assert(#id >= 1 and #id <= 16 and not id:find("[^%w]"), "bad conversation id accepted: " .. id)
    assert(path == "/v2/conversations/" .. id .. "/reply", "path " .. path)
  end
  if not ep.body then
    assert(body == nil, "a body for " .. ep.name)
    assert(not path:find("?", 1, true) or (ep.query and path:find("^[^?]*%?[%w%%=&,._~-]+$")), "query " .. path)
    return
  end
  if ep.name == "redact_part" and params and rawget(params, "type") == nil then
    local copy = { type = "conversation_part" }
    for k, v in next, params do copy[k] = v end
    params = copy
  end
  local dok, decoded = pcall(cjson.decode, body)
  assert(dok, "body is not JSON: " .. tostring(decoded) .. ": " .. body)
  assert(same(decoded, params or {}), "body differs from params: " .. body)
end
