-- Fuzz target for response handling, run by harness.c: the header parser of fb_http.c on raw header
-- bytes, then core.decode on {status, headers, body} and the error's __tostring.
-- Input: 2 bytes of status, 1 byte of header length, the header bytes, the rest is the body.
-- Contract checked: header names lowercased and trimmed values; decode never raises for an HTTP
-- status, returns a table for 2xx JSON objects (with JSON nulls gone and arrays kept sequences),
-- else a decode/http error with the status, a bounded raw body and a one-line __tostring.
-- Differential, for the body as given and for a JSON text built from the same bytes (nulls in
-- arrays and objects, duplicate and escaped keys, "null" inside strings, escaped quotes and
-- backslashes, empty containers, whitespace, deep nesting, then maybe one byte changed): the value
-- or error equals cjson.decode + a plain Lua walk that removes nulls (the reference below).
-- luacheck: read globals fuzz_headers
local core = require("featurebase.core")
local cjson_null = require("cjson").null
local cjson = require("cjson").new() -- cjson's defaults, as the core's own instance

-- The reference: cjson.decode, then nulls removed from the tree (arrays close up), written plainly.
local function strip(v, depth)
  if type(v) ~= "table" or depth > 1000 then return v end
  local n, out = #v, {}
  if n > 0 then
    local j = 0
    for i = 1, n do
      if v[i] ~= cjson_null then j = j + 1; out[j] = strip(v[i], depth + 1) end
    end
  else
    for k, x in next, v do
      if x ~= cjson_null then out[k] = strip(x, depth + 1) end
    end
  end
  return out
end

local function same(a, b, depth)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b or (a ~= a and b ~= b) end
  if depth > 1100 then return true end
  for k, x in next, a do
    if not same(x, b[k], depth + 1) then return false end
  end
  for k in next, b do
    if a[k] == nil then return false end
  end
  return true
end

local function differential(body)
  local ok, want = pcall(cjson.decode, body)
  local value, err = core.decode({ status = 200, headers = {}, body = body })
  if ok and type(want) == "table" then
    assert(same(value, strip(want, 0), 0), "decoded value differs from cjson.decode + strip")
  elseif ok then
    assert(value == nil and err.message == "the server answered 200 but the body is not a JSON object",
      "a JSON scalar decoded")
  else
    assert(value == nil and err.message == "the server answered 200 but the body is not a JSON object: " .. want,
      "error differs from cjson's: " .. tostring(err and err.message) .. " / " .. tostring(want))
  end
  local _, e500 = core.decode({ status = 500, headers = {}, body = body })
  if ok and type(want) == "table" then assert(same(e500.body, strip(want, 0), 0), "error body differs") end
end

-- A JSON text from the bytes: each byte picks the next piece.
local KEYS = { '"a"', '"b"', '"a"', '"\\u0061"', '"\\""', '"null"', '""', '"a\\\\"', '"k\\/"' }
local SCALARS = { "null", "null", "1", "-2.5e3", "true", "false", '"null"', '"x\\"null"', '"\\\\"', '"[null,{"',
  '"\\u006eull"', "nul", "nulll", "NaN", "0x10", "null1" }
local WS = { "", "", "", " ", "\n", "\t ", "\r\n" }
local function build(data)
  local pos, out, depth = 0, {}, 0
  local function byte()
    pos = pos + 1
    return data:byte(pos) or 0
  end
  local value
  local function container(open, close, member)
    depth = depth + 1
    out[#out + 1] = open
    local count = byte() % 5
    for i = 1, count do
      if i > 1 then out[#out + 1] = WS[byte() % #WS + 1] .. "," end
      out[#out + 1] = WS[byte() % #WS + 1]
      if member then out[#out + 1] = KEYS[byte() % #KEYS + 1] .. WS[byte() % #WS + 1] .. ":" end
      value()
    end
    out[#out + 1] = WS[byte() % #WS + 1] .. close
    depth = depth - 1
  end
  value = function()
    local b = pos < #data and byte() or 0
    if b % 4 == 0 and depth < 12 then container("[", "]", false)
    elseif b % 4 == 1 and depth < 12 then container("{", "}", true)
    else out[#out + 1] = SCALARS[(b // 4) % #SCALARS + 1] end
  end
  value()
  local text = table.concat(out)
  local b = byte()
  if b % 3 == 0 and #text > 0 then -- one byte changed: invalid texts must give cjson's own error
    local at = byte() % #text + 1
    local ch = (",:[]{}\\" .. '"' .. " n0"):sub(b % 11 + 1, b % 11 + 1)
    text = text:sub(1, at - 1) .. ch .. text:sub(at + (b % 2))
  end
  if b % 7 == 1 then text = ("["):rep(995 + b % 10) .. text .. ("]"):rep(995 + b % 10) end
  return text
end

local ODD_STATUS = { 0 / 0, 1 / 0, -1 / 0, -1, 0, 1e300, 200.5, 99, 1000, 2 ^ 63 }

-- No JSON null left, and integer keys always 1..n (arrays closed up after nulls were removed).
local function check_value(v, depth)
  assert(v ~= cjson_null, "a JSON null survived decoding")
  if type(v) ~= "table" then return end
  assert(depth < 1100, "deeper than cjson allows")
  local ints, max = 0, 0
  for k, x in next, v do
    if type(k) == "number" then
      ints = ints + 1
      if k > max then max = k end
    end
    check_value(x, depth + 1)
  end
  assert(ints == max, "array with holes after null stripping")
end

return function(data)
  local b1, b2, hlen = data:byte(1, 3)
  b1, b2, hlen = b1 or 0, b2 or 0, hlen or 0
  local status
  if b1 >= 250 then status = ODD_STATUS[b2 % #ODD_STATUS + 1]
  else status = 100 + (b1 * 256 + b2) % 500 end
  local head = data:sub(4, 3 + hlen * 4)
  local body = data:sub(4 + hlen * 4)

  differential(body)
  differential(build(data))

  local headers = fuzz_headers(head)
  for k, v in pairs(headers) do
    assert(type(k) == "string" and k ~= "" and not k:find("[%u:\n]"), "bad header name")
    -- trimmed (a repeated header with an empty value legitimately leaves a trailing ", ")
    assert(type(v) == "string" and not v:find("\n") and not v:find("^[ \t]") and not v:gsub(", $", ""):find("[^,]%s$"),
      "untrimmed header value")
  end

  local ok, value, err = pcall(core.decode, { status = status, headers = headers, body = body })
  if not ok then
    -- only a status that no HTTP server can send may be refused, and then as misuse
    assert(math.type(status) ~= "integer" or status < 100 or status > 999, value)
    assert(tostring(value):find("status", 1, true), value)
    return
  end
  if value ~= nil then
    assert(status >= 200 and status < 300, "success for status " .. tostring(status))
    assert(type(value) == "table")
    check_value(value, 0)
    return
  end
  assert(getmetatable(err) == core.error_mt, "error without the error metatable")
  assert(err.kind == ((status >= 200 and status < 300) and "decode" or "http"), "kind " .. tostring(err.kind))
  assert(err.status == status)
  assert(err.headers == headers)
  assert(type(err.message) == "string")
  if type(err.body) == "string" then assert(#err.body <= 4096, "raw body not bounded") end
  if type(err.body) == "table" then check_value(err.body, 0) end
  local line = tostring(err)
  assert(type(line) == "string" and line:find("^featurebase: "), "tostring")
end
