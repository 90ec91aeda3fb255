--- A tiny cross-worker mutex on a shared dict: `add` is atomic across
-- nginx workers, so whoever adds the key holds the lock. The expiry frees
-- a lock whose holder died; holders never yield for long.
local ngx = ngx

local _M = {}

--- with(dict, key, fn, ...) -> fn's results; waits up to ~1 s for the lock.
function _M.with(dict, key, fn, ...)
  local lk = "lock:" .. key
  for _ = 1, 1000 do
    if dict:add(lk, true, 0.5) then
      local ok, a, b, c = pcall(fn, ...)
      dict:delete(lk)
      if not ok then error(a, 0) end
      return a, b, c
    end
    ngx.sleep(0.001)
  end
  error("mock: lock " .. key .. " not acquired")
end

return _M
