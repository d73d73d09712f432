-- Run by spec/11-nvim_spec.lua inside `nvim --headless -u NONE`: while one request waits on the slow
-- fake server, a 50 ms editor timer must keep firing. Prints key=value lines on stdout.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  local fbn = require("featurebase.nvim")
  local client = assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = os.getenv("FB_URL") }))
  local uv = vim.loop
  local ticks, last, max_gap = 0, uv.hrtime(), 0
  local timer = uv.new_timer()
  timer:start(50, 50, function()
    local now = uv.hrtime()
    ticks, max_gap, last = ticks + 1, math.max(max_gap, (now - last) / 1e6), now
  end)
  local t0, result = uv.hrtime(), nil
  client:create_conversation_async({ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
    bodyMarkdown = "from Neovim" }, function(conv, cerr, res)
    -- delivered by vim.schedule: the editor API is usable here
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { "conversation " .. tostring(conv and conv.id) })
    result = { conv = conv, err = cerr, res = res, ms = (uv.hrtime() - t0) / 1e6, ticks = ticks,
      fast = vim.in_fast_event() }
  end)
  out("returned_ms", (uv.hrtime() - t0) / 1e6)
  local run_ok, run_err = pcall(client.run, client)
  out("run_refused", not run_ok and tostring(run_err):find("Neovim", 1, true) ~= nil)
  out("arrived", vim.wait(10000, function() return result ~= nil end, 5))
  timer:stop()
  timer:close()
  out("ticks", result.ticks)
  out("max_gap_ms", math.floor(max_gap))
  out("elapsed_ms", math.floor(result.ms))
  out("status", result.res and result.res.status)
  out("err", result.err)
  out("body", result.conv and result.conv.source.bodyMarkdown)
  out("fast", result.fast)
  out("buffer", vim.api.nvim_buf_get_lines(0, 0, 1, false)[1])
  client:close()
end)
