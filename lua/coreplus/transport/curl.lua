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
}
