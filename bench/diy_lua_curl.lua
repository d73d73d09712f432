--- The do-it-yourself peer for bench/run.lua: what a user writes in twenty lines with Debian's
-- `lua-curl` package (the luacurl binding, `require("curl")`; Debian builds it for Lua 5.1, 5.2 and
-- LuaJIT only) and lua-cjson: one reused easy handle, the body collected into a table, the status
-- read from the status line (luacurl has no getinfo), cjson.encode / cjson.decode. No validation,
-- no retries, no error values, JSON nulls left as cjson.null.
--   local diy = dofile("bench/diy_lua_curl.lua").new(base_url, api_key, user_agent)
--   diy:post("/v2/conversations", params) -> decoded, status
--   diy:get("/v2/conversations/12345")    -> decoded, status
local curl = require("curl")
local cjson = require("cjson")

local M = {}
M.__index = M

function M.new(base, key, user_agent)
  local self = setmetatable({ base = base, e = curl.easy_init(), chunks = {}, n = 0, status = 0 }, M)
  local e = self.e
  e:setopt(curl.OPT_NOSIGNAL, 1)
  e:setopt(curl.OPT_HTTPHEADER, { "Authorization: Bearer " .. key, "Content-Type: application/json",
    "Accept: application/json", "Featurebase-Version: 2026-01-01.nova", "User-Agent: " .. user_agent, "Expect:" })
  e:setopt(curl.OPT_WRITEFUNCTION, function(s)
    self.n = self.n + 1
    self.chunks[self.n] = s
    return #s
  end)
  e:setopt(curl.OPT_HEADERFUNCTION, function(s)
    local code = s:match("^HTTP/%S+ (%d%d%d)")
    if code then self.status = tonumber(code) end
    return #s
  end)
  return self
end

local function finish(self)
  local rc, err = self.e:perform() -- luacurl: true on success, else the curl code and message
  if rc ~= true and rc ~= 0 then error("diy: " .. tostring(err or rc)) end
  local body = self.n == 1 and self.chunks[1] or table.concat(self.chunks, "", 1, self.n)
  for i = 1, self.n do self.chunks[i] = nil end
  self.n = 0
  return cjson.decode(body), self.status
end

function M:post(path, params)
  self.e:setopt(curl.OPT_URL, self.base .. path)
  self.e:setopt(curl.OPT_POSTFIELDS, cjson.encode(params))
  return finish(self)
end

function M:get(path)
  self.e:setopt(curl.OPT_URL, self.base .. path)
  self.e:setopt(curl.OPT_HTTPGET, 1)
  return finish(self)
end

return M
