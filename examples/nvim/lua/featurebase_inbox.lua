--- An example Neovim inbox over featurebase.nvim: `:FeaturebaseInbox` lists conversations into a
-- scratch buffer without freezing the editor; <CR> on a line opens that conversation.
-- Configuration, from the environment or vim.g:
--   FEATUREBASE_API_KEY                 the API key (never stored in vim.g)
--   FEATUREBASE_BASE_URL                optional, e.g. a test server
--   vim.g.featurebase_inbox_max         at most this many conversations (default 200)
--   vim.g.featurebase_inbox_page        conversations per request, 1-100 (default 50)
-- Pages are fetched one after the other with list_conversations_async, each callback adding its
-- rows: the editor stays responsive throughout. Errors go to vim.notify, never raw to the screen.
-- When a load ends, b:featurebase_inbox holds {count =, hidden =, error = } and the
-- `User FeaturebaseInbox` autocommand fires (`User FeaturebaseConversation` for a conversation).
local M = {}

local INBOX = "featurebase://inbox"
local client     -- one per editor session: its connections stay alive between loads
local generation -- the current load of the inbox: an older one still in flight is ignored

local function notify_error(what, err)
  vim.notify(("Featurebase %s: %s"):format(what, tostring(err)), vim.log.levels.ERROR)
end

-- The client, or nil and why (featurebase not installed, no API key, ...).
local function get_client()
  if client then return client end
  local ok, fbn = pcall(require, "featurebase.nvim")
  if not ok then return nil, "cannot load featurebase: " .. tostring(fbn):match("^[^\n]*") end
  local c, err = fbn.new()
  if not c then return nil, err end
  client = c
  return client
end

--- Closes the client (the plugin does it on VimLeavePre; the next command makes a new one).
function M.close()
  if client then client:close() end
  client = nil
end

-- A scratch buffer by name, shown in the current window.
local function scratch(name, filetype)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(true, true) -- listed, scratch: nofile, no swap file
    vim.api.nvim_buf_set_name(buf, name)
    vim.api.nvim_buf_set_option(buf, "filetype", filetype)
  end
  vim.api.nvim_win_set_buf(0, buf)
  return buf
end

local function set_lines(buf, lines)
  if not vim.api.nvim_buf_is_valid(buf) then return false end -- wiped while loading
  vim.api.nvim_buf_set_option(buf, "modifiable", true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(buf, "modifiable", false)
  return true
end

local function finish(buf, event, result)
  if vim.api.nvim_buf_is_valid(buf) then vim.api.nvim_buf_set_var(buf, "featurebase_inbox", result) end
  vim.cmd("doautocmd <nomodeline> User " .. event)
end

local function one_line(s, n)
  s = type(s) == "string" and s:gsub("%s+", " ") or ""
  return #s > n and (s:sub(1, n - 3) .. "...") or s
end

local function row(conv)
  local when = type(conv.updatedAt) == "string" and conv.updatedAt:sub(1, 16):gsub("T", " ") or ""
  local title = conv.title or (conv.source and conv.source.bodyMarkdown) or ""
  return ("%-16s %-7s %-16s %s %s"):format(conv.id, conv.state, when, conv.adminAssigneeId and "@" or " ",
    one_line(title, 80))
end

--- Lists conversations into the featurebase://inbox buffer. Closed ones are left out unless
-- opts.all (`:FeaturebaseInbox!`). Returns at once; the rows arrive page by page.
---@param opts? {all?: boolean}
function M.open(opts)
  local all = opts and opts.all
  local c, err = get_client()
  if not c then return notify_error("inbox", err) end
  local buf = scratch(INBOX, "featurebaseinbox")
  vim.api.nvim_buf_set_keymap(buf, "n", "<CR>", "<Cmd>lua require('featurebase_inbox').open_at_cursor()<CR>",
    { noremap = true, silent = true, desc = "Open this Featurebase conversation" })
  generation = (generation or 0) + 1
  local mine = generation
  local max = tonumber(vim.g.featurebase_inbox_max) or 200
  local rows, seen, hidden = {}, 0, 0

  local function render(status)
    local head = ("# Featurebase inbox: %d conversation(s)%s, %s"):format(#rows,
      hidden > 0 and (" (%d closed hidden: :FeaturebaseInbox! shows them)"):format(hidden) or "", status)
    local lines = { head }
    for i, r in ipairs(rows) do lines[i + 1] = r end
    return set_lines(buf, lines)
  end

  local function fetch(cursor)
    local query = { limit = math.min(tonumber(vim.g.featurebase_inbox_page) or 50, max - seen), cursor = cursor }
    c:list_conversations_async(query, function(page, e)
      if mine ~= generation then return end -- a newer :FeaturebaseInbox took over
      if not page then
        notify_error("inbox", e)
        render("failed (see :messages)")
        return finish(buf, "FeaturebaseInbox", { count = #rows, hidden = hidden, error = tostring(e) })
      end
      for _, conv in ipairs(page.data) do
        seen = seen + 1
        if all or conv.state ~= "closed" then rows[#rows + 1] = row(conv) else hidden = hidden + 1 end
      end
      local more = page.nextCursor ~= nil and seen < max
      if not render(more and "loading..." or (page.nextCursor and "more not shown" or "all")) then return end
      if more then return fetch(page.nextCursor) end
      finish(buf, "FeaturebaseInbox", { count = #rows, hidden = hidden })
    end)
  end

  render("loading...")
  fetch(nil)
end

--- Opens the conversation on the cursor's line of the inbox in its own scratch buffer.
function M.open_at_cursor()
  local id = vim.api.nvim_get_current_line():match("^(%w+)%s")
  if id then M.show(id) end
end

--- Shows one conversation, every part, in featurebase://conversation/<id>.
---@param id string
function M.show(id)
  local c, err = get_client()
  if not c then return notify_error("conversation " .. tostring(id), err) end
  local buf = scratch("featurebase://conversation/" .. id, "markdown")
  set_lines(buf, { "# Featurebase conversation " .. id .. ": loading..." })
  c:get_conversation_async(id, function(conv, e)
    if not conv then
      notify_error("conversation " .. id, e)
      set_lines(buf, { "# Featurebase conversation " .. id .. ": failed (see :messages)" })
      return finish(buf, "FeaturebaseConversation", { error = tostring(e) })
    end
    local lines = { ("# %s (%s)"):format(one_line(conv.title or ("conversation " .. conv.id), 100), conv.state) }
    local parts = require("featurebase").parts(conv)
    for _, p in ipairs(parts) do
      local who = p.author and (p.author.name or p.author.type) or "?"
      lines[#lines + 1] = ""
      lines[#lines + 1] = ("## %s %s, %s"):format(p.partType, who, type(p.createdAt) == "string" and p.createdAt or "")
      for l in ((type(p.bodyMarkdown) == "string" and p.bodyMarkdown or "") .. "\n"):gmatch("([^\n]*)\n") do
        lines[#lines + 1] = l
      end
    end
    if set_lines(buf, lines) then finish(buf, "FeaturebaseConversation", { count = #parts }) end
  end)
end

return M
