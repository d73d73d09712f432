-- Fuzz target for client options (core.new), run by harness.c: api_key, base_url, version and the
-- timeouts built from fuzz bytes, with the schemes, hosts and control characters of hostile input.
-- Contract checked: no raise; either nil + an invalid_request error naming the option, whose text
-- never holds the key, or a client whose options obey every documented rule, whose tostring never
-- holds the key, and that closes twice.
local core = require("featurebase.core")

local URLS = { "https://api.example.com", "http://127.0.0.1:8080/", "http://localhost", "http://localhost.evil.com",
  "http://[::1]:1/", "http://10.0.0.1", "file:///etc/passwd", "gopher://x", "ftp://x", "https://user:pass@host",
  "https://host/p?q", "https://host/p#f", "https://", "http:///x", "https://a b", "https://x\r\nHost: evil",
  "HTTPS://X", "https://do.featurebase.app///", "http://127.0.0.1.evil.com", "http://[::1]evil" }
local VERSIONS = { "2026-01-01.nova", "2025-12-31.nova", "2026-02-30.nova", "2026-01-01.Nova", "2026-01-01.",
  "2026-01-01.nova\n", "2028-02-29.x", "2027-02-29.x", "9999-12-31.zz" }
local NUMBERS = { 0, -1, 0 / 0, 1 / 0, -1 / 0, 1e-9, 86400, 86400.5, 1e300, 0.0001, 30, 2 ^ 53 }
local KEYS = { "api_key", "base_url", "version", "timeout", "connect_timeout", "allow_insecure_http" }

local function pick(list, b) return list[b % #list + 1] end

-- This machine, by name or address: localhost, 127.x.y.z or [::1], then a port or a path or nothing.
local function is_loopback(url)
  local host, rest = url:match("^http://(%[[^%]]*%])(.*)$")
  if not host then host, rest = url:match("^http://([^/:?#]*)(.*)$") end
  if not host or not (rest == "" or rest:find("^[:/]")) then return false end
  return host == "localhost" or host == "[::1]" or host:find("^127%.%d+%.%d+%.%d+$") ~= nil
end

return function(data)
  local pos = 0
  local function byte()
    pos = pos + 1
    return data:byte(pos) or 0
  end
  local function raw_string()
    local n = byte() % 64
    local s = data:sub(pos + 1, pos + n)
    pos = pos + n
    return s
  end
  local function value(key)
    local op = byte() % 8
    if op < 4 then
      if key == "api_key" then return "sk_live_" .. raw_string()
      elseif key == "base_url" then return byte() % 4 == 0 and pick(URLS, byte()) .. raw_string() or pick(URLS, byte())
      elseif key == "version" then return pick(VERSIONS, byte())
      elseif key == "allow_insecure_http" then return byte() % 2 == 0
      else return pick(NUMBERS, byte()) end
    elseif op == 4 then return raw_string()
    elseif op == 5 then return pick(NUMBERS, byte())
    elseif op == 6 then return byte() % 2 == 0
    end
    return {}
  end

  local opts = {}
  for _, k in ipairs(KEYS) do
    if byte() % 4 ~= 0 then opts[k] = value(k) end
  end
  if byte() % 8 == 0 then opts[raw_string()] = value("unknown") end

  local ok, client, err = pcall(core.new, opts)
  assert(ok, client)
  local key = opts.api_key
  local secret = type(key) == "string" and key:sub(1, 8) == "sk_live_" and #key > 8 and key
  if client == nil then
    assert(getmetatable(err) == core.error_mt, "error without the error metatable")
    assert(err.kind == "invalid_request", "kind " .. tostring(err.kind))
    assert(type(err.field) == "string" and err.field ~= "", "error without a field")
    assert(err.message:sub(1, #err.field) == err.field, "message does not start with the field")
    assert(not err.message:find("[%z\1-\31\127]"), "control character in message")
    if secret then
      assert(not err.message:find(secret, 1, true) and not tostring(err):find(secret, 1, true), "key in error")
    end
    return
  end
  -- accepted: every rule held
  for k in pairs(opts) do
    local known = false
    for _, name in ipairs(KEYS) do known = known or k == name end
    assert(known, "unknown option accepted: " .. tostring(k))
  end
  assert(type(key) == "string" and #key > 0 and not key:find("[%c ]"), "bad api_key accepted")
  local url = opts.base_url
  if url ~= nil then
    assert(type(url) == "string" and (url:find("^https://[^/]") or url:find("^http://[^/]")),
      "bad base_url accepted: " .. tostring(url))
    assert(not url:find("[%c @?#]"), "base_url with space, control, credentials, query or fragment: " .. url)
    assert(url:find("^https://") or is_loopback(url) or opts.allow_insecure_http == true,
      "insecure http accepted: " .. url)
  end
  for _, k in ipairs({ "timeout", "connect_timeout" }) do
    local t = opts[k]
    assert(t == nil or (type(t) == "number" and t > 0 and t <= 86400), k .. " accepted: " .. tostring(t))
  end
  local v = opts.version
  assert(v == nil or (type(v) == "string" and v:find("^%d%d%d%d%-%d%d%-%d%d%.%l+$") and v >= "2026-01-01"),
    "bad version accepted")
  local shown = tostring(client)
  if secret then assert(not shown:find(secret, 1, true), "key in tostring(client)") end
  client:close()
  client:close()
  assert(tostring(client):find("closed", 1, true))
end
