--- featurebase.retry: when a failed attempt may be repeated, and how long to wait first.
--
-- Featurebase documents no idempotency key, so a repeated create or reply can post the message
-- twice. Requests are therefore of two kinds (the pipeline passes `opts.safe`):
--   * safe to repeat (GET, PATCH with the same body, DELETE, the contacts upsert): retried on 429,
--     408, 5xx (not 501/505) and every network failure or timeout;
--   * not safe (create, reply, add participant, redact, ...): by default only retried when the
--     server certainly did not act: 429 (refused without acting), or a network failure where
--     nothing of the request can have reached the server (`err.request_sent == false`). With
--     `retry_unsafe = true` they are also retried on 408, 500, 502, 503, 504 and failures after
--     sending, except when the answer had already begun with a 2xx status line (`err.status`
--     200-299, e.g. a 201 whose body was cut): the server acted, a retry would duplicate.
-- Never retried: TLS certificate failures (`err.certificate`: not transient), an answer over
-- max_response_size, decode and invalid_request errors, and any other 4xx.
--
-- Pure functions, shared by every transport (blocking, async engine, OpenResty).
-- @module featurebase.retry
local M = {}

M.BASE_DELAY = 0.5 -- first back-off, seconds, doubling per attempt ...
M.MAX_DELAY = 8    -- ... up to this

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

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

--- Whether a failure may be retried under the given options.
---@param err featurebase.Error
---@param retry_unsafe boolean
---@param safe? boolean the request may be repeated without harm
---@return boolean
function M.retryable(err, retry_unsafe, safe)
  -- the server answered (and may have acted) with more than max_response_size: asking again
  -- would only bring the same oversized answer
  if err.limit == "max_response_size" then return false end
  if err.certificate then return false end -- the peer is not who it claims: not transient
  local status = err.status
  if err.kind == "http" then
    if status == 429 then return true end
    if not (safe or retry_unsafe) then return false end
    return status == 408 or (status >= 500 and status <= 599 and status ~= 501 and status ~= 505)
  end
  if err.kind == "network" or err.kind == "timeout" then
    if err.request_sent == false or safe then return true end
    -- the answer began with a 2xx status line: the server acted, whatever became of the body
    if type(status) == "number" and status >= 200 and status <= 299 then return false end
    return retry_unsafe and true or false
  end
  return false -- invalid_request, decode, and anything else: repeating cannot help
end

--- Seconds until an X-RateLimit-Reset value: a Unix time (above 10^9) or a number of seconds.
---@param value string|nil
---@param now number current Unix time, seconds
---@return number|nil
function M.parse_reset(value, now)
  local at = M.reset_at(value, now)
  return at and math.max(0, at - now)
end

--- X-RateLimit-Reset as a Unix time: its unit is unconfirmed (common.md), so a value above 10^9
-- is a Unix time and anything smaller seconds from `now`. nil when unreadable.
---@param value string|nil
---@param now number current Unix time, seconds
---@return number|nil
function M.reset_at(value, now)
  local reset = tonumber(type(value) == "string" and value:match("^%s*(%d+%.?%d*)%s*$"))
  if not reset then return nil end
  if reset > 1e9 then return reset end
  return now + reset
end

--- How long to wait before attempt `attempt + 1`, or nil (and a reason) to give up now.
---@param err featurebase.Error the failure of attempt `attempt`
---@param attempt integer 1 for the first attempt
---@param opts {max_retries: integer, retry_unsafe: boolean, max_retry_wait: number, safe: boolean|nil}
---@param now number current Unix time, seconds (for HTTP-date Retry-After)
---@param random? fun(): number in [0, 1), for jitter
---@param safe? boolean the request may be repeated without harm (else opts.safe)
---@return number|nil delay
---@return string|nil why not
function M.delay(err, attempt, opts, now, random, safe)
  if safe == nil then safe = opts.safe end
  if attempt > opts.max_retries then return nil, "retries exhausted" end
  if not M.retryable(err, opts.retry_unsafe, safe) then return nil, "not retryable" end
  local wait
  if err.kind == "http" and (err.status == 429 or err.status == 503) and err.headers then
    wait = M.parse_retry_after(err.headers["retry-after"], now)
    if not wait and err.status == 429 then wait = M.parse_reset(err.headers["x-ratelimit-reset"], now) end
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
