--- featurebase.pacer: a client paces its own calls from the X-RateLimit-* headers, so that a burst
-- or a long import waits for the next window instead of running into 429 answers.
--
-- One pacer per client, shared by all its calls: blocking, async engine, Neovim, OpenResty light
-- threads (and, with a lua_shared_dict, every nginx worker). Before each attempt the pipeline asks
-- `acquire(now, reserve)`: 0 (and a token) means go (the call is counted against the window), a
-- number is how long to sleep before asking again. After each attempt it reports what came back
-- with `record(token, status, rate_limit, headers, now)`, exactly once per acquired attempt.
--
-- How `remaining` is kept for the window a call is sent in:
--   * every call sent takes one from it at once, so the calls in flight are counted before their
--     answers come;
--   * every answer about that window lowers it to the server's `remaining` when that is smaller
--     (other programs on the same key), never raises it;
--   * a window nobody has counted yet starts from the server's `remaining` less the calls still
--     on their way; when the clock passes the window's end, the next window starts from `limit`
--     less the calls still on their way (each answer about the window just over gives one back),
--     until an answer names it;
--   * a call that would leave less than `reserve` waits until the window's end (plus MARGIN).
-- A 429 holds every call until its Retry-After, or else until X-RateLimit-Reset.
--
-- Times are Unix times with fractions (X-RateLimit-Reset is one). The state lives in a store
-- with get/set/add/incr/delete: a Lua table, or an OpenResty lua_shared_dict (M.shared_dict), whose
-- incr is atomic across workers, so taking a call from the window is one incr.
-- @module featurebase.pacer
local retry = require("featurebase.retry")

local M = {}

M.MARGIN = 0.1 -- seconds past a window's end before sending into the next one
M.POLL = 0.1   -- seconds between looks when the next window's count is spent before any answer names it
M.PROBE = 5    -- seconds past a window's end after which such a wait ends anyway (answers were lost)
M.FLIGHT, M.FLIGHT_SPAN = 20, 4 -- calls in flight are counted per 20 s stretch, for the last 4 of them

local max, min, floor = math.max, math.min, math.floor

--- A store in a Lua table (one process, one thread: every operation is atomic).
---@return table store get/set/add/incr/delete
function M.table_store()
  local t = {}
  return {
    get = function(k) return t[k] end,
    set = function(k, v) t[k] = v end,
    incr = function(k, d, init)
      local v = (t[k] or init or 0) + d
      t[k] = v
      return v
    end,
    add = function(k, v)
      if t[k] ~= nil then return false end
      t[k] = v
      return true
    end,
    delete = function(k) t[k] = nil end,
  }
end

--- A store in an OpenResty lua_shared_dict, shared by every worker; keys start with `prefix`.
-- Entries expire (ttl) so that a dict used for years holds only the windows in use.
---@param dict table ngx.shared.DICT
---@param prefix string
---@return table store get/set/add/incr/delete
function M.shared_dict(dict, prefix)
  return {
    get = function(k) return dict:get(prefix .. k) end,
    set = function(k, v, ttl) dict:set(prefix .. k, v, ttl or 0) end,
    incr = function(k, d, init, ttl)
      local v = dict:incr(prefix .. k, d, init or 0, ttl)
      return v or ((init or 0) + d) -- the dict full: count as if alone rather than fail the call
    end,
    add = function(k, v, ttl) return (dict:add(prefix .. k, v, ttl or 0)) == true end,
    delete = function(k) dict:delete(prefix .. k) end,
  }
end

---@class featurebase.Pacer
---@field s table the store
local Pacer = {}
Pacer.__index = Pacer

--- A pacer over a store (default: a Lua table).
---@param store? table
---@return featurebase.Pacer
function M.new(store)
  return setmetatable({ s = store or M.table_store() }, Pacer)
end

-- Keys: "reset" the end of the window being counted; "w:<reset>" calls left in it; "a:<reset>"
-- calls left in the window after it, before an answer names that one; "limit"; "f:<n>" calls sent
-- in the n-th FLIGHT-second stretch and not answered yet; "hold" no call before this time (a 429).

-- "w:<reset>" and "a:<reset>" for the window ending at `reset`, made once per window.
local function keys(self, reset)
  if self.kr ~= reset then self.kr, self.kw, self.ka = reset, "w:" .. reset, "a:" .. reset end
  return self.kw, self.ka
end

-- Calls on their way: those sent in the last FLIGHT_SPAN stretches and not answered. A call whose
-- answer never reports back (a worker or a light thread killed mid-call) stops counting once its
-- stretch is that old, instead of lowering every later estimate for good.
local function in_flight(s, now)
  local n, b = 0, floor(now / M.FLIGHT)
  for i = b - M.FLIGHT_SPAN + 1, b do n = n + (s.get("f:" .. i) or 0) end
  return max(0, n)
end

-- "f:<b>" for stretch b, made once per stretch.
local function flight_key(self, b)
  if self.fb ~= b then
    self.fb, self.fk = b, "f:" .. b
    self.s.delete("f:" .. (b - M.FLIGHT_SPAN - 1)) -- a table store does not expire what it holds
  end
  return self.fk
end

-- Counts a call as on its way; the stretch it was sent in is its token for record.
local function take(self, now)
  local b = floor(now / M.FLIGHT)
  self.s.incr(flight_key(self, b), 1, 0, M.FLIGHT * (M.FLIGHT_SPAN + 1))
  return b
end

--- Seconds to wait before this attempt may be sent, or 0: then it is counted as sent and
-- `record` must follow once its answer (or failure) is in.
---@param now number Unix time
---@param reserve integer calls to leave in each window
---@return number wait
---@return integer|nil token for record, when wait is 0
function Pacer:acquire(now, reserve)
  local s = self.s
  local hold = s.get("hold")
  if hold and now < hold then return hold - now end
  local reset, limit = s.get("reset"), s.get("limit")
  if reset and limit then
    local key, init, ttl
    local w, a = keys(self, reset)
    if now < reset then
      key, init, ttl = w, limit, reset - now + 60
    else
      key, init, ttl = a, limit - in_flight(s, now), 120
    end
    local left = s.incr(key, -1, init, ttl)
    -- past the window's end, a spent count waits only for the answers of the calls on their way
    -- (one of them will name the new window); with none coming, this call goes and finds out
    if left < reserve and (now < reset or (in_flight(s, now) > 0 and now < reset + M.PROBE)) then
      s.incr(key, 1, init, ttl)
      return now < reset and (reset - now + M.MARGIN) or M.POLL
    end
    -- another worker named the next window meanwhile (record): count this call there instead
    if key == a and s.get("reset") ~= reset then
      s.incr(key, 1, init, ttl)
      return self:acquire(now, reserve)
    end
  end
  return 0, take(self, now)
end

--- Counts an attempt sent without asking (its wait was longer than the caller accepts); returns
-- the token for record.
---@param now number Unix time
function Pacer:sent(now)
  return take(self, now)
end

--- What an attempt's answer said: status (nil when no answer came), its rate_limit
-- ({limit, remaining, reset} as featurebase.client reads them) and headers.
---@param token integer what acquire or sent returned for this attempt
---@param status integer|nil
---@param rl {limit: integer|nil, remaining: integer|nil, reset: integer|nil}|nil
---@param headers table|nil
---@param now number Unix time
function Pacer:record(token, status, rl, headers, now)
  local s = self.s
  s.incr(token == self.fb and self.fk or "f:" .. token, -1, 0, M.FLIGHT * (M.FLIGHT_SPAN + 1))
  if status == 429 then
    local after = headers and retry.parse_retry_after(headers["retry-after"], now)
    local hold = after and now + after or (rl and rl.reset and rl.reset > now and rl.reset + M.MARGIN) or now + 1
    s.set("hold", hold, max(1, hold - now + 1))
    return
  end
  if not (rl and rl.reset and rl.remaining) then return end
  local reset, R, r = s.get("reset"), rl.reset, rl.remaining
  if R <= now then -- about a window that is over
    -- the server counted this call there: it gives its place back to the next window's count
    local _, a = keys(self, R)
    if R == reset and s.get(a) then s.incr(a, 1) end
    return
  end
  if rl.limit ~= nil and rl.limit ~= s.get("limit") then s.set("limit", rl.limit) end
  if reset == R then
    local w = keys(self, R)
    local left = s.get(w)
    if not left then s.set(w, r, R - now + 60)
    elseif r < left then s.incr(w, r - left) end
  elseif not reset or R > reset then
    local after = reset and now >= reset and s.get("a:" .. reset)
    local est = after and min(after, r) or r - in_flight(s, now)
    -- another worker may have started counting this window a moment ago: keep its count (the
    -- calls it took since), lowered to ours
    if not s.add("w:" .. R, est, R - now + 60) then
      local left = s.get("w:" .. R)
      if left and est < left then s.incr("w:" .. R, est - left) end
    end
    if (s.get("reset") or 0) < R then s.set("reset", R) end
    if after then
      -- calls another worker took from "a:" between our read and "reset" moving on count in the
      -- new window too (acquire sends the later ones there)
      local late = s.get("a:" .. reset)
      if late and late < after then s.incr("w:" .. R, late - after) end
    end
    if reset then
      s.delete("w:" .. reset)
      s.delete("a:" .. reset)
    end
  end
end

return M
