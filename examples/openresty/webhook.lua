--- POST /featurebase/webhook: Featurebase's webhook deliveries (see webhook.nginx.conf).
-- Every delivery is verified (signature, timestamp) and answered at once; the work below runs
-- afterwards in an ngx.timer, so calling the API never delays the answer past Featurebase's 5 s.
--   conversation.user.replied -> an internal note on the conversation
--   conversation.user.created -> the conversation is assigned to ADMIN_ID
-- Configuration, from the environment (`env` lines in webhook.nginx.conf):
--   FEATUREBASE_WEBHOOK_SECRET  the webhook's whsec_... secret
--   FEATUREBASE_API_KEY, FEATUREBASE_BASE_URL  for the API client
--   FEATUREBASE_ADMIN_ID        the admin who writes the notes and gets the new conversations
local webhooks = require("featurebase.webhooks")
local fb = require("featurebase.openresty")

local M = {}

local ADMIN_ID = os.getenv("FEATUREBASE_ADMIN_ID")
local handler, client -- one of each per worker

local function api()
  if not client then client = assert(fb.new({ timeout = 10 })) end -- key and URL from the environment
  return client
end

-- Runs after the answer was sent (in an ngx.timer): cosockets work, errors only reach the log.
function M.on_event(event)
  local ev = webhooks.read(event)
  if not ev.conversation_id then return end
  local _, err
  if ev.topic == "conversation.user.replied" then
    local text = ev.item and type(ev.item.bodyMarkdown) == "string" and ev.item.bodyMarkdown or ""
    _, err = api():reply(ev.conversation_id, {
      type = "admin", id = ADMIN_ID, messageType = "note",
      bodyMarkdown = ("The contact replied (%d characters). Event %s."):format(#text, ev.id or "?"),
    })
  elseif ev.topic == "conversation.user.created" then
    _, err = api():update_conversation(ev.conversation_id, { adminAssigneeId = ADMIN_ID })
  end
  if err then ngx.log(ngx.ERR, "webhook ", ev.topic, " on ", ev.conversation_id, ": ", tostring(err)) end
end

function M.handle()
  if not handler then
    local secret = os.getenv("FEATUREBASE_WEBHOOK_SECRET")
    if not secret or secret == "" or not ADMIN_ID then
      ngx.log(ngx.ERR, "webhook: set FEATUREBASE_WEBHOOK_SECRET and FEATUREBASE_ADMIN_ID")
      return ngx.exit(500)
    end
    -- event ids shared by all workers for a day: a redelivered event is acknowledged, not redone
    handler = webhooks.openresty(secret, { on_event = M.on_event, dedupe = "featurebase_webhooks" })
  end
  return handler()
end

return M
