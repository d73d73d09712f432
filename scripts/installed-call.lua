-- Run by scripts/check-rockspec.sh from outside the checkout, with only a fresh LuaRocks tree on the
-- paths: every installed module comes from that tree, and the installed featurebase.testing serves
-- one real call of the installed client.   usage: <lua> installed-call.lua <tree>
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
srv:stop()
assert(ok, conv)
assert(conv, tostring(err))
assert(conv.object == "conversation", "not a conversation: " .. tostring(conv.object))
assert(#requests == 1 and requests[1].path == "/v2/conversations", "the fake server did not see the call")
io.write(("installed ok: %s, featurebase %s, libcurl %s, conversation %s from %s\n"):format(
  jit and jit.version or _VERSION, fb._VERSION, require("featurebase.core").curl_version, conv.id,
  searchpath("featurebase.core", package.cpath)))
