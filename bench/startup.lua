--- Start-up cost, run by bench/run.lua in a fresh interpreter: require("featurebase") + new + the
-- first call (its connection included). Prints one line: the total wall time in seconds, then its
-- parts in seconds: loading the C core (the dynamic loader mapping core.so with libcurl and its
-- dependencies, curl_global_init, luaopen), the Lua modules require("featurebase") loads, new, the
-- first call; then how many Lua modules of featurebase were loaded.
--   lua5.4 bench/startup.lua BASE_URL API_KEY [bare]
-- bare: no clock (luasocket is not loaded) and no output, for timing the process from exec to exit.
local clock = arg[3] ~= "bare" and require("socket").gettime or function() return 0 end -- loaded before t0
local t0 = clock()
require("featurebase.core")
local t1 = clock()
local featurebase = require("featurebase")
local t2 = clock()
local client = assert(featurebase.new({ api_key = arg[2], base_url = arg[1] }))
local t3 = clock()
assert(client:create_conversation({ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
  bodyMarkdown = "Hello, I have a question about your product.", channel = "desktop" }))
local t4 = clock()
if arg[3] == "bare" then return end
local modules = 0
for name in pairs(package.loaded) do
  if name:find("^featurebase") and name ~= "featurebase.core" then modules = modules + 1 end
end
print(("%.6f %.6f %.6f %.6f %.6f %d"):format(t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, modules))
