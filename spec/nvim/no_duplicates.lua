-- Run by spec/14-no_duplicates_spec.lua inside `nvim --headless -u NONE`: a create on a kept-alive
-- connection that the server reads and then closes. Prints key=value lines on stdout.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  local fbn = require("featurebase.nvim")
  local client = assert(fbn.new({ api_key = os.getenv("FB_KEY"), base_url = os.getenv("FB_URL") }))
  local function create(text)
    local result
    client:create_conversation_async({ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
      bodyMarkdown = text }, function(conv, cerr, res) result = { conv = conv, err = cerr, res = res } end)
    assert(vim.wait(10000, function() return result ~= nil end, 5), "no result")
    return result
  end
  local warm = create("mk:" .. os.getenv("FB_WARM"))
  out("warm_id", warm.conv and warm.conv.id)
  local r = create("mk:" .. os.getenv("FB_MK") .. " act:close")
  out("value", r.conv)
  out("kind", r.err and r.err.kind)
  out("request_sent", r.err and r.err.request_sent)
  out("attempts", r.err and r.err.attempts)
  client:close()
end)
