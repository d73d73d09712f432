--- Benchmark: the async engine against a server that answers after 50 ms, over HTTPS with HTTP/2,
-- on this machine. The server is a real nginx whose TLS + HTTP/2 listener does as little as it can:
-- a fixed answer (the docs' create-conversation example, with the headers Featurebase sends) after
-- a 50 ms timer (echo_sleep of Debian's libnginx-mod-http-echo, no Lua), so the figures measure the
-- client, not a fake server's store; its CPU per request is printed beside them (the floor). The
-- certificate comes from featurebase.testing.certificates' test CA, which the client trusts through
-- ca_file. Server-side counters: every ClientHello (ssl_client_hello_by_lua, the listener's only
-- Lua), and per request its connection and protocol (an access log).
--   1. 1,000 create_conversation calls at concurrency 32 from a new client (its TLS handshakes and
--      connections included): total time vs the ideal 1000/32 x 50 ms (target: at most 1.10x), and
--      the TLS handshakes the server saw (target: at most 2).
--      Median of BENCH_CONC_ROUNDS (default 5) rounds, each side by side with the reference: the
--      same 1,000 POSTs by the curl command (`curl --parallel --parallel-max 32`, libcurl's own
--      multi interface over one HTTP/2 connection, its process start included); and the CPU time
--      the server's nginx worker and the client spent.
--   2. Throughput at concurrency 1..64 over the same transport, written to bench/out/concurrency.dat
--      for gnuplot (`make bench` draws bench/throughput.png from it with bench/throughput.gp).
-- Run with `make bench-concurrency`. Exits 1 when a target is missed.
local featurebase = require("featurebase")
local testing = require("featurebase.testing")
local core = require("featurebase.core")

-- BENCH_CONC_PROFILE=n: only n calls at concurrency 32 against a server that waits
-- BENCH_CONC_DELAY_MS (default 50), then exit: for a profiler (callgrind of two call counts).
local PROFILE = tonumber(os.getenv("BENCH_CONC_PROFILE"))
local DELAY_MS = PROFILE and tonumber(os.getenv("BENCH_CONC_DELAY_MS")) or 50
local CALLS, CONCURRENCY, TARGET, MAX_HANDSHAKES = 1000, 32, 1.10, 2
local LEVELS = { 1, 2, 4, 8, 16, 32, 64 }
local ROUNDS = tonumber(os.getenv("BENCH_CONC_ROUNDS")) or 5

-- The docs' example answer and Featurebase's headers, the TLS listener: as bench/run.lua's.
local payloads = dofile("bench/payloads.lua")
local capture = payloads.capture
local KEY = payloads.KEY

local files = capture("mktemp -d \"${TMPDIR:-/tmp}/fbconc.XXXXXX\""):match("%S+")
assert(os.execute("chmod 755 " .. files))
local certs = testing.certificates(files .. "/certs")
local TLS_PORT = payloads.free_port()
local ACCESS_LOG = files .. "/requests.log"
local LEAN = table.concat({
  "lua_shared_dict conc_tls 1m;",
  "log_format conc '$connection $server_protocol';",
  "server {",
  payloads.tls_listener(TLS_PORT, certs, "conc_tls"),
  "  access_log " .. ACCESS_LOG .. " conc;", -- one line a request: its connection and protocol
  "  location = /v2/conversations {",
  "    " .. payloads.HEADERS,
  "    echo_status 201; echo_sleep " .. DELAY_MS / 1000 .. "; echo -n '" .. payloads.EXAMPLE .. "';",
  "  }",
  "}" }, "\n")
-- On the plain listener: the ClientHellos seen so far.
local HANDSHAKES = "location = /conc/handshakes { content_by_lua_block { "
  .. "ngx.print(ngx.shared.conc_tls:get('handshakes') or 0) } }"
local srv = testing.start({ api_key = KEY, record = false, http = LEAN, server = HANDSHAKES,
  main = "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;" })
local URL = "https://127.0.0.1:" .. TLS_PORT

local function handshakes()
  return tonumber(capture("curl -s " .. srv.url .. "/conc/handshakes")) or error("GET /conc/handshakes failed")
end
-- Requests logged since line `from` of the access log: their count, connections, and how many came over HTTP/2.
local function requests(from)
  local n, h2, conns, nconns = 0, 0, {}, 0
  local i = 0
  for line in io.lines(ACCESS_LOG) do
    i = i + 1
    if i > from then
      local conn, proto = line:match("^(%d+) (%S+)")
      n = n + 1
      if proto == "HTTP/2.0" then h2 = h2 + 1 end
      if not conns[conn] then conns[conn], nconns = true, nconns + 1 end
    end
  end
  return { requests = n, h2 = h2, connections = nconns, lines = i }
end

local params = { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" }, bodyMarkdown = "benchmark" }
local function new_client()
  return assert(featurebase.new({ api_key = KEY, base_url = URL, ca_file = certs.ca_file, max_retries = 0,
    pace = false }))
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
    f:write('url = "', URL, '/v2/conversations"\noutput = "/dev/null"\n')
  end
  f:close()
  local cmd = ("curl --no-progress-meter --http2 --cacert '%s' --parallel --parallel-max %d "
    .. "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -H 'Accept: application/json' "
    .. "-H 'Featurebase-Version: %s' "
    .. "--data-binary '%s' -w '%%{http_code}\\n' -K '%s'"):format(certs.ca_file, c, KEY, core.rules.default_version,
    select(3, core.encode("create_conversation", params)), tmp)
  local t0 = core.now()
  local out = capture(cmd)
  local dt = core.now() - t0
  local _, created = out:gsub("201\n", "")
  if created ~= CALLS then error(("curl: %d of %d calls answered 201:\n%s"):format(created, CALLS, out:sub(1, 500))) end
  return dt
end

if PROFILE then
  local client = new_client()
  local c0 = os.clock()
  local dt = run(client, PROFILE, CONCURRENCY)
  print(("%d calls: %.3f s, %.3fx the ideal, client CPU %.3f ms a call"):format(PROFILE, dt,
    dt / (PROFILE / CONCURRENCY * DELAY_MS / 1000), (os.clock() - c0) * 1e3 / PROFILE))
  client:close()
  srv:stop()
  os.execute("rm -rf '" .. files .. "'")
  os.exit(0)
end

-- Warm up: nginx's worker and the client's code paths.
local warm = new_client()
run(warm, 64, 32)
warm:close()

local ideal = CALLS / CONCURRENCY * DELAY_MS / 1000
local ratios, curl_ratios, max_handshakes, seen, stats = {}, {}, 0, nil, nil
local cpu = { server = {}, client = {}, curl_server = {} }
local logged = requests(0).lines
for r = 1, ROUNDS do
  local client = new_client()
  local h0, s0, c0 = handshakes(), server_cpu(), os.clock()
  ratios[r] = run(client, CALLS, CONCURRENCY) / ideal
  cpu.server[r], cpu.client[r] = server_cpu() - s0, os.clock() - c0
  stats = client._async.engine:stats()
  client:close()
  local hs = handshakes() - h0
  max_handshakes = math.max(max_handshakes, hs)
  seen = requests(logged)
  logged = seen.lines
  if seen.requests ~= CALLS or seen.h2 ~= CALLS then
    error(("round %d: the server logged %d requests, %d over HTTP/2, for %d calls"):format(r, seen.requests, seen.h2,
      CALLS))
  end
  s0 = server_cpu()
  curl_ratios[r] = curl_parallel(CONCURRENCY) / ideal
  cpu.curl_server[r] = server_cpu() - s0
  logged = requests(logged).lines
  io.write(("  round %d: featurebase %.3fx the ideal (%d TLS handshakes, %d connections), curl --parallel %.3fx\n")
    :format(r, ratios[r], hs, seen.connections, curl_ratios[r]))
  io.flush()
end
os.remove(tmp)
local ratio = median(ratios)
local ok = ratio <= TARGET and max_handshakes <= MAX_HANDSHAKES
local server_ms, client_ms = median(cpu.server) * 1e3, median(cpu.client) * 1e3
print(("%d calls, concurrency %d, server delay %d ms, over HTTPS and HTTP/2, a new client each round (%s, "
  .. "libcurl %s); median of %d rounds"):format(CALLS, CONCURRENCY, DELAY_MS, jit and jit.version or _VERSION,
  core.curl_version, ROUNDS))
print(("  total %.3f s, ideal %.3f s, ratio %.3fx (target <= %.2fx): %s"):format(ratio * ideal, ideal, ratio, TARGET,
  ratio <= TARGET and "PASS" or "MISSED"))
print(("  TLS handshakes seen by the server per round: at most %d (target <= %d): %s"):format(max_handshakes,
  MAX_HANDSHAKES, max_handshakes <= MAX_HANDSHAKES and "PASS" or "MISSED"))
print(("  the same calls by curl --parallel (libcurl's multi, process start included): %.3fx the ideal; "
  .. "featurebase / curl: %.3fx"):format(median(curl_ratios), ratio / median(curl_ratios)))
print(("  CPU in the %d calls: the server's one nginx worker %.0f ms (%.3f ms a request: the floor, TLS + HTTP/2 "
  .. "and a timer; %.3f ms under curl), featurebase %.0f ms (%.3f ms a call)"):format(CALLS, server_ms,
  server_ms / CALLS, median(cpu.curl_server) * 1e3 / CALLS, client_ms, client_ms / CALLS))
print(("  last round: %d connection(s) carried the %d requests; the engine opened %d for %d transfers"):format(
  seen.connections, seen.requests, stats.connects, stats.transfers))

local client = new_client()
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
os.execute("rm -rf '" .. files .. "'")
if not ok then os.exit(1) end
