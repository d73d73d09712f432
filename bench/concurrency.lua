--- Benchmark: the async engine against a server that answers after 50 ms (the fake Featurebase
-- server, a real nginx, with its delay=50 mode), on this machine.
--   1. 1,000 create_conversation calls at concurrency 32: total time vs the ideal 1000/32 x 50 ms
--      (target: at most 1.25x).
--   2. Throughput at concurrency 1..64, written to bench/out/concurrency.dat for gnuplot
--      (`make bench` draws bench/throughput.png from it with bench/throughput.gp).
-- Run with `make bench-concurrency`. Exits 1 when the 1.25x target is missed.
local featurebase = require("featurebase")
local testing = require("featurebase.testing")
local core = require("featurebase.core")

local DELAY_MS, CALLS, CONCURRENCY, TARGET = 50, 1000, 32, 1.25
local LEVELS = { 1, 2, 4, 8, 16, 32, 64 }

local srv = testing.start({ api_key = "sk_bench", record = false })
local client = assert(featurebase.new({ api_key = "sk_bench", base_url = srv.url .. "/__fb/mode/delay=" .. DELAY_MS,
  max_retries = 0, pace = false }))
local params = { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "benchmark" }

-- n calls at concurrency c: seconds, after checking every call succeeded
local function run(n, c)
  local calls = {}
  for i = 1, n do calls[i] = { "create_conversation", params } end
  local t0 = core.now()
  local results = client:map(calls, { concurrency = c })
  local dt = core.now() - t0
  for i, r in ipairs(results) do
    if not r.value then error(("call %d failed: %s"):format(i, tostring(r.err))) end
  end
  return dt
end

run(64, 64) -- warm up: connections opened, nginx and the pool at full size

local total = run(CALLS, CONCURRENCY)
local ideal = CALLS / CONCURRENCY * DELAY_MS / 1000
local ratio = total / ideal
local stats = client._async.engine:stats()
print(("%d calls, concurrency %d, server delay %d ms (%s, libcurl %s)"):format(CALLS, CONCURRENCY, DELAY_MS,
  jit and jit.version or _VERSION, core.curl_version))
print(("  total %.3f s, ideal %.3f s, ratio %.3fx (target <= %.2fx): %s"):format(total, ideal, ratio, TARGET,
  ratio <= TARGET and "ok" or "MISSED"))
print(("  connections opened %d for %d transfers (the rest reused kept-alive ones)"):format(stats.connects,
  stats.transfers))

os.execute("mkdir -p bench/out")
local f = assert(io.open("bench/out/concurrency.dat", "w"))
f:write("# concurrency calls seconds calls_per_s ideal_calls_per_s  (server delay ", DELAY_MS, " ms)\n")
print("\nconcurrency  calls  seconds  calls/s  ideal/s  efficiency")
for _, c in ipairs(LEVELS) do
  local n = math.max(40, 10 * c) -- about 10 waves each: long enough to measure, short enough to run
  local dt = run(n, c)
  local rate, ideal_rate = n / dt, c * 1000 / DELAY_MS
  f:write(("%d %d %.4f %.1f %.1f\n"):format(c, n, dt, rate, ideal_rate))
  print(("%11d  %5d  %7.3f  %7.1f  %7.1f  %9.0f%%"):format(c, n, dt, rate, ideal_rate, 100 * rate / ideal_rate))
end
f:close()
print("wrote bench/out/concurrency.dat")
client:close()
srv:stop()
if ratio > TARGET then os.exit(1) end
