-- Run by spec/13-nvim_plugin_install_spec.lua inside `nvim --headless -u NONE --cmd 'set rtp+=<plugin>'`
-- with no LUA_PATH/LUA_CPATH: featurebase must come from the plugin directory alone. Prints
-- key=value lines on stdout; a failure to load is reported (error=...), not raised.
local harness = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "harness.lua")
local out = harness.out
harness.run(function()
  out("lua_path", os.getenv("LUA_PATH") or "unset")
  out("lua_cpath", os.getenv("LUA_CPATH") or "unset")
  local loaded, fb = pcall(require, "featurebase")
  out("loaded", loaded)
  if not loaded then
    out("load_error", fb)
    return
  end
  out("version", fb._VERSION)
  out("source", debug.getinfo(fb.new, "S").source:sub(2))
  out("core", vim.api.nvim_get_runtime_file("lua/featurebase/core.so", false)[1])
  -- found through 'runtimepath' by Neovim's own loader, not through package.cpath
  out("on_cpath", package.searchpath("featurebase.core", package.cpath) or "none")
  local client = assert(fb.new({ api_key = os.getenv("FB_KEY"), base_url = os.getenv("FB_URL") }))
  local conv, cerr = client:create_conversation({ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
    bodyMarkdown = "from a plugin directory" })
  out("conversation", conv and conv.object or tostring(cerr))
  client:close()
end)
