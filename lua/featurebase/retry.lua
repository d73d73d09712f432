--- featurebase.retry: when a failed attempt may be repeated, and how long to wait first.
--
-- Featurebase documents no idempotency key, so a repeated create or reply can post the message
-- twice. Only two kinds of failure are retried by default, because they cannot duplicate anything:
--   * 429 Too Many Requests: the server refused the request without acting on it;
--   * network failures where the request never reached the server (connection refused, DNS,
--     TLS handshake: `err.request_sent == false`).
-- Timeouts after the body was sent, 408, 500, 502, 503 and 504 may have been acted on already:
-- they are retried only when the caller opts in with `retry_unsafe = true`.
--
-- Pure functions, shared by every transport (blocking, async engine, OpenResty).
-- @module featurebase.retry
local M = {}

M.BASE_DELAY = 0.5 -- first back-off, seconds, doubling per attempt ...
M.MAX_DELAY = 8    -- ... up to this

local UNSAFE_STATUS = { [408] = true, [500] = true, [502] = true, [503] = true, [504] = true }

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

-- Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): no os.time, no time zone.
local floor = math.floor

-- Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): no os.time, no time zone.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- Seconds to wait from a Retry-After value: delta-seconds or an HTTP date. nil when unreadable.
---@param value string|nil
---@param now number current Unix time, seconds
---@return number|nil
function M.parse_retry_after(value, now)
  if type(value) ~= "string" then return nil end
  local secs = value:match("^%s*(%d+%.?%d*)%s*$")
  if secs then return tonumber(secs) end
  -- IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  local d, mon, y, hh, mm, ss = value:match("^%s*%a+,%s*(%d+)%s+(%a+)%s+(%d+)%s+(%d+):(%d+):(%d+)%s*GMT%s*$")
  if not d or not MONTHS[mon] then return nil end
  local t = days_from_civil(tonumber(y), MONTHS[mon], tonumber(d)) * 86400 + hh * 3600 + mm * 60 + ss
  return math.max(0, t - now)
end

--- Whether a failure may be retried under the given options. `safe`: the request may be repeated
-- without harm (GET, PATCH, DELETE, the contacts upsert; common.md "Idempotency").
---@param err featurebase.Error
---@param retry_unsafe boolean
---@param safe? boolean
---@return boolean
function M.retryable(err, retry_unsafe, safe)
  if safe then retry_unsafe = true end
  -- the server answered (and may have acted) with more than max_response_size: asking again
  -- would only bring the same oversized answer
  if err.limit == "max_response_size" then return false end
  if err.kind == "http" then
    if err.status == 429 then return true end
    return retry_unsafe and UNSAFE_STATUS[err.status] or false
  end
  if err.kind == "network" or err.kind == "timeout" then
    if err.request_sent == false then return true end
    return retry_unsafe and true or false
  end
  return false -- invalid_request, decode, and anything else: repeating cannot help
end

--- How long to wait before attempt `attempt + 1`, or nil (and a reason) to give up now.
---@param err featurebase.Error the failure of attempt `attempt`
---@param attempt integer 1 for the first attempt
---@param opts {max_retries: integer, retry_unsafe: boolean, max_retry_wait: number}
---@param now number current Unix time, seconds (for HTTP-date Retry-After)
---@param random? fun(): number in [0, 1), for jitter
---@param safe? boolean the request may be repeated without harm
---@return number|nil delay
---@return string|nil why not
function M.delay(err, attempt, opts, now, random, safe)
  if attempt > opts.max_retries then return nil, "retries exhausted" end
  if not M.retryable(err, opts.retry_unsafe, safe) then return nil, "not retryable" end
  local wait
  if err.kind == "http" and err.status == 429 and err.headers then
    wait = M.parse_retry_after(err.headers["retry-after"], now)
    if not wait then
      local reset = tonumber(err.headers["x-ratelimit-reset"])
      if reset then wait = math.max(0, reset - now) end
    end
    if wait and wait > opts.max_retry_wait then return nil, "server asks to wait longer than max_retry_wait" end
  end
  if not wait then
    -- exponential back-off with full jitter over the upper half: spreads a burst of clients
    local base = math.min(M.MAX_DELAY, M.BASE_DELAY * 2 ^ (attempt - 1))
    wait = base / 2 + base / 2 * (random or math.random)()
  end
  return wait
end

return M
