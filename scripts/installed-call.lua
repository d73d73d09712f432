-- Run by scripts/check-rockspec.sh from outside the checkout, with only a fresh LuaRocks tree on the
-- paths: every installed module comes from that tree, and the installed featurebase.testing serves
-- one real call of the installed client. With "nvim" (LuaJIT's tree): then headless Neovim with that
-- tree on package.path/cpath, as rocks.nvim sets them, and no LUA_PATH/LUA_CPATH, makes one more.
--   usage: <lua> /abs/scripts/installed-call.lua <tree> [nvim]
local tree = assert(arg[1], "usage: installed-call.lua <tree>")

-- package.searchpath is 5.2+ (and LuaJIT): this is the same for 5.1
local function searchpath(name, path)
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate)
    if f then f:close(); return candidate end
  end
end

local function from_tree(name, path)
  local file = searchpath(name, path)
  assert(file and file:sub(1, #tree) == tree, ("%s resolves to %s, not into %s"):format(name, tostring(file), tree))
end

from_tree("featurebase", package.path)
from_tree("featurebase.testing", package.path)
from_tree("featurebase.testing.server", package.path)
from_tree("featurebase.core", package.cpath)
local fb = require("featurebase")
local testing = require("featurebase.testing")
for _, name in ipairs({ "featurebase.retry", "featurebase.helpers", "featurebase.import", "featurebase.async" }) do
  from_tree(name, package.path)
  require(name)
end

local KEY = "sk_test_installed_rock"
local srv = assert(testing.start({ api_key = KEY }))
local client = assert(fb.new({ api_key = KEY, base_url = srv.url }))
local ok, conv, err = pcall(client.create_conversation, client,
  { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "sent by the installed rock" })
local requests = srv:requests()
local nvim_out
if arg[2] == "nvim" then
  local root = assert(arg[0]:match("^(/.*)/scripts/installed%-call%.lua$"), "run me by my absolute path")
  local paths = ("package.path = '%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;' .. package.path; "
    .. "package.cpath = '%s/lib/lua/5.1/?.so;' .. package.cpath"):format(tree, tree, tree)
  local p = assert(io.popen(("cd %q && env -u LUA_PATH -u LUA_CPATH FB_KEY=%q FB_URL=%q timeout 60 nvim --headless "
    .. "-u NONE -i NONE -n --cmd %q -c %q 2>&1"):format(tree, KEY, srv.url, "lua " .. paths,
    "luafile " .. root .. "/spec/nvim/plugin_install.lua")))
  nvim_out = p:read("*a")
  p:close()
end
srv:stop()
assert(ok, conv)
assert(conv, tostring(err))
assert(conv.object == "conversation", "not a conversation: " .. tostring(conv.object))
assert(#requests == 1 and requests[1].path == "/v2/conversations", "the fake server did not see the call")
if nvim_out then
  local kv = {}
  for k, v in ("\n" .. nvim_out):gmatch("\n([%w_]+)=([^\n]*)") do kv[k] = v end
  assert(kv.loaded == "true" and kv.version == fb._VERSION and kv.conversation == "conversation"
    and kv.source == tree .. "/share/lua/5.1/featurebase.lua", "Neovim with the rocks tree:\n" .. nvim_out)
  io.write("installed ok in Neovim (the tree on package.path/cpath, as rocks.nvim sets them)\n")
end
io.write(("installed ok: %s, featurebase %s, libcurl %s, conversation %s from %s\n"):format(
  jit and jit.version or _VERSION, fb._VERSION, require("featurebase.core").curl_version, conv.id,
  searchpath("featurebase.core", package.cpath)))
