-- Run by spec/11-nvim_spec.lua inside `nvim --headless -u NONE`: the API's async forms on Neovim's
-- loop, a blocking call refused, and a refused connection that writes nothing on the screen.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  local fbn = require("featurebase.nvim")
  local client = assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = os.getenv("FB_URL") }))
  local got = {}
  client:upsert_contact_async({ email = "nvim@example.com" }, function(contact, cerr)
    got.contact = contact and contact.email or tostring(cerr)
    client:create_conversation_async({ from = { type = "contact", id = contact.id }, bodyMarkdown = "hi" },
      function(conv)
        client:update_conversation_async(conv.id, { state = "closed" }, function(updated)
          got.state = updated and updated.state
          client:list_conversations_async({ limit = 10 }, function(page, lerr, res)
            got.listed = page and #page.data or tostring(lerr)
            got.status = res and res.status
          end)
        end)
      end)
  end)
  local blocked_ok, blocked = pcall(client.get_conversation, client, "1")
  out("blocking_refused", not blocked_ok and tostring(blocked):find("get_conversation_async", 1, true) ~= nil)
  out("arrived", vim.wait(10000, function() return got.listed ~= nil end, 5))
  out("contact", got.contact)
  out("state", got.state)
  out("listed", got.listed)
  out("status", got.status)
  -- nothing listens on port 9: the error comes back as a value, nothing is written on the screen
  local dead = assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = "http://127.0.0.1:9",
    max_retries = 1 }))
  local derr
  dead:get_contact_async("676f0f6765bdaa7d7d760f88", function(_, e) derr = e end)
  vim.wait(10000, function() return derr ~= nil end, 5)
  out("dead_kind", derr and derr.kind)
  out("dead_sent", derr and derr.request_sent)
  out("messages", (vim.api.nvim_exec("messages", true):gsub("\n", " ")))
  dead:close()
  client:close()
end)
