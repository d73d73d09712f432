-- Run by spec/11-nvim_spec.lua inside `nvim --headless -u NONE`: the example plugin (examples/nvim)
-- sends the buffer as a note, a range as a reply, and refuses an invalid conversation id.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  vim.cmd("set rtp+=" .. os.getenv("FB_ROOT") .. "/examples/nvim")
  vim.cmd("runtime plugin/featurebase.lua")
  local results = {}
  vim.api.nvim_create_autocmd("User", { pattern = "FeaturebaseSent", callback = function()
    results[#results + 1] = vim.g.featurebase_last
  end })
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "# Note", "line two", "line three" })
  local id = os.getenv("FB_CONV")
  vim.cmd("FeaturebaseNote " .. id)
  vim.cmd("2,3FeaturebaseReply " .. id)
  vim.cmd("FeaturebaseReply 12345678901234567") -- 17 characters: refused before sending
  out("arrived", vim.wait(10000, function() return #results == 3 end, 5))
  for _, r in ipairs(results) do
    out(r.kind .. (r.error and "_error" or "_part"), r.error or r.part_id)
  end
end, "cquit 0") -- not qall: an error message shown by the plugin (expected here) would make it exit 1
