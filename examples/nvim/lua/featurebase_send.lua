--- An example Neovim plugin over featurebase.nvim: send text to a Featurebase conversation
-- without freezing the editor. Configuration, from the environment or vim.g:
--   FEATUREBASE_API_KEY                       the API key (never stored in vim.g)
--   FEATUREBASE_BASE_URL                      optional, e.g. a test server
--   vim.g.featurebase_admin_id or FEATUREBASE_ADMIN_ID   the admin who writes (24-hex ObjectId)
-- When a send finishes, vim.g.featurebase_last holds {kind=, conversation_id=, part_id= | error=}
-- and the `User FeaturebaseSent` autocommand fires (for statuslines, or scripts that wait).
local M = {}

local client -- one per editor session: its connections stay alive between sends

local function get_client()
  if client then return client end
  local err
  client, err = require("featurebase.nvim").new()
  if not client then error("featurebase: " .. tostring(err), 0) end
  return client
end

local function finish(result)
  vim.g.featurebase_last = result
  if result.error then
    vim.notify("Featurebase: " .. result.error, vim.log.levels.ERROR)
  else
    vim.notify(("Featurebase: %s sent to conversation %s"):format(result.kind, result.conversation_id))
  end
  vim.cmd("doautocmd <nomodeline> User FeaturebaseSent")
end

--- Sends lines line1..line2 of the current buffer as a reply or a note.
---@param message_type "reply"|"note"
---@param conversation_id string
---@param line1 integer
---@param line2 integer
function M.send(message_type, conversation_id, line1, line2)
  local text = table.concat(vim.api.nvim_buf_get_lines(0, line1 - 1, line2, false), "\n")
  local params = {
    type = "admin",
    id = vim.g.featurebase_admin_id or os.getenv("FEATUREBASE_ADMIN_ID"),
    bodyMarkdown = text,
    messageType = message_type,
  }
  -- Returns at once; the callback runs later, through vim.schedule, so it may use any vim API.
  -- Invalid input (an empty buffer, a bad id) arrives there too, as an invalid_request error.
  get_client():reply_async(conversation_id, params, function(part, err)
    finish({ kind = message_type, conversation_id = conversation_id, part_id = part and part.id,
      error = err and tostring(err) or nil })
  end)
end

return M
