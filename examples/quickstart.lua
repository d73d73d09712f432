-- Quick start, the whole round: a visitor becomes a contact, opens a conversation, an admin
-- answers and leaves an internal note, then lists the inbox, fetches the conversation and closes it.
--
--   FEATUREBASE_API_KEY=sk_... FEATUREBASE_ADMIN_ID=507f1f77bcf86cd799439011 lua5.4 examples/quickstart.lua
--
-- With no FEATUREBASE_BASE_URL set, it starts the bundled fake Featurebase server (nginx on
-- 127.0.0.1) and talks to that, so it runs anywhere without an account: this is `make demo`.
local featurebase = require("featurebase")

local ADMIN = os.getenv("FEATUREBASE_ADMIN_ID") or "507f1f77bcf86cd799439011" -- an admin's ObjectId

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

-- Every call returns value, nil, response on success and exactly nil, err on failure.
local function must(value, err)
  if value == nil then
    io.stderr:write(tostring(err), "\n")
    if server then server:stop() end
    os.exit(1)
  end
  return value
end

local function step(name, fmt, ...)
  print(("%-9s " .. fmt):format(name, ...))
end

-- 1. The visitor's contact, found or created by email.
local contact = must(client:upsert_contact({ email = "jane@example.com", name = "Jane Doe" }))
step("contact", "%s  %s <%s>", contact.id, contact.name, contact.email)

-- 2. The contact opens a conversation.
local conv, err, res = client:create_conversation({
  from = { type = "contact", id = contact.id },
  bodyMarkdown = "Hello, I have a question about your product.",
})
must(conv, err)
step("opened", "conversation %s  state=%s  (HTTP %d, request %s, %s requests left this minute)",
  conv.id, conv.state, res.status, tostring(res.request_id), tostring(res.rate_limit.remaining))

-- 3. An admin answers; 4. leaves a note only admins see.
local part = must(client:reply(conv.id, { type = "admin", id = ADMIN, messageType = "reply",
  bodyMarkdown = "Happy to help! Which plan are you on?" }))
step("reply", "part %s  %s", part.id, part.partType)
part = must(client:add_note(conv.id, ADMIN, "Enterprise lead, loop in sales."))
step("note", "part %s  %s", part.id, part.partType)

-- 5. The inbox, first page (client:conversations{...} iterates over every page).
local page = must(client:list_conversations({ limit = 10 }))
local ids = {}
for _, c in ipairs(page.data) do ids[#ids + 1] = c.id .. "(" .. c.state .. ")" end
step("list", "%d conversation(s): %s%s", #page.data, table.concat(ids, " "), page.nextCursor and " ..." or "")

-- 6. The whole conversation, with its parts.
local full = must(client:get_conversation(conv.id))
local kinds = {}
for _, p in ipairs(featurebase.parts(full)) do kinds[#kinds + 1] = p.partType end
step("fetch", "conversation %s  %d part(s): %s", full.id, #kinds, table.concat(kinds, ", "))

-- 7. Done: close it.
local closed = must(client:update_conversation(conv.id, { state = "closed", actingAdminId = ADMIN }))
step("close", "conversation %s  state=%s", closed.id, closed.state)

-- Bad input never reaches the network: the error names the field.
local _, bad = client:upsert_contact({ email = "not-an-email", name = "Nobody" })
step("refused", "before sending: %s", tostring(bad))

client:close()
if server then server:stop() end
