-- :[range]FeaturebaseReply {conversation_id}  sends the buffer (or the range) as an admin reply
-- :[range]FeaturebaseNote {conversation_id}   same, as an internal note (the customer does not see it)
-- :FeaturebaseInbox[!]                        lists the conversations (! with the closed ones) into a
--                                             scratch buffer; <CR> on a line opens that conversation
if vim.g.loaded_featurebase_example then return end
vim.g.loaded_featurebase_example = true

for command, message_type in pairs({ FeaturebaseReply = "reply", FeaturebaseNote = "note" }) do
  vim.api.nvim_create_user_command(command, function(o)
    require("featurebase_send").send(message_type, o.args, o.line1, o.line2)
  end, { nargs = 1, range = "%", desc = "Send the buffer or the selection to Featurebase as a " .. message_type })
end

vim.api.nvim_create_user_command("FeaturebaseInbox", function(o)
  require("featurebase_inbox").open({ all = o.bang })
end, { nargs = 0, bang = true, desc = "List Featurebase conversations (! includes the closed ones)" })

vim.api.nvim_create_autocmd("VimLeavePre", { callback = function()
  if package.loaded.featurebase_inbox then package.loaded.featurebase_inbox.close() end
end })
