--- Start-up cost, run by bench/run.lua in a fresh interpreter: require("featurebase") + new + the
-- first call (its connection included), wall time in seconds on stdout.
--   lua5.4 bench/startup.lua BASE_URL API_KEY
local clock = require("socket").gettime -- loaded before the clock starts
local t0 = clock()
local featurebase = require("featurebase")
local client = assert(featurebase.new({ api_key = arg[2], base_url = arg[1] }))
assert(client:create_conversation({ from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
  bodyMarkdown = "Hello, I have a question about your product.", channel = "desktop" }))
print(("%.6f"):format(clock() - t0))
