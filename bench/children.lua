-- Runs a bench child script in N processes against a mock at once and waits
-- for them: the processes stand in for cron jobs or machines sharing a limit.
-- Each child gets: base_url, shared (or "-"), consumer_id, consumer_secret,
-- access_token, start time, requests, cafile; it prints how many failed.
local core = require "coreplus.core"

local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.q = q

--- run(mock, script, shared, procs, total) -> mock stats, wall seconds, failed requests
function M.run(mock, script, shared, procs, total)
  mock:reset()
  local start = core.now() + 0.5   -- every child starts at the same moment
  local each = total // procs
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  local args = table.concat({ q(mock.base_url), q(shared or "-"), q(mock.consumer_id),
    q(mock.consumer_secret), q(mock.access_token), q(("%.3f"):format(start)), q(each),
    q(mock.cafile) }, " ")
  local children, failed = {}, 0
  for i = 1, procs do children[i] = assert(io.popen(env .. "lua5.4 " .. q(script) .. " " .. args)) end
  for i = 1, procs do
    failed = failed + (tonumber(children[i]:read("a")) or each)
    children[i]:close()
  end
  return mock:stats(), core.now() - start, failed
end

return M
