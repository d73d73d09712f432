-- Run by spec/16-rate_limit_spec.lua inside `nvim --headless -u NONE`: FB_CALLS calls through
-- map_async at concurrency 16 on Neovim's loop, paced by the rate limit, while a 50 ms editor timer
-- keeps firing through the waits. Prints key=value lines on stdout.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  local fbn = require("featurebase.nvim")
  local client = assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = os.getenv("FB_URL"), max_retries = 0 }))
  local uv = vim.loop
  local ticks = 0
  local timer = uv.new_timer()
  timer:start(50, 50, function() ticks = ticks + 1 end)
  local calls = {}
  for i = 1, tonumber(os.getenv("FB_CALLS")) do
    calls[i] = { "create_conversation", { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
      bodyMarkdown = "paced " .. i } }
  end
  local t0, results = uv.hrtime(), nil
  client:map_async(calls, { concurrency = 16 }, function(r) results = r end)
  out("arrived", vim.wait(30000, function() return results ~= nil end, 5))
  timer:stop()
  timer:close()
  local n_ok, limited = 0, 0
  for _, r in ipairs(results) do
    if r.value then n_ok = n_ok + 1 elseif r.err.status == 429 then limited = limited + 1 end
  end
  out("ok", n_ok)
  out("limited", limited)
  out("ticks", ticks)
  out("elapsed_ms", math.floor((uv.hrtime() - t0) / 1e6))
  client:close()
end)
