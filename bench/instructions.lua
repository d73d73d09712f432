--- `make bench-instructions`: instructions per create_conversation call, counted by callgrind, which
-- the load of a shared machine and its clock speed do not change: featurebase beside raw libcurl
-- and the do-it-yourself program, and featurebase split into its parts. This is the profile behind
-- the wall-time ratios of bench/run.lua (README "Performance").
--   lua5.4 bench/instructions.lua [N]     (N calls, default 300)
-- Each figure is (a run of 3N calls - a run of N calls) / 2N, in child processes started under
-- valgrind, so start-up, warm-up and the connection's opening cancel out. All talk to one nginx
-- answering the docs' example with Featurebase's headers, and send the same request bytes.
local featurebase = require("featurebase")
local core = require("featurebase.core")
local payloads = dofile("bench/payloads.lua")

local LUA = arg[-1] or "lua"
local RAW_CURL = "bench/out/raw_curl"

-- Child mode: `bench/instructions.lua --child MODE BASE_URL N` runs N calls of one kind, after one.
if arg[1] == "--child" then
  local mode, base, n = arg[2], arg[3], tonumber(arg[4])
  local client = assert(featurebase.new({ api_key = payloads.KEY, base_url = base, pace = false }))
  local method, path, body = core.encode("create_conversation", payloads.PARAMS)
  local headers = { ["x-request-id"] = "req_0123456789abcdef", ["x-ratelimit-limit"] = "2000",
    ["x-ratelimit-remaining"] = "1999", ["x-ratelimit-reset"] = "1767225600" }
  local diy = mode == "diy" and dofile("bench/diy_lua_curl.lua").new(base, payloads.KEY, payloads.user_agent())
  local one = ({
    featurebase = function() assert(client:create_conversation(payloads.PARAMS)) end,
    transport = function() assert(client._core:perform(method, path, body)) end,
    encode = function() assert(core.encode("create_conversation", payloads.PARAMS)) end,
    decode = function() assert(core.decode({ status = 201, headers = headers, body = payloads.EXAMPLE })) end,
    cjson = function() assert(require("cjson").decode(payloads.EXAMPLE)) end,
    diy = function() assert(diy:post("/v2/conversations", payloads.PARAMS).object) end,
  })[mode]
  for _ = 1, n + 1 do one() end
  os.exit(0)
end

local N = tonumber(arg[1]) or 300

local capture = payloads.capture

-- Instructions of one command under callgrind (its total, "Collected : n"); env: "NAME=value ...".
local function collected(cmd, env)
  local out = capture((env or "") .. " valgrind --tool=callgrind --callgrind-out-file=/dev/null " .. cmd .. " 2>&1")
  return tonumber(out:match("Collected : (%d+)")) or error("callgrind failed: " .. cmd .. "\n" .. out)
end

local srv = require("featurebase.testing").start({ api_key = payloads.KEY, record = false,
  server = "location = /bench/v2/conversations { " .. payloads.HEADERS .. "return 201 '" .. payloads.EXAMPLE
    .. "'; }" })
local base = srv.url .. "/bench"
local _, _, body = core.encode("create_conversation", payloads.PARAMS)

local function per_call(mode)
  local cmd, env
  if mode == "raw" then
    cmd = ("%s '%s/v2/conversations' '%s' %%d"):format(RAW_CURL, base, body)
    env = ("FEATUREBASE_API_KEY=%s RAW_CURL_USER_AGENT='%s'"):format(payloads.KEY, payloads.user_agent())
  else
    cmd = ("%s bench/instructions.lua --child %s '%s' %%d"):format(LUA, mode, base)
  end
  return (collected(cmd:format(3 * N), env) - collected(cmd:format(N), env)) / (2 * N)
end

local has_diy = pcall(require, "curl")
local k = {}
for _, mode in ipairs({ "raw", "featurebase", "transport", "encode", "decode", "cjson", has_diy and "diy" or nil }) do
  k[mode] = per_call(mode)
end
srv:stop()

local function row(label, v, of)
  print(("  %-62s %7.1fk%s"):format(label, v / 1000, of and ("   %.2fx"):format(v / of) or ""))
end
print(("Instructions per create_conversation call (%s, libcurl %s; callgrind, (%d calls - %d) / %d):")
  :format(jit and jit.version or _VERSION, core.curl_version, 3 * N, N, 2 * N))
row("raw libcurl, one reused handle (bench/raw_curl.c)", k.raw, k.raw)
if k.diy then row("do it yourself: lua-curl + cjson (bench/diy_lua_curl.lua)", k.diy, k.raw) end
row("featurebase: client:create_conversation(params)", k.featurebase, k.raw)
row("  the C core's request alone (libcurl, headers table, decoding)", k.transport, k.raw)
row("    of which past raw libcurl", k.transport - k.raw)
row("  validating params and writing the body (core.encode)", k.encode)
row("  the Lua pipeline (options, retries' bookkeeping: the rest)", k.featurebase - k.transport - k.encode)
row(("decoding the %d-byte answer (core.decode: cjson, nulls to nil...)"):format(#payloads.EXAMPLE), k.decode)
row("  of which cjson.decode", k.cjson)
if k.diy then
  print(("  featurebase / do it yourself: %.2fx the instructions"):format(k.featurebase / k.diy))
end
-- The proof for bench/run.lua's 1.15x target: what it leaves against what decoding alone takes.
print(("  the 1.15x target leaves %.1fk instructions over raw libcurl; cjson.decode of the answer alone takes "
  .. "%.1fk (%.1fx that), validation %.1fk"):format(k.raw * 0.15 / 1000, k.cjson / 1000, k.cjson / (k.raw * 0.15),
  k.encode / 1000))
