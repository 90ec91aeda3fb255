--- sleep(seconds) for the OpenResty transport: ngx.sleep for a wait of any
-- length. ngx.sleep counts whole milliseconds, so a wait under 1 ms becomes
-- ngx.sleep(0), which a stock nginx logs as a warning on every call ("called
-- without delayed events patch"): a busy limiter filled error.log with them.
-- Such a wait is clamped up to 1 ms (a limiter that waits a little longer
-- stays within its limit); a wait of 0 or less does not sleep at all.
-- luacheck: std luajit+ngx_lua
local ngx = ngx

local MIN_WAIT = 0.001

return function(seconds)
  if seconds and seconds > 0 then
    ngx.sleep(seconds < MIN_WAIT and MIN_WAIT or seconds)
  end
end
