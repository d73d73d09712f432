--- Start-up cost, run by bench/run.lua in a fresh interpreter: require("featurebase") + new + the
-- first call (its connection included). Prints the total wall time in seconds, then the part of it
-- spent loading the C core (dlopen of core.so with libcurl and its dependencies, curl_global_init).
--   lua5.4 bench/startup.lua BASE_URL API_KEY
local clock = require("socket").gettime -- loaded before the clock starts
local t0 = clock()
require("featurebase.core")
local t1 = clock()
local featurebase = require("featurebase")
local client = assert(featurebase.new({ api_key = arg[2], base_url = arg[1] }))
assert(client:create_conversation({ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
  bodyMarkdown = "Hello, I have a question about your product.", channel = "desktop" }))
print(("%.6f %.6f"):format(clock() - t0, t1 - t0))
