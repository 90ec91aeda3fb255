--- The per-access-token rate limit: at most `limit` requests whose arrival
-- times fall in any `window`-second interval, counted across all workers.
--
-- A sliding log of accepted arrival times per token lives in one shared
-- dict value (space-separated times), updated under a cross-worker lock.
-- Refused requests are not logged, as API gateways do: a client that keeps
-- retrying is refused only while the window is full and is served again as
-- soon as the oldest accepted request slides out, instead of being blocked
-- for as long as it keeps knocking. Every arrival (refused or not) also
-- goes into a second log that measures `max_in_window`, the largest number
-- of requests that arrived within one window, which is what a client's
-- throttle must keep at or below the limit. (Each arrival is also logged
-- for `GET /__mock/arrivals`: coreplus.testing.mock.arrivals.)
local lock = require "coreplus.testing.mock.lock"

local ngx = ngx
local tonumber, format, concat = tonumber, string.format, table.concat

local _M = {}

--- times(dict, key, cutoff) -> list of the logged times after cutoff
local function times(dict, key, cutoff)
  local out = {}
  local s = dict:get(key)
  if s then
    for x in s:gmatch("%S+") do
      local t = tonumber(x)
      if t > cutoff then out[#out + 1] = t end
    end
  end
  return out
end

local function save(dict, key, list, t)
  list[#list + 1] = t
  for i = 1, #list do list[i] = format("%.3f", list[i]) end
  dict:set(key, concat(list, " "), 60)
end

local function admit(dict, stats, token, t, limit, window, enforce)
  local cutoff = t - window
  local arrivals = times(dict, "ar:" .. token, cutoff)
  save(dict, "ar:" .. token, arrivals, t)
  local seen = #arrivals
  if seen > (stats:get("max_in_window") or 0) then stats:set("max_in_window", seen) end
  local accepted = times(dict, "ok:" .. token, cutoff)
  if enforce and #accepted >= limit then
    local oldest = accepted[1]
    for _, x in ipairs(accepted) do if x < oldest then oldest = x end end
    return false, oldest + window - t
  end
  save(dict, "ok:" .. token, accepted, t)
  return true
end

--- admit(token, t, opts) -> true | false, seconds_until_free
-- t: the request's arrival time (ngx.req.start_time()).
-- opts: {limit = 10, window = 1.0, enforce = true}
function _M.admit(token, t, opts)
  local dict, stats = ngx.shared.mock_rate, ngx.shared.mock_stats
  return lock.with(dict, "rate", admit, dict, stats, token, t, opts.limit or 10,
    opts.window or 1.0, opts.enforce ~= false)
end

return _M
