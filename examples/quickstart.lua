-- Quick start: open a conversation as a contact, answer it as an admin, leave an internal note,
-- and let the contact reply.
--
--   FEATUREBASE_API_KEY=sk_... lua5.4 examples/quickstart.lua
--
-- With no FEATUREBASE_BASE_URL set, it starts the bundled fake Featurebase server (nginx on
-- 127.0.0.1) and talks to that, so it runs anywhere without an account: this is `make demo`.
local featurebase = require("featurebase")

local CONTACT = "676f0f6765bdaa7d7d760f88" -- a Featurebase contact id (24-hex ObjectId)
local ADMIN = "507f1f77bcf86cd799439011"   -- a Featurebase admin id

local server
if not os.getenv("FEATUREBASE_BASE_URL") then
  server = require("featurebase.testing").start({ api_key = "sk_demo" })
  print(("(using the local fake Featurebase server at %s)\n"):format(server.url))
end

local client = assert(featurebase.new({
  api_key = server and server.api_key or nil, -- else $FEATUREBASE_API_KEY
  base_url = server and server.url or nil,    -- else $FEATUREBASE_BASE_URL
  timeout = 10,
}))

local function show(title, part)
  local who = part.author and (part.author.type .. " " .. part.author.id) or "?"
  print(("%-14s part %s  %-10s by %s\n               %s"):format(title, part.id, part.partType, who, part.bodyMarkdown))
end

-- 1. A contact writes in.
local conv, err, res = client:create_conversation({
  from = { type = "contact", id = CONTACT },
  bodyMarkdown = "Hello, I have a question about your product.",
  channel = "desktop",
})
if not conv then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print(("conversation %s  state=%s  channel=%s  (HTTP %d, request %s, %s requests left this minute)")
  :format(conv.id, conv.state, conv.source.channel, res.status, tostring(res.request_id),
    tostring(res.rate_limit.remaining)))
print(("               %s: %s\n"):format(conv.source.author.type, conv.source.bodyMarkdown))

-- 2. An admin answers; 3. leaves a note only admins see; 4. the contact replies.
show("admin reply", assert(client:reply(conv.id, {
  type = "admin", id = ADMIN, messageType = "reply",
  bodyMarkdown = "Happy to help! Which plan are you on?",
})))
show("internal note", assert(client:reply(conv.id, {
  type = "admin", id = ADMIN, messageType = "note",
  bodyMarkdown = "Enterprise lead, loop in sales.",
})))
show("contact reply", assert(client:reply(conv.id, {
  type = "contact", id = CONTACT, messageType = "reply",
  bodyMarkdown = "The Pro plan, thanks!",
})))

-- 5. Bad input never reaches the network: the error names the field.
local _, bad = client:create_conversation({ from = { type = "admin", id = ADMIN }, bodyMarkdown = "Hi",
  recipients = { to = { emails = { "not-an-email" } } } })
print("\nrefused before sending: " .. tostring(bad))

client:close()
if server then server:stop() end
