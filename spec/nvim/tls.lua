-- Run by spec/15-tls_spec.lua inside `nvim --headless -u NONE`: calls over HTTPS with the test CA
-- (FB_CA) on Neovim's loop: one to the trusted server (FB_URL), one to each refused server
-- (FB_BAD: name=url,...), then 32 at once to FB_SLOW. Prints key=value lines on stdout.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  local fbn = require("featurebase.nvim")
  local function client(url)
    return assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = url, ca_file = os.getenv("FB_CA"),
      max_retries = 0 }))
  end
  local params = { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "over TLS" }
  local pending = 0
  local function call(name, c)
    pending = pending + 1
    c:create_conversation_async(params, function(conv, cerr)
      pending = pending - 1
      out(name .. "_value", conv and conv.object)
      out(name .. "_kind", cerr and cerr.kind)
      out(name .. "_sent", cerr and cerr.request_sent)
      out(name .. "_message", cerr and cerr.message)
    end)
  end
  call("trusted", client(os.getenv("FB_URL")))
  for name, url in os.getenv("FB_BAD"):gmatch("([%w_]+)=([^,]+)") do call(name, client(url)) end
  out("first_done", vim.wait(20000, function() return pending == 0 end, 5))
  local slow, ok_count, t0 = client(os.getenv("FB_SLOW")), 0, vim.loop.hrtime()
  for _ = 1, 32 do
    pending = pending + 1
    slow:create_conversation_async(params, function(conv)
      pending = pending - 1
      if conv then ok_count = ok_count + 1 end
    end)
  end
  out("concurrent_done", vim.wait(20000, function() return pending == 0 end, 5))
  out("concurrent_ms", math.floor((vim.loop.hrtime() - t0) / 1e6))
  out("concurrent_ok", ok_count)
end)
