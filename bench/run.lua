--- `make bench`: sequential create_conversation against a fast local server, side by side with
-- three baselines in one run, and memory over 100,000 calls. Prints ratios; exits 1 if a target is
-- missed. Run from the repository root: lua bench/run.lua (any of lua5.1-5.4, luajit).
--
-- Server: nginx answering every POST with the docs' example body through `return 201 '...'`: no
-- Lua, no shared dict, so the server's part of each call is as small and steady as it gets (the
-- fake server's Lua handler costs several times more per request and varies more, which would
-- flatter the ratios to raw libcurl).
--
-- The kept-alive methods (featurebase, its transport alone, raw libcurl) run interleaved in chunks
-- of BENCH_CHUNK calls, the C program staying alive between chunks on its own connection, so that
-- load from other processes hits all of them alike; ratios are medians of per-chunk ratios. The
-- slow baselines (luasocket, curl processes) run once per round, in between.
-- Environment: BENCH_ROUNDS (default 9), BENCH_CALLS (calls per round for each kept-alive method,
-- default 20000), BENCH_CHUNK (default 1000), BENCH_MEMORY_CALLS (default 100000).
local featurebase = require("featurebase")
local core = require("featurebase.core")
local testing = require("featurebase.testing")
local cjson = require("cjson")
local http = require("socket.http")
local ltn12 = require("ltn12")

local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS")) or 9
local CALLS = tonumber(os.getenv("BENCH_CALLS")) or 20000
local CHUNK = tonumber(os.getenv("BENCH_CHUNK")) or 1000
local SOCKET_CALLS = math.max(50, math.floor(CALLS / 10)) -- a new TCP connection per call: keep TIME_WAIT sane
local PROCESS_CALLS = math.max(10, math.floor(CALLS / 500))
local MEMORY_CALLS = tonumber(os.getenv("BENCH_MEMORY_CALLS")) or 100000
local KEY = "sk_bench_0123456789"
local RAW_CURL = "bench/out/raw_curl"

local TARGET = { raw = 1.10, luasocket = 1.3, process = 50, memory_mib = 2 }

-- The docs' example response (create-conversation.txt), as one line.
local EXAMPLE = '{"object":"conversation","id":"12345","state":"open","priority":false,"adminAssigneeId":null,'
  .. '"participants":[{"type":"customer","id":"676f0f6765bdaa7d7d760f88"}],"source":{"channel":"desktop",'
  .. '"deliveredAs":"customer_initiated","bodyHtml":"<p>Hello, I have a question about your product.</p>",'
  .. '"bodyMarkdown":"Hello, I have a question about your product.","author":{"type":"customer",'
  .. '"id":"676f0f6765bdaa7d7d760f88"}},"createdAt":"2025-01-15T10:30:00.000Z",'
  .. '"updatedAt":"2025-01-15T10:30:00.000Z"}'

local PARAMS = { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
  bodyMarkdown = "Hello, I have a question about your product.", channel = "desktop" }

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

local function lua_name()
  return jit and jit.version or _VERSION
end

local function machine()
  local cpu = capture("grep -m1 'model name' /proc/cpuinfo"):match(":%s*(.-)%s*$") or "?"
  return ("%s CPU(s), %s, Linux %s"):format(capture("nproc"):match("%d+") or "?", cpu,
    capture("uname -r"):match("%S+") or "?")
end

-- BENCH_SERVER=fake measures against the fake Featurebase server (Lua handler, recording off) instead.
local FAKE = os.getenv("BENCH_SERVER") == "fake"
local srv = testing.start({ api_key = KEY, record = false, server =
  "location = /bench/v2/conversations { default_type application/json; return 201 '" .. EXAMPLE .. "'; }" })
local base = FAKE and srv.url or (srv.url .. "/bench")

-- Pin nginx and this process (with the raw_curl child it starts later) to one CPU. Left to the
-- scheduler, a client on the other core than the nginx worker pays a cross-CPU wake-up each way
-- (on this VM a call went from 30 us to 100+ us), so the ratios measured placement, not code.
local MACHINE = machine()
local PINNED = capture("command -v taskset") ~= ""
if PINNED then
  local master = capture("cat " .. srv.dir .. "/nginx.pid"):match("%d+")
  local self_pid = io.open("/proc/self/stat"):read("*l"):match("^%d+")
  capture(("taskset -a -p -c 0 %s >/dev/null; for w in $(pgrep -P %s); do taskset -a -p -c 0 $w >/dev/null; done; "
    .. "taskset -a -p -c 0 %s >/dev/null"):format(master, master, self_pid))
end
local url = base .. "/v2/conversations"
local _, body = core.encode_create(PARAMS)

local client = assert(featurebase.new({ api_key = KEY, base_url = base, pace = false })) -- throughput, not pacing

-- Each method: seconds per call over n calls (warm connection where it has one).
local methods = {}

methods.featurebase = function(n)
  assert(client:create_conversation(PARAMS)) -- warm-up: connection open
  local t0 = core.now()
  for _ = 1, n do
    local conv, err = client:create_conversation(PARAMS)
    if not conv then error(tostring(err)) end
  end
  return (core.now() - t0) / n
end

-- The validated, decoded call minus validation and decoding: libcurl through the C core only.
local path = core.encode_create(PARAMS)
methods.transport = function(n)
  local t0 = core.now()
  for _ = 1, n do assert(client._core:perform(path, body)) end
  return (core.now() - t0) / n
end

-- raw_curl stays alive on its connection; it reads a count, runs that many calls, prints s/call.
local fifo = capture("mktemp -u \"${TMPDIR:-/tmp}/fbbench.XXXXXX\""):match("%S+")
assert(os.execute("mkfifo " .. fifo))
local raw_in = assert(io.popen(("FEATUREBASE_API_KEY=%s %s '%s' '%s' - > %s"):format(KEY, RAW_CURL, url, body,
  fifo), "w"))
local raw_out = assert(io.open(fifo, "r"))
methods.raw = function(n)
  raw_in:write(n, "\n")
  raw_in:flush()
  return assert(tonumber(raw_out:read("*l")), "raw_curl failed")
end

local SOCKET_HEADERS = { authorization = "Bearer " .. KEY, ["content-type"] = "application/json",
  accept = "application/json", ["featurebase-version"] = "2026-01-01.nova" }

methods.luasocket = function(n)
  local function one()
    local chunks = {}
    SOCKET_HEADERS["content-length"] = tostring(#body)
    local _, status = http.request({ url = url, method = "POST", headers = SOCKET_HEADERS,
      source = ltn12.source.string(body), sink = ltn12.sink.table(chunks) })
    assert(status == 201, "luasocket: " .. tostring(status))
    return cjson.decode(table.concat(chunks))
  end
  one()
  local t0 = core.now()
  for _ = 1, n do one() end
  return (core.now() - t0) / n
end

-- One `curl` process per call, output read and decoded: how most editor plugins call HTTP APIs.
local CURL_CMD = ("curl -sS -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
  .. "-H 'Accept: application/json' -H 'Featurebase-Version: 2026-01-01.nova' --data-binary '%s' '%s'")
  :format(KEY, body, url)
methods.process = function(n)
  local t0 = core.now()
  for _ = 1, n do assert(cjson.decode(capture(CURL_CMD)).object == "conversation") end
  return (core.now() - t0) / n
end

print(("featurebase-lua %s on %s; %s"):format(featurebase._VERSION, lua_name(), MACHINE))
print(PINNED and "CPUs: nginx and the clients pinned to CPU 0 (taskset)" or "CPUs: not pinned (no taskset)")
print(FAKE and "server: the fake Featurebase server (featurebase.testing, recording off) on 127.0.0.1, 1 worker"
  or ("server: nginx `return 201` with the docs' example body (%d bytes) on 127.0.0.1, 1 worker"):format(#EXAMPLE))
print(("%d rounds of: %d calls each of featurebase, transport only and raw libcurl (interleaved in chunks of %d), "
  .. "%d luasocket, %d curl processes"):format(ROUNDS, CALLS, CHUNK, SOCKET_CALLS, PROCESS_CALLS))

methods.featurebase(10)
methods.transport(10)
local per = { featurebase = {}, transport = {}, raw = {}, luasocket = {}, process = {} }
local ratio = { raw = {}, transport = {}, luasocket = {}, process = {} }
local KEPT = { "featurebase", "transport", "raw" }
local function add(t, v) t[#t + 1] = v end
for r = 1, ROUNDS do
  local round = { featurebase = {}, transport = {}, raw = {} }
  for c = 1, math.max(1, math.floor(CALLS / CHUNK)) do
    local got = {}
    for i = 1, #KEPT do
      local m = KEPT[(i + c + r) % #KEPT + 1] -- rotating order
      got[m] = methods[m](CHUNK)
      add(round[m], got[m])
      add(per[m], got[m])
    end
    add(ratio.raw, got.featurebase / got.raw)
    add(ratio.transport, got.transport / got.raw)
  end
  local fb = median(round.featurebase)
  local sock, proc = methods.luasocket(SOCKET_CALLS), methods.process(PROCESS_CALLS)
  add(per.luasocket, sock)
  add(per.process, proc)
  add(ratio.luasocket, sock / fb)
  add(ratio.process, proc / fb)
  io.write(("  round %d: featurebase %.1f us, transport only %.1f us, raw libcurl %.1f us, luasocket %.1f us, "
    .. "curl process %.2f ms\n"):format(r, fb * 1e6, median(round.transport) * 1e6, median(round.raw) * 1e6,
    sock * 1e6, proc * 1e3))
  io.flush()
end
raw_in:write("0\n")
raw_in:close()
raw_out:close()
os.remove(fifo)

-- Where featurebase's extra time goes: the CPU work raw libcurl does not do, without the network.
local answer = assert(client._core:perform(path, body))
local function cpu_us(f)
  local n, t0 = 20000, os.clock()
  for _ = 1, n do f() end
  return (os.clock() - t0) / n * 1e6
end
local encode_us = cpu_us(function() return core.encode_create(PARAMS) end)
local decode_us = cpu_us(function() return core.decode(answer) end)

-- Memory: RSS before and after MEMORY_CALLS calls, after a warm-up, with full collections.
local PAGE = tonumber(capture("getconf PAGESIZE")) or 4096
local function rss()
  collectgarbage("collect")
  collectgarbage("collect")
  local f = assert(io.open("/proc/self/statm"))
  local pages = tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
  f:close()
  return pages * PAGE
end
for _ = 1, 2000 do assert(client:create_conversation(PARAMS)) end
local rss0, heap0 = rss(), collectgarbage("count")
local t0 = core.now()
for _ = 1, MEMORY_CALLS do
  local conv, err = client:create_conversation(PARAMS)
  if not conv then error(tostring(err)) end
end
local mem_time = core.now() - t0
local rss1, heap1 = rss(), collectgarbage("count")
local growth = (rss1 - rss0) / 1048576

client:close()
srv:stop()

local ok = true
local function line(label, value, target, pass)
  ok = ok and pass
  print(("  %-52s %-22s %-12s %s"):format(label, value, target, pass and "PASS" or "MISSED"))
end
print()
print(("Medians over %d rounds (%s):"):format(ROUNDS, lua_name()))
print(("  featurebase create_conversation   %8.1f us/call"):format(median(per.featurebase) * 1e6))
print(("  C core transport only (perform)   %8.1f us/call"):format(median(per.transport) * 1e6))
print(("  raw libcurl C program             %8.1f us/call"):format(median(per.raw) * 1e6))
print(("  luasocket socket.http + cjson     %8.1f us/call"):format(median(per.luasocket) * 1e6))
print(("  one curl process per call         %8.2f ms/call"):format(median(per.process) * 1e3))
print()
local r_raw, r_sock, r_proc = median(ratio.raw), median(ratio.luasocket), median(ratio.process)
line("featurebase / raw libcurl (per call)", ("%.3fx"):format(r_raw), ("<= %.2fx"):format(TARGET.raw),
  r_raw <= TARGET.raw)
print(("  %-52s %.3fx (no validation, no decoding: the HTTP path alone)"):format("transport only / raw libcurl",
  median(ratio.transport)))
print(("  %-52s validation + JSON body %.1f us, decoding the %d-byte answer %.1f us (CPU, no network)")
  :format("featurebase's own work per call:", encode_us, #answer.body, decode_us))
line("luasocket / featurebase (featurebase is faster by)", ("%.2fx"):format(r_sock),
  (">= %.1fx"):format(TARGET.luasocket), r_sock >= TARGET.luasocket)
line("curl process / featurebase (featurebase is faster by)", ("%.0fx"):format(r_proc),
  (">= %dx"):format(TARGET.process), r_proc >= TARGET.process)
line(("RSS growth over %d calls (%.1f us/call)"):format(MEMORY_CALLS, mem_time / MEMORY_CALLS * 1e6),
  ("%+.2f MiB"):format(growth), ("< %d MiB"):format(TARGET.memory_mib), growth < TARGET.memory_mib)
print(("  (Lua heap %.0f KiB -> %.0f KiB; RSS %.1f -> %.1f MiB)"):format(heap0, heap1, rss0 / 1048576,
  rss1 / 1048576))
os.exit(ok and 0 or 1)
