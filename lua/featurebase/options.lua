--- featurebase.options: every client option, described once.
--
-- Each entry names the option, the layer that uses it and therefore checks it ("core": the C core,
-- which holds the key and the connection; "client": the request pipeline; "openresty": the cosocket
-- transport), its default, whether a single call may override it, and a one-line doc. The client,
-- the OpenResty client, the per-call merging and the README's option table all read this list;
-- an option is checked in one place only.
-- @module featurebase.options
local core = require("featurebase.core_loader").load()

local M = {}

local function retries(v)
  if type(v) ~= "number" or v < 0 or v > 100 or v ~= math.floor(v) then
    return "must be a whole number from 0 to 100"
  end
end
local function seconds(v) -- at most a day, as the C core's timeouts
  if type(v) ~= "number" or not (v > 0 and v <= 86400) then return "must be a number of seconds from 0 to 86400" end
end
local function non_negative(v)
  if type(v) ~= "number" or not (v >= 0) or v == math.huge then return "must be a number of seconds, 0 or more" end
end
local function boolean(v)
  if type(v) ~= "boolean" then return "must be a boolean" end
end
local function bytes(v)
  if type(v) ~= "number" or not (v >= 1 and v <= 2 ^ 30) or v ~= math.floor(v) then
    return "must be a whole number of bytes from 1 to 1073741824 (1 GiB)"
  end
end
local function logger(v)
  if v ~= false and type(v) ~= "function" then return "must be a function(line, event) or false" end
end
local function reserve(v)
  if type(v) ~= "number" or v < 0 or v > 1e6 or v ~= math.floor(v) then
    return "must be a whole number of calls from 0 to 1000000"
  end
end
local function dict_name(v)
  if type(v) ~= "string" or not v:match("^[%w_]+$") then return "must be the name of a lua_shared_dict" end
end
local function pool(v)
  if type(v) ~= "number" or v < 1 or v > 10000 or v ~= math.floor(v) then
    return "must be a whole number from 1 to 10000"
  end
end

local L = core.limits
--- name, type (LuaLS, for the generated featurebase.Options), layer, check (client and openresty layers;
-- the core checks its own), default, per_call, doc; openresty: why featurebase.openresty refuses an
-- option its cosockets cannot honour.
M.list = {
  { name = "api_key", type = "string", layer = "core", default = "$FEATUREBASE_API_KEY",
    doc = "the API key (sk_...); required" },
  { name = "base_url", type = "string", layer = "core",
    default = "$FEATUREBASE_BASE_URL or " .. core.rules.default_base_url,
    doc = "the API's address; plain http only to this machine unless allow_insecure_http" },
  { name = "version", type = "string", layer = "core", default = core.rules.default_version,
    doc = "the Featurebase-Version header" },
  { name = "timeout", type = "number", layer = "core", default = L.timeout, per_call = seconds,
    doc = "seconds one attempt may take in all" },
  { name = "connect_timeout", type = "number", layer = "core", default = L.connect_timeout,
    doc = "seconds to connect" },
  { name = "stall_timeout", type = "number", layer = "core", default = L.stall_timeout,
    doc = "abort when no byte moved for this many seconds" },
  { name = "max_response_size", type = "integer", layer = "core", default = L.max_response_size,
    doc = "bytes of response body; past it a network error" },
  { name = "allow_insecure_http", type = "boolean", layer = "core", default = false,
    doc = "allow http:// to a host other than this machine (the key travels in clear text)" },
  { name = "ca_file", type = "string", layer = "core", default = "the system's CA store",
    doc = "PEM file of the CAs to trust instead of the system's (a private CA, a TLS-inspecting proxy)",
    openresty = "is not used by featurebase.openresty: cosockets trust the CAs named by "
      .. "`lua_ssl_trusted_certificate <file>;` in nginx.conf (put the file there)" },
  { name = "ca_path", type = "string", layer = "core", default = "the system's CA store",
    doc = "directory of hashed CA certificates (c_rehash) to trust instead of the system's",
    openresty = "is not used by featurebase.openresty: cosockets trust the CAs named by "
      .. "`lua_ssl_trusted_certificate <file>;` in nginx.conf" },
  { name = "proxy", type = "string|false", layer = "core",
    default = "$https_proxy, $HTTPS_PROXY, $all_proxy, $ALL_PROXY",
    doc = "http://host:port or https://host:port: https goes through it in a CONNECT tunnel; "
      .. "plain http only through a proxy on this machine; false: none, whatever the environment says",
    openresty = "is not supported by featurebase.openresty: cosockets connect directly" },
  { name = "no_proxy", type = "string", layer = "core", default = "$no_proxy, $NO_PROXY",
    doc = "hosts reached without the proxy, separated by commas (\"*\": all)",
    openresty = "is not supported by featurebase.openresty: cosockets connect directly" },
  { name = "max_retries", type = "integer", layer = "client", check = retries, default = 2, per_call = retries,
    doc = "retries after the first attempt (see featurebase.retry)" },
  { name = "retry_unsafe", type = "boolean", layer = "client", check = boolean, default = false, per_call = boolean,
    doc = "also retry failures the server may have acted on (a message may then be sent twice)" },
  { name = "max_retry_wait", type = "number", layer = "client", check = non_negative, default = 60,
    per_call = non_negative,
    doc = "the longest Retry-After honoured, seconds" },
  { name = "deadline", type = "number", layer = "client", check = seconds, per_call = seconds,
    doc = "seconds bounding all attempts and waits together" },
  { name = "max_request_size", type = "integer", layer = "client", check = bytes, default = L.max_request_size,
    doc = "bytes of request body; past it invalid_request, nothing sent" },
  { name = "log", type = "fun(line: string, event: featurebase.LogEvent)|false", layer = "client", check = logger,
    doc = "function(line, event) called once per attempt; default: stderr when $FEATUREBASE_LOG=debug" },
  { name = "pace", type = "boolean", layer = "client", check = boolean, default = true, per_call = boolean,
    doc = "wait for the next rate-limit window (X-RateLimit-*) instead of running into 429s" },
  { name = "rate_limit_reserve", type = "integer", layer = "client", check = reserve, default = 0, per_call = reserve,
    doc = "calls of each rate-limit window left unused by pacing (for other programs on the key)" },
  { name = "keepalive_timeout", type = "number", layer = "openresty", check = seconds, default = 60,
    doc = "OpenResty: seconds an idle connection stays in nginx's pool" },
  { name = "keepalive_pool", type = "integer", layer = "openresty", check = pool, default = 32,
    doc = "OpenResty: idle connections kept per worker" },
  { name = "rate_limit_dict", type = "string", layer = "openresty", check = dict_name,
    doc = "OpenResty: a lua_shared_dict that shares the pacing among all workers (default: per worker)" },
}

local by_name, per_call_names, all_names = {}, {}, {}
for _, o in ipairs(M.list) do
  by_name[o.name] = o
  all_names[#all_names + 1] = o.name
  if o.per_call then per_call_names[#per_call_names + 1] = o.name end
end

--- An invalid_request error naming the option.
---@param name string
---@param msg string
---@return featurebase.Error
function M.error(name, msg)
  return setmetatable({ kind = "invalid_request", field = name, message = name .. " " .. msg }, core.error_mt)
end

-- A name for any key, for messages: tostring could run a hostile __tostring.
local function key_name(k)
  return type(k) == "string" and k or ("(a " .. type(k) .. " key)")
end

--- Splits client options by layer: own (the options of `layers` checked, over their defaults),
-- core (the C core's, checked there). Unknown options and options of other layers are refused.
-- Raw iteration: a __pairs metamethod must not invent or hide options.
---@param opts table|nil
---@param layers table<string, boolean> e.g. {client = true}
---@return table|nil own
---@return table core_or_err
function M.split(opts, layers)
  local own, c = {}, {}
  for _, o in ipairs(M.list) do
    if layers[o.layer] and o.default ~= nil then own[o.name] = o.default end
  end
  for k, v in next, opts or {} do
    local o = by_name[k]
    if not o or not (layers[o.layer] or o.layer == "core") then
      return nil, M.error(key_name(k), "is not a known client option (" .. table.concat(all_names, ", ") .. ")")
    end
    if o.layer == "core" then
      c[k] = v
    else
      local why = o.check(v)
      if why then return nil, M.error(k, why) end
      own[k] = v
    end
  end
  return own, c
end

--- A call's options over the client's: the merged table, or nil, err.
---@param base table the client's options
---@param opts table|nil
---@return table|nil merged
---@return featurebase.Error|nil err
function M.merge(base, opts)
  if opts == nil then return base end
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in next, opts do
    local d = by_name[k]
    if not (d and d.per_call) then
      return nil, M.error(key_name(k), "is not a per-call option (" .. table.concat(per_call_names, ", ") .. ")")
    end
    local why = d.per_call(v)
    if why then return nil, M.error(k, why) end
    o[k] = v
  end
  return o
end

return M
