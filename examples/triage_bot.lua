-- Triage bot: pages through every conversation, reads each open one and, by a few simple rules,
-- tags it, assigns it or snoozes it, then leaves an internal note saying what it did.
--
--   FEATUREBASE_API_KEY=sk_... FEATUREBASE_ADMIN_ID=507f1f77bcf86cd799439011 \
--   FEATUREBASE_TAG_ID=67ec1234abcd5678ef901234 lua5.4 examples/triage_bot.lua
--
-- Configuration (environment):
--   FEATUREBASE_API_KEY, FEATUREBASE_BASE_URL  the client's usual ones
--   FEATUREBASE_ADMIN_ID   the admin the bot acts as (tags and notes are credited to them), and
--                          who gets the urgent conversations (24-hex ObjectId)
--   FEATUREBASE_TAG_ID     the tag billing questions get (24-hex ObjectId)
--   TRIAGE_PAGE_SIZE       conversations per list page, 1-100 (default 100)
--
-- The rules, for each open conversation (closed and snoozed ones are passed over):
--   the last message is an admin's      -> waiting on the customer: snoozed for an hour
--   the contact writes about billing    -> tagged FEATUREBASE_TAG_ID
--   the contact says it is urgent       -> assigned to FEATUREBASE_ADMIN_ID (when unassigned)
--   none of these                       -> only the note: "needs a human"
-- The note comes last and marks the conversation as triaged: a conversation that already has the
-- bot's note is left alone, so running the bot again (from cron, say) never repeats itself, and a
-- conversation whose triage failed halfway is finished on the next run.
--
-- Exit status: 0 every conversation triaged, 1 some failed or the list could not be read to the
-- end (what was done is kept: the next run carries on), 2 bad configuration.
local featurebase = require("featurebase")

local NOTE_MARK = "**Triage bot**"
local SNOOZE_SECONDS = 3600

-- What the bot recognises in the contact's messages (lowercase; any of the words).
local BILLING = { "invoice", "refund", "billing", "charged", "payment", "receipt" }
local URGENT = { "urgent", "asap", "outage", "is down", "immediately" }

local function fail(msg)
  io.stderr:write("triage_bot: ", msg, "\n")
  os.exit(2)
end

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local ADMIN = env("FEATUREBASE_ADMIN_ID") or fail("set FEATUREBASE_ADMIN_ID to the admin the bot acts as")
local TAG = env("FEATUREBASE_TAG_ID") or fail("set FEATUREBASE_TAG_ID to the tag billing questions get")
local PAGE = tonumber(env("TRIAGE_PAGE_SIZE", "100")) or fail("TRIAGE_PAGE_SIZE must be a number")

local client, err = featurebase.new({ timeout = 15 }) -- FEATUREBASE_API_KEY, FEATUREBASE_BASE_URL
if not client then fail(tostring(err)) end

local function mentions(text, words)
  for _, w in ipairs(words) do
    if text:find(w, 1, true) then return w end
  end
  return nil
end

local function has_tag(conv, tag_id)
  for _, t in ipairs(conv.tags or {}) do
    if t.id == tag_id then return true end
  end
  return false
end

-- What to do with one conversation (fetched with its parts): a list of actions, or nil when the
-- bot has triaged it already.
local function plan(conv)
  local contact_text, last = {}, nil
  for _, part in ipairs(featurebase.parts(conv)) do
    if featurebase.is_note(part) and type(part.bodyMarkdown) == "string"
      and part.bodyMarkdown:sub(1, #NOTE_MARK) == NOTE_MARK then
      return nil
    end
    if featurebase.is_message(part) and not featurebase.is_note(part) then
      last = part
      if featurebase.is_from_contact(part) and type(part.bodyMarkdown) == "string" then
        contact_text[#contact_text + 1] = part.bodyMarkdown
      end
    end
  end
  local author = featurebase.author(last or {})
  if author and author.type == "admin" then
    return { { kind = "snooze" } }
  end
  local text = table.concat(contact_text, "\n"):lower()
  local actions = {}
  local word = mentions(text, BILLING)
  if word and not has_tag(conv, TAG) then actions[#actions + 1] = { kind = "tag", why = word } end
  word = mentions(text, URGENT)
  if word and conv.adminAssigneeId == nil then actions[#actions + 1] = { kind = "assign", why = word } end
  return actions
end

-- Carries out one action; returns a phrase for the note, or nil, err.
local function act(id, a)
  if a.kind == "tag" then
    local tag, e = client:add_tag(id, { tagId = TAG, actingAdminId = ADMIN })
    if not tag then return nil, e end
    return ("tagged %s (the contact wrote \"%s\")"):format(tag.name or TAG, a.why)
  elseif a.kind == "assign" then
    local _, e = client:update_conversation(id, { adminAssigneeId = ADMIN, actingAdminId = ADMIN })
    if e then return nil, e end
    return ("assigned to the on-call admin (the contact wrote \"%s\")"):format(a.why)
  else
    local until_time = os.time() + SNOOZE_SECONDS
    local _, e = client:update_conversation(id, { state = "snoozed", snoozedUntil = until_time,
      actingAdminId = ADMIN })
    if e then return nil, e end
    return "waiting on the customer: snoozed until " .. featurebase.iso8601(until_time)
  end
end

-- Triage one conversation from the list. Returns "triaged" | "done before" | nil, err.
local function triage(item)
  local conv, e = client:get_conversation(item.id)
  if not conv then return nil, e end
  local actions = plan(conv)
  if not actions then return "done before" end
  local said, short = {}, {}
  for _, a in ipairs(actions) do
    local phrase, ae = act(conv.id, a)
    if not phrase then return nil, ae end
    said[#said + 1] = "- " .. phrase
    short[#short + 1] = a.kind
  end
  if #said == 0 then said[1] = "- no rule matched: **needs a human**" end
  local _, ne = client:add_note(conv.id, ADMIN, NOTE_MARK .. "\n\n" .. table.concat(said, "\n"))
  if ne then return nil, ne end
  print(("triaged   %-16s %s"):format(conv.id, #short > 0 and table.concat(short, ", ") or "needs a human"))
  return "triaged"
end

local counts = { seen = 0, triaged = 0, ["done before"] = 0, passed = 0, failed = 0 }
local stop, status -- a message and an exit status when the run cannot go on

-- The iterator fetches the next page only when needed, and raises a featurebase.Error when a page
-- cannot be fetched: the loop then stops there, never as if the list were complete.
local ok, list_err = pcall(function()
  for item in client:conversations({ limit = PAGE }) do
    counts.seen = counts.seen + 1
    if item.state ~= "open" then
      counts.passed = counts.passed + 1
    else
      local outcome, e = triage(item)
      if outcome then
        counts[outcome] = counts[outcome] + 1
      else
        counts.failed = counts.failed + 1
        io.stderr:write(("triage_bot: conversation %s: %s\n"):format(item.id, tostring(e)))
        if e.kind == "invalid_request" then
          -- refused before sending: the configuration is wrong, every conversation would fail alike
          stop, status = "stopped: check FEATUREBASE_ADMIN_ID and FEATUREBASE_TAG_ID", 2
          return
        end
      end
    end
  end
end)
if not ok then
  if not featurebase.is_error(list_err) then error(list_err, 0) end -- a bug in this script: show it whole
  stop, status = ("listing conversations failed after %d: %s"):format(counts.seen, tostring(list_err)), 1
end
client:close()

print(("%d conversation(s) seen: %d triaged, %d triaged before, %d closed or snoozed, %d failed")
  :format(counts.seen, counts.triaged, counts["done before"], counts.passed, counts.failed))
if stop then io.stderr:write("triage_bot: ", stop, "\n") end
os.exit(status or (counts.failed > 0 and 1 or 0))
