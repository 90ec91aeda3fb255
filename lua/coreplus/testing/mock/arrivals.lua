--- The log of arrivals: when each API request arrived, what it was answered
-- and which tenant (access token) sent it, for pictures of a client's pace
-- (bench/) and for specs. It lives in its own shared dict, so a full log can
-- never take room from the counters; past MAX entries the oldest go.
local ngx = ngx
local tonumber, format = tonumber, string.format

local _M = {}

local MAX = 50000
_M.MAX = MAX

--- record(t, status, tenant): t is the arrival (ngx.req.start_time()).
function _M.record(t, status, tenant)
  local log = ngx.shared.mock_arrivals
  if not log then return end
  local n = log:rpush("a", format("%.3f %d %d", t, status or 0, tenant or 0))
  if n and n > MAX then log:lpop("a") end
end

--- take() -> {{t =, status =, tenant =}, ...} in order; the log is emptied.
function _M.take()
  local log = ngx.shared.mock_arrivals
  local out = {}
  while log do
    local e = log:lpop("a")
    if not e then break end
    local t, status, tenant = e:match("^(%S+) (%d+) (%d+)$")
    out[#out + 1] = { t = tonumber(t), status = tonumber(status), tenant = tonumber(tenant) }
  end
  return out
end

function _M.flush()
  local log = ngx.shared.mock_arrivals
  if log then log:flush_all() end
end

return _M
