--- The log of arrivals: when each API request arrived, what it was answered,
-- which tenant (access token) sent it and when its answer was done, for
-- pictures of a client's pace (bench/) and for specs. Entries go in when the
-- answer is done (so in that order). It lives in its own shared dict, so a
-- full log can never take room from the counters; past MAX entries the
-- oldest go.
local ngx = ngx
local tonumber, format = tonumber, string.format

local _M = {}

local MAX = 50000
_M.MAX = MAX

--- record(t, status, tenant, done): t is the arrival (ngx.req.start_time():
-- when nginx read the request), done when its answer was (ngx.now()).
function _M.record(t, status, tenant, done)
  local log = ngx.shared.mock_arrivals
  if not log then return end
  local n = log:rpush("a", format("%.3f %d %d %.3f", t, status or 0, tenant or 0, done or t))
  if n and n > MAX then log:lpop("a") end
end

--- take() -> {{t =, status =, tenant =, done =}, ...} in order; the log is emptied.
function _M.take()
  local log = ngx.shared.mock_arrivals
  local out = {}
  while log do
    local e = log:lpop("a")
    if not e then break end
    local t, status, tenant, done = e:match("^(%S+) (%d+) (%d+) (%S+)$")
    out[#out + 1] = { t = tonumber(t), status = tonumber(status), tenant = tonumber(tenant), done = tonumber(done) }
  end
  return out
end

function _M.flush()
  local log = ngx.shared.mock_arrivals
  if log then log:flush_all() end
end

return _M
