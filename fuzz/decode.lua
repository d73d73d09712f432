-- Fuzz target for response handling, run by harness.c: the header parser of fb_http.c on raw header
-- bytes, then core.decode on {status, headers, body} and the error's __tostring.
-- Input: 2 bytes of status, 1 byte of header length, the header bytes, the rest is the body.
-- Contract checked: header names lowercased and trimmed values; decode never raises for an HTTP
-- status, returns a table for 2xx JSON objects (with JSON nulls gone and arrays kept sequences),
-- else a decode/http error with the status, a bounded raw body and a one-line __tostring.
-- luacheck: read globals fuzz_headers
local core = require("featurebase.core")
local cjson_null = require("cjson").null

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
