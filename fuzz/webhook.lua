-- Fuzz target for webhook verification, run by harness.c: core.webhook_verify on secrets, header
-- tables (names in any case, lists, numbers, duplicates), signatures, timestamps and bodies built
-- from the bytes, half of them signed correctly by core.webhook_sign.
-- Input: flags, secret length, timestamp length, signature length, tolerance byte, then the secret,
-- timestamp and signature bytes; the rest is the body.
-- Contract checked: verify never raises for a valid secret; an error has the error metatable, one of
-- the documented kinds, a one-line __tostring and never the secret; an event is returned only when
-- the signature is the HMAC of timestamp "." body, the timestamp is 1-18 digits within the
-- tolerance and the body decodes (independently, with cjson) to an object; a correctly signed fresh
-- delivery is refused only as invalid_json, and flipping one hex digit of it gives signature_mismatch.
local core = require("featurebase.core")
local cjson = require("cjson.safe").new()

local NOW = 1735725600
local KINDS = { missing_header = true, malformed_signature = true, malformed_timestamp = true,
  signature_mismatch = true, timestamp_too_old = true, timestamp_in_future = true, invalid_json = true }
local SPELLINGS = { "X-Webhook-Signature", "x-webhook-signature", "X-WEBHOOK-SIGNATURE", "signature" }
local TS_SPELLINGS = { "X-Webhook-Timestamp", "x-webhook-timestamp", "X-WEBHOOK-TIMESTAMP", "timestamp" }

local function check_error(err, secret)
  assert(getmetatable(err) == core.error_mt, "error without the error metatable")
  assert(KINDS[err.kind], "undocumented kind " .. tostring(err.kind))
  local line = tostring(err)
  assert(line:find("^featurebase: ") and not line:find("\n"), "tostring is not one line")
  for k, v in pairs(err) do
    assert(not tostring(v):find(secret, 1, true) and not tostring(k):find(secret, 1, true), "the secret leaked")
  end
  assert(not line:find(secret, 1, true), "the secret leaked into tostring")
end

-- cjson decodes [] and {} alike: an object is a table whose text starts with "{"
local function is_object(body)
  return body:find("^[ \t\r\n]*{") ~= nil and type(cjson.decode(body)) == "table"
end

return function(data)
  local flags, slen, tlen, glen, tol = data:byte(1, 5)
  flags, slen, tlen, glen, tol = flags or 0, (slen or 0) % 48, (tlen or 0) % 24, (glen or 0) % 80, tol or 0
  local pos = 6
  -- "whsec_" plus at least 6 bytes: long enough that finding it in a message is a leak, not chance
  local secret = "whsec_" .. ("k"):rep(6) .. data:sub(pos, pos + slen - 1)
  pos = pos + slen
  local ts = data:sub(pos, pos + tlen - 1)
  pos = pos + tlen
  local sig = data:sub(pos, pos + glen - 1)
  pos = pos + glen
  local body = data:sub(pos)
  local signed = flags % 2 == 1
  if signed then
    if flags % 4 >= 2 then ts = tostring(NOW + (tol % 2 == 0 and 1 or -1) * (tol * 3)) end -- around the window
    sig = core.webhook_sign(secret, ts, body)
    if flags % 8 >= 4 then sig = sig:upper() end
  end
  local tolerance = tol * 2 -- 0 to 510 s

  local headers = {}
  local sname, tname = SPELLINGS[flags // 8 % 4 + 1], TS_SPELLINGS[flags // 32 % 4 + 1]
  local as_list = flags >= 128
  headers[sname] = as_list and { sig, sig } or sig
  if not (tlen == 0 and not signed and glen % 7 == 0) then headers[tname] = as_list and { ts } or ts end
  if glen % 5 == 1 then headers["X-Other"] = sig end
  if glen % 11 == 3 then headers[SPELLINGS[1]] = sig .. "0" end -- a conflicting copy

  local ok, event, err = pcall(core.webhook_verify, secret, headers, body, { now = NOW, tolerance = tolerance })
  assert(ok, event)
  if not event then
    check_error(err, secret)
  else
    assert(err == nil)
    assert(type(event) == "table")
    assert(ts:find("^%d+$") and #ts <= 18, "accepted a malformed timestamp")
    assert(math.abs(NOW - tonumber(ts)) <= tolerance, "accepted a timestamp outside the tolerance")
    assert(sig:lower() == core.webhook_sign(secret, ts, body), "accepted a wrong signature")
    assert(is_object(body), "accepted a body that is not a JSON object")
  end

  -- a correctly signed delivery within the window passes unless the body is not an object
  if signed and ts:find("^%d+$") and math.abs(NOW - tonumber(ts)) <= tolerance and glen % 11 ~= 3 then
    if is_object(body) then
      assert(event, "refused a good delivery: " .. tostring(err))
    else
      assert(not event and err.kind == "invalid_json", "a bad body gave " .. tostring(err and err.kind))
    end
    -- one hex digit changed: a mismatch, whatever the body
    local i = #body % 64 + 1
    local c = sig:sub(i, i)
    local flipped = sig:sub(1, i - 1) .. (c == "0" and "1" or "0") .. sig:sub(i + 1)
    local e2, err2 = core.webhook_verify(secret, { signature = flipped, timestamp = ts }, body,
      { now = NOW, tolerance = tolerance })
    assert(e2 == nil and err2.kind == "signature_mismatch", "a flipped digit gave " .. tostring(err2 and err2.kind))
  end
end
