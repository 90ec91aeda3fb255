-- A mock coreplus plus what core-level specs send with: the credentials
-- table, one limiter (the mock enforces 10 per second) and a builder of
-- one-row page requests.
--   local ctx = dofile("spec/support/core_mock.lua").start("my_spec")
--   ctx.mock, ctx.cred, ctx.limiter, ctx.page_req(i, extra), ctx.stop()
local core = require "coreplus.core"
local testing = require "coreplus.testing"

local M = {}

function M.start(name)
  local mock = testing.server{ tls = true }
  local ctx = {
    mock = mock,
    cred = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token },
    limiter = core.limiter{ rate = 10, per = 1, key = mock.base_url .. " " .. name },
  }
  function ctx.page_req(i, extra)
    local o = { url = mock:url(("Client/?pageNumber=%d&pageSize=1"):format(i)), cafile = mock.cafile,
      credentials = ctx.cred, limiter = ctx.limiter }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  function ctx.stop()
    mock:stop()
    ctx.limiter:close()
  end
  return ctx
end

return M
