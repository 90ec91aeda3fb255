--- The default transport: the C core's libcurl requests (blocking, with
-- connection reuse), its limiter and its clock.
local core = require "coreplus.core"

return {
  name = "curl",
  request = core.request,
  request_many = core.request_many,
  pipeline = core.pipeline,
  limiter = core.limiter,
  sleep = core.sleep,
  now = core.now,
  -- what a client's user_agent is followed by (the C core's default agent)
  user_agent = core.defaults and core.defaults.user_agent or ("lua-coreplus/" .. core.version),
}
