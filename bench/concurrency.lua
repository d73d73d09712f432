--- Benchmark: the async engine against a server that answers after 50 ms (the fake Featurebase
-- server, a real nginx, with its delay=50 mode), over HTTPS with HTTP/2 (testing.start{tls = true}:
-- a certificate from its test CA, which the client trusts through ca_file), on this machine.
--   1. 1,000 create_conversation calls at concurrency 32 from a new client (its TLS handshakes and
--      connections included): total time vs the ideal 1000/32 x 50 ms (target: at most 1.10x), and
--      the TLS handshakes the server saw (target: at most 2, counted by the server per ClientHello).
--      Median of BENCH_CONC_ROUNDS (default 3) rounds, each side by side with the reference: the
--      same 1,000 POSTs by the curl command (`curl --parallel --parallel-max 32`, libcurl's own
--      multi interface over one HTTP/2 connection, its process start included), which shows what
--      the server itself allows; and the CPU time the server's nginx worker and the client spent.
--   2. Throughput at concurrency 1..64 over the same transport, written to bench/out/concurrency.dat
--      for gnuplot (`make bench` draws bench/throughput.png from it with bench/throughput.gp).
-- Run with `make bench-concurrency`. Exits 1 when a target is missed.
local featurebase = require("featurebase")
local testing = require("featurebase.testing")
local core = require("featurebase.core")

local DELAY_MS, CALLS, CONCURRENCY, TARGET, MAX_HANDSHAKES = 50, 1000, 32, 1.10, 2
local LEVELS = { 1, 2, 4, 8, 16, 32, 64 }
local KEY = "sk_bench"
local ROUNDS = tonumber(os.getenv("BENCH_CONC_ROUNDS")) or 3

local srv = testing.start({ api_key = KEY, record = false, tls = true })
local params = { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "benchmark" }
local function new_client(url)
  return assert(featurebase.new({ api_key = KEY, base_url = url .. "/__fb/mode/delay=" .. DELAY_MS,
    ca_file = srv.ca_file, max_retries = 0, pace = false }))
end

-- n calls at concurrency c: seconds, after checking every call succeeded
local function run(client, n, c)
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

local function median(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  local n = #c
  return n % 2 == 1 and c[(n + 1) / 2] or (c[n / 2] + c[n / 2 + 1]) / 2
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

-- CPU seconds the nginx workers have used so far (utime + stime of each, from /proc).
local TICK = 1 / (tonumber(capture("getconf CLK_TCK"):match("%d+")) or 100)
local master = capture("cat " .. srv.dir .. "/nginx.pid"):match("%d+")
local function server_cpu()
  local s = 0
  for pid in capture("pgrep -P " .. master):gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/stat")
    if f then
      local fields = {}
      for v in f:read("*l"):match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = v end
      f:close()
      s = s + (tonumber(fields[12]) + tonumber(fields[13])) * TICK -- utime, stime: fields 14 and 15
    end
  end
  return s
end

-- The reference: the curl command, CALLS POSTs of the same body at concurrency c; seconds.
local tmp = os.tmpname()
local function curl_parallel(c)
  local f = assert(io.open(tmp, "w"))
  for _ = 1, CALLS do
    f:write('url = "', srv.url, "/__fb/mode/delay=", DELAY_MS, '/v2/conversations"\noutput = "/dev/null"\n')
  end
  f:close()
  local cmd = ("curl --no-progress-meter --http2 --cacert '%s' --parallel --parallel-max %d "
    .. "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -H 'Accept: application/json' "
    .. "-H 'Featurebase-Version: %s' "
    .. "--data-binary '%s' -w '%%{http_code}\\n' -K '%s'"):format(srv.ca_file, c, KEY, core.rules.default_version,
    select(3, core.encode("create_conversation", params)), tmp)
  local t0 = core.now()
  local out = capture(cmd)
  local dt = core.now() - t0
  local _, created = out:gsub("201\n", "")
  if created ~= CALLS then error(("curl: %d of %d calls answered 201:\n%s"):format(created, CALLS, out:sub(1, 500))) end
  return dt
end

-- Warm up nginx (its Lua code loaded, the delay path run) over plain HTTP, then count from zero.
local warm = new_client(srv.http_url)
run(warm, 64, 64)
warm:close()

local ideal = CALLS / CONCURRENCY * DELAY_MS / 1000
local ratios, curl_ratios, handshakes, tls, stats = {}, {}, 0, nil, nil
local cpu = { server = {}, client = {} }
for r = 1, ROUNDS do
  srv:reset()
  local client = new_client(srv.url)
  local s0, c0 = server_cpu(), os.clock()
  ratios[r] = run(client, CALLS, CONCURRENCY) / ideal
  cpu.server[r], cpu.client[r] = server_cpu() - s0, os.clock() - c0
  stats = client._async.engine:stats()
  client:close()
  tls = srv:tls_stats().api or {}
  handshakes = math.max(handshakes, tls.handshakes or 0)
  if tls.h2 ~= CALLS then error(("round %d: %s of %d requests over HTTP/2"):format(r, tostring(tls.h2), CALLS)) end
  srv:reset()
  curl_ratios[r] = curl_parallel(CONCURRENCY) / ideal
  io.write(("  round %d: featurebase %.3fx the ideal (%d TLS handshakes, %d connections), curl --parallel %.3fx\n")
    :format(r, ratios[r], tls.handshakes or 0, tls.connections or 0, curl_ratios[r]))
  io.flush()
end
os.remove(tmp)
local ratio = median(ratios)
local ok = ratio <= TARGET and handshakes <= MAX_HANDSHAKES
print(("%d calls, concurrency %d, server delay %d ms, over HTTPS and HTTP/2, a new client each round (%s, "
  .. "libcurl %s); median of %d rounds"):format(CALLS, CONCURRENCY, DELAY_MS, jit and jit.version or _VERSION,
  core.curl_version, ROUNDS))
print(("  total %.3f s, ideal %.3f s, ratio %.3fx (target <= %.2fx): %s"):format(ratio * ideal, ideal, ratio, TARGET,
  ratio <= TARGET and "PASS" or "MISSED"))
print(("  TLS handshakes seen by the server per round: at most %d (target <= %d): %s"):format(handshakes,
  MAX_HANDSHAKES, handshakes <= MAX_HANDSHAKES and "PASS" or "MISSED"))
print(("  the same calls by curl --parallel (libcurl's multi, the server's floor here): %.3fx the ideal; "
  .. "featurebase / curl: %.3fx"):format(median(curl_ratios), ratio / median(curl_ratios)))
print(("  CPU during the %d calls: the server's nginx worker %.0f ms (%.2f ms a request: %.1f ms of each wave of %d, "
  .. "one after the other), featurebase %.0f ms"):format(CALLS, median(cpu.server) * 1e3,
  median(cpu.server) * 1e3 / CALLS, median(cpu.server) * 1e3 / CALLS * CONCURRENCY, CONCURRENCY,
  median(cpu.client) * 1e3))
print(("  last round: %d connection(s) carried the %d requests; the engine opened %d for %d transfers"):format(
  tls.connections or 0, tls.requests or 0, stats.connects, stats.transfers))

local client = new_client(srv.url)
os.execute("mkdir -p bench/out")
local f = assert(io.open("bench/out/concurrency.dat", "w"))
f:write("# concurrency calls seconds calls_per_s ideal_calls_per_s  (server delay ", DELAY_MS, " ms, HTTPS/HTTP2)\n")
print("\nconcurrency  calls  seconds  calls/s  ideal/s  efficiency   (HTTPS/HTTP2, the same client)")
for _, c in ipairs(LEVELS) do
  local n = math.max(40, 10 * c) -- about 10 waves each: long enough to measure, short enough to run
  local dt = run(client, n, c)
  local rate, ideal_rate = n / dt, c * 1000 / DELAY_MS
  f:write(("%d %d %.4f %.1f %.1f\n"):format(c, n, dt, rate, ideal_rate))
  print(("%11d  %5d  %7.3f  %7.1f  %7.1f  %9.0f%%"):format(c, n, dt, rate, ideal_rate, 100 * rate / ideal_rate))
end
f:close()
print("wrote bench/out/concurrency.dat")
client:close()
srv:stop()
if not ok then os.exit(1) end
