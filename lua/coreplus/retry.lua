--- The rule for repeating a failed attempt, and how long to wait first; and
-- what a final failure says (how many attempts, what ran out, whether the
-- request may have been processed). One home for every retry decision: the
-- engine asks `policy:decide` after each failed attempt and `final` once.
--
--   429          a refusal: nothing was processed, so any method is repeated,
--                for as long as the call's deadline allows (not `retries`).
--                Retry-After is honoured when sane; without it the wait is at
--                least one whole window (`per`), jittered into the upper half
--                of a backoff that doubles.
--   503          repeated for idempotent methods (counted by `retries`).
--   401 token    repeated once when the clock learnt from that response moved.
--   transport    repeated for idempotent methods, or when nothing was sent;
--                never a certificate that did not verify, a body too large,
--                a limiter that failed, or an error the transport marks final.
-- A non-idempotent request whose outcome is unknown (sent, then no clear
-- answer) is never repeated and says outcome = "unknown".
local dates = require "coreplus.dates"

local type = type
local tonumber = tonumber
local setmetatable = setmetatable
local min = math.min
local max = math.max
local floor = math.floor
local format = string.format

local _M = {}
local mt = { __index = _M }

-- A Retry-After further away than this is not a plan but a mistake.
local MAX_RETRY_AFTER = 86400

--- retry.new(o) -> policy, from the client's options (retries, backoff,
-- backoff_max, per, random).
function _M.new(o)
  return setmetatable({ retries = o.retries, backoff = o.backoff, backoff_max = o.backoff_max,
    per = o.per, random = o.random or math.random }, mt)
end

--- Seconds the server asked to wait, or nil when absent or not believable
-- (negative, absurd, unreadable). Seconds or an HTTP date (RFC 9110 10.2.3).
function _M.retry_after(headers)
  local v = type(headers) == "table" and headers["retry-after"]
  if type(v) ~= "string" then return nil end
  local n = tonumber(v:match("^%s*(%d+)%s*$"))
  if not n then
    local at, now = dates.http_date(v), dates.http_date(headers.date)
    if at and now then n = at - now end
  end
  if n and n >= 0 and n <= MAX_RETRY_AFTER then return n end
  return nil
end

-- Full jitter in [0, b] with b doubling from `backoff`, capped.
function _M:full_jitter(attempt)
  return self.random() * min(self.backoff_max, self.backoff * 2 ^ (attempt - 1))
end

-- A 429 without Retry-After: at least one whole window, in the upper half of
-- a doubling backoff, so that two refused clients do not meet again at once.
function _M:rate_limit_wait(attempt)
  local b = max(2 * self.per, min(self.backoff_max, self.backoff * 2 ^ (attempt - 1)))
  return b / 2 + self.random() * b / 2
end

-- Why the failure may be repeated (nil: it may not).
local function reason_for(self, c)
  local idempotent = c.idempotent
  local res, err = c.res, c.err
  if res then
    if res.status == 429 then return self.retries > 0 and "rate_limited" or nil end
    if c.attempt > self.retries then return nil end
    if res.status == 503 and idempotent then return "unavailable" end
    -- A refused token was not processed; one more try with the clock just
    -- learnt from this response fixes a skewed local clock.
    if err.kind == "invalid_token" and c.attempt == 1 and err.clock_changed then
      return "clock_skew"
    end
    return nil
  end
  if c.attempt > self.retries then return nil end
  local kind = c.terr.kind
  -- the transport says when repeating cannot help (the contract's `final`)
  if kind == "tls" or kind == "too_large" or kind == "limiter" or c.terr.final then return nil end
  if idempotent then return "transport" end
  if c.terr.sent == false then return "not_sent" end
  return nil
end

--- policy:decide{idempotent=, res=, terr=, err=, attempt=, left=} -> reason,
-- delay | nil. `left` is what remains of the call's deadline; a wait that
-- would pass it ends the call instead (err.gave_up says why).
function _M:decide(c)
  local reason = reason_for(self, c)
  if not reason then return nil end
  local delay
  local asked = c.res and _M.retry_after(c.res.headers)
  if asked then
    delay = asked + self.random() * 0.1
  elseif reason == "rate_limited" then
    delay = self:rate_limit_wait(c.attempt)
  elseif reason == "clock_skew" then
    delay = 0
  else
    delay = self:full_jitter(c.attempt)
  end
  if delay >= c.left then
    c.err.gave_up = asked and "retry_after" or "timeout"
    c.err.retry_after = asked
    return nil
  end
  return reason, max(0, delay)
end

-- Whether a failure after a request that is not idempotent leaves its
-- effect unknown: it was sent and no clear answer came back.
local function unknown(c)
  if c.idempotent then return false end
  if not c.res then return c.terr ~= nil and c.terr.sent ~= false end
  local status = c.res.status
  if status >= 500 then return status ~= 503 end   -- a gateway gave up, or the server did
  return status >= 200 and status < 300 and c.err.kind == "bad_response"
end

--- retry.final(err, {idempotent=, res=, terr=, attempt=, timeout=, began=,
-- now=}) -> err, completed: attempts, what ran out, the outcome.
function _M.final(err, c)
  c.err = err
  err.clock_changed = nil
  err.attempts = c.attempt
  if err.gave_up == "timeout" or err.gave_up == "retry_after" then
    local spent = floor((c.now - c.began) * 10 + 0.5) / 10
    err.message = format("%s; gave up after %d attempt%s in %.1f s: %s", err.message or err.kind,
      c.attempt, c.attempt == 1 and "" or "s", spent, err.gave_up == "retry_after"
        and format("the server asked to wait %d s (Retry-After), more than is left of the call's timeout (%g s)",
          err.retry_after, c.timeout)
        or format("the call's timeout (%g s) ran out", c.timeout))
  end
  if unknown(c) then
    err.outcome = "unknown"
    err.hint = "the request may have reached coreplus, so it was not repeated: check whether it"
      .. " took effect (for a booking, list the appointments of that slot) before sending it again"
  end
  return err
end

return _M
