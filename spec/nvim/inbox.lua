-- Run by spec/25-examples_spec.lua inside `nvim --headless -u NONE`: the example plugin's
-- :FeaturebaseInbox (examples/nvim). FB_CASE=list: the inbox fills page by page from a slow server
-- while a 20 ms editor timer keeps firing, <CR> opens a conversation, ! shows the closed ones.
-- FB_CASE=errors: a wrong key and a missing key, FB_CASE=refused: a server that refuses connections;
-- each ends as one vim.notify at ERROR level. Prints key=value lines on stdout (vim.notify is captured, so nothing
-- of the plugin's should reach the screen: the spec checks stderr is empty).
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
local uv = vim.uv or vim.loop

vim.cmd("set rtp+=" .. os.getenv("FB_ROOT") .. "/examples/nvim")
vim.cmd("runtime plugin/featurebase.lua")
vim.g.featurebase_inbox_page = tonumber(os.getenv("FB_PAGE"))

local notes = {}
vim.notify = function(msg, level) notes[#notes + 1] = { msg = msg, level = level } end ---@diagnostic disable-line

local function wait_event(name, fn)
  local done = false
  local id = vim.api.nvim_create_autocmd("User", { pattern = name, once = true, callback = function() done = true end })
  fn()
  local ok = vim.wait(10000, function() return done end, 5)
  pcall(vim.api.nvim_del_autocmd, id)
  return ok
end

local function var(buf, name)
  local ok, v = pcall(vim.api.nvim_buf_get_var, buf, name)
  return ok and v or {}
end

local function lines(buf) return vim.api.nvim_buf_get_lines(buf, 0, -1, false) end

local function list_case()
  -- loaded first, so the timing below is the command's own work, not reading files
  require("featurebase.nvim")
  require("featurebase_inbox")
  local ticks, last, max_gap = 0, uv.hrtime(), 0
  local timer = uv.new_timer()
  timer:start(20, 20, function()
    local now = uv.hrtime()
    ticks, max_gap, last = ticks + 1, math.max(max_gap, (now - last) / 1e6), now
  end)
  local t0, returned_ms, first
  local arrived = wait_event("FeaturebaseInbox", function()
    t0 = uv.hrtime()
    vim.cmd("FeaturebaseInbox")
    returned_ms = (uv.hrtime() - t0) / 1e6
    first = vim.api.nvim_get_current_line()
  end)
  local elapsed = (uv.hrtime() - t0) / 1e6
  local ticks_during = ticks
  timer:stop()
  timer:close()
  local buf = vim.fn.bufnr("featurebase://inbox")
  out("arrived", arrived)
  out("returned_ms", math.floor(returned_ms))
  out("first_line", first)
  out("elapsed_ms", math.floor(elapsed))
  out("ticks", ticks_during)
  out("max_gap_ms", math.floor(max_gap))
  out("current_is_inbox", vim.api.nvim_get_current_buf() == buf)
  out("buftype", vim.api.nvim_buf_get_option(buf, "buftype"))
  out("modifiable", vim.api.nvim_buf_get_option(buf, "modifiable"))
  local l = lines(buf)
  out("header", l[1])
  local ids, states = {}, {}
  for i = 2, #l do
    ids[#ids + 1] = l[i]:match("^(%w+)%s")
    states[l[i]:match("^%w+%s+(%a+)")] = true
  end
  out("ids", table.concat(ids, ","))
  out("closed_shown", states.closed == true)
  out("count", var(buf, "featurebase_inbox").count)
  out("hidden", var(buf, "featurebase_inbox").hidden)
  out("assigned_row", l[3])

  -- <CR> on the first row opens that conversation
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local opened = wait_event("FeaturebaseConversation", function()
    vim.cmd('execute "normal \\<CR>"')
  end)
  out("conv_arrived", opened)
  out("conv_buffer", vim.api.nvim_buf_get_name(0):match("featurebase://.*$"))
  out("conv_lines", table.concat(lines(0), "\n"))

  -- ! lists the closed ones too
  wait_event("FeaturebaseInbox", function() vim.cmd("FeaturebaseInbox!") end)
  out("all_count", var(buf, "featurebase_inbox").count)
  out("all_closed_shown", table.concat(lines(buf), "\n"):find("\n%w+%s+closed") ~= nil)
  out("notes", #notes)
end

local function try(label)
  local before = #notes
  local ok = wait_event("FeaturebaseInbox", function() vim.cmd("FeaturebaseInbox") end)
  out(label .. "_event", ok)
  out(label .. "_notes", #notes - before)
  local n = notes[#notes]
  out(label .. "_level", n and n.level == vim.log.levels.ERROR)
  out(label .. "_msg", n and n.msg)
  local buf = vim.fn.bufnr("featurebase://inbox")
  out(label .. "_header", buf ~= -1 and lines(buf)[1] or "none")
  out(label .. "_error", buf ~= -1 and var(buf, "featurebase_inbox").error or "none")
end

local function errors_case()
  try("unauthorized") -- FEATUREBASE_API_KEY is wrong
  require("featurebase_inbox").close()
  vim.env.FEATUREBASE_API_KEY = nil
  local before = #notes
  vim.cmd("FeaturebaseInbox") -- no client can be made: nothing is sent, no event, one notice
  out("nokey_notes", #notes - before)
  out("nokey_msg", notes[#notes] and notes[#notes].msg)
end

local CASES = { list = list_case, errors = errors_case, refused = function() try("refused") end }
harness.run(CASES[os.getenv("FB_CASE")])
