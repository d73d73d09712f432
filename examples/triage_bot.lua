-- Triage bot: answers the questions it knows as an admin, and leaves an internal note asking a
-- human to take the rest.
--
--   FEATUREBASE_API_KEY=sk_... FEATUREBASE_ADMIN_ID=507f1f77bcf86cd799439011 \
--     lua5.4 examples/triage_bot.lua messages.jsonl [--state messages.jsonl.state]
--
-- messages.jsonl holds new messages, one JSON object per line, as something upstream (a webhook
-- receiver, an export) appends them: {"conversationId": "12", "part": <a conversation_part>}.
-- Only messages from contacts are triaged; admin messages, notes and events are passed over.
-- The state file remembers how far the feed was read, so each run handles only new lines.
-- It is written after each answer: a bot killed between the two answers that message once more.
local featurebase = require("featurebase")
local cjson = require("cjson.safe")

-- What the bot knows: any of the words (lowercase) -> the answer.
local FAQ = {
  { words = { "price", "pricing", "cost", "how much" },
    answer = "Our plans and prices are on https://example.com/pricing. Every plan has a 14-day free trial." },
  { words = { "password", "log in", "login", "sign in" },
    answer = "You can reset your password from the sign-in page: click **Forgot password?** and follow the email." },
  { words = { "refund", "money back" },
    answer = "We refund any payment within 30 days, no questions asked. Reply here with the invoice number." },
}

local function answer_for(text)
  local lower = text:lower()
  for _, entry in ipairs(FAQ) do
    for _, w in ipairs(entry.words) do
      if lower:find(w, 1, true) then return entry.answer, w end
    end
  end
  return nil
end

-- At most n bytes, never ending inside a UTF-8 character (the API refuses broken UTF-8).
local function cut(s, n)
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return s:sub(1, n) .. "..."
end

local function fail(msg)
  io.stderr:write("triage_bot: ", msg, "\n")
  os.exit(2)
end

local feed_path, state_path = arg[1], nil
if arg[2] == "--state" then state_path = arg[3] end
if not feed_path or (arg[2] and not state_path) then
  fail("usage: triage_bot.lua FEED.jsonl [--state FILE]")
end
state_path = state_path or (feed_path .. ".state")
local admin = os.getenv("FEATUREBASE_ADMIN_ID") or fail("set FEATUREBASE_ADMIN_ID to the admin who answers")

local client, err = featurebase.new({ timeout = 15 }) -- FEATUREBASE_API_KEY, FEATUREBASE_BASE_URL
if not client then fail(tostring(err)) end

local function read_offset()
  local f = io.open(state_path, "rb")
  if not f then return 0 end
  local n = tonumber(f:read("*a"):match("%d+")) or 0
  f:close()
  return n
end

local function save_offset(n)
  local tmp = state_path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(tostring(n), "\n")
  f:close()
  assert(os.rename(tmp, state_path)) -- atomic: the state is the old offset or the new one
end

local feed = io.open(feed_path, "rb") or fail("cannot read " .. feed_path)
local offset = read_offset()
feed:seek("set", offset)
local new = feed:read("*a") or ""
feed:close()

local handled, failed = 0, false
-- whole lines only: a last line without its newline is still being written, the next run gets it
for line in new:gmatch("([^\n]*)\n") do
  local next_offset = offset + #line + 1
  local msg = cjson.decode(line)
  local part = type(msg) == "table" and msg.part
  local conv = type(msg) == "table" and msg.conversationId
  if (type(part) ~= "table" or type(conv) ~= "string") and not line:find("^%s*$") then
    io.stderr:write(("triage_bot: skipping a malformed line at byte %d\n"):format(offset))
  elseif part and featurebase.is_message(part) and not featurebase.is_note(part)
    and featurebase.is_from_contact(part) then
    local text = type(part.bodyMarkdown) == "string" and part.bodyMarkdown or ""
    local answer, matched = answer_for(text)
    local ok, e
    if answer then
      ok, e = client:reply_as_admin(conv, admin, answer)
      if ok then print(("answered  %s (%s)"):format(conv, matched)) end
    else
      local quote = cut(text:gsub("%s+", " "), 200)
      ok, e = client:add_note(conv, admin, "**Needs a human**: the triage bot has no answer for\n\n> " .. quote)
      if ok then print(("noted     %s for a human"):format(conv)) end
    end
    if not ok then
      -- stop here: the offset stays before this message, so the next run tries it again
      io.stderr:write(("triage_bot: conversation %s: %s\n"):format(conv, tostring(e)))
      failed = true
      break
    end
    handled = handled + 1
  end
  offset = next_offset
  save_offset(offset)
end
client:close()
print(("%d message(s) handled"):format(handled))
os.exit(failed and 1 or 0)
