-- Run by spec/11-nvim_spec.lua inside `nvim --headless -u NONE`: client:conversations_async and
-- contacts_async on Neovim's loop: every item across pages, an early stop, a failed page.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  local fbn = require("featurebase.nvim")
  local client = assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = os.getenv("FB_URL") }))
  -- pages `method` with query, on_item returning false after `stop` items; returns ids and on_done's values
  local function pages(method, query, stop)
    local ids, done, returned, fast = {}, nil, false, false
    client[method](client, query, function(item)
      if not returned or vim.in_fast_event() then fast = true end
      ids[#ids + 1] = item.id
      if #ids == stop then return false end
    end, function(okd, e) done = { okd, e } end)
    returned = true
    vim.wait(10000, function() return done ~= nil end, 5)
    return ids, done or {}, fast
  end

  local refused_ok, refused = pcall(client.conversations, client, { limit = 10 })
  out("blocking_refused", not refused_ok and tostring(refused):find("client:conversations_async", 1, true) ~= nil)
  local ids, done, fast = pages("conversations_async", { limit = 10 })
  out("all_ids", table.concat(ids, ","))
  out("all_done", done[1])
  out("all_err", done[2])
  out("early_or_fast", fast) -- an item before the call returned, or outside vim.schedule

  ids, done = pages("conversations_async", { limit = 10 }, 10)
  out("stop_count", #ids)
  out("stop_done", done[1])

  ids, done = pages("contacts_async", { limit = 2 })
  out("fail_count", #ids)
  out("fail_ok", done[1])
  out("fail_status", done[2] and done[2].status)
  out("fail_kind", done[2] and done[2].kind)
  vim.wait(200) -- time for a page that should not be fetched to show up in the server's log
  client:close()
end)
