-- Runs a bench child script in N processes against a mock at once and waits
-- for them: the processes stand in for cron jobs or machines sharing a limit.
-- Each child gets: base_url, shared (or "-"), consumer_id, consumer_secret,
-- access_token, start time, requests, cafile; it prints how many failed.
local core = require "coreplus.core"

local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.q = q

--- The usual child: a coreplus client that lists locations `requests`
-- times from the start time on, through the shared limit given ("-": none).
M.CHILD = [[
local coreplus = require "coreplus"
local core = require "coreplus.core"
local base, shared, cid, secret, token, start, count, cafile = ...
local cp = coreplus.new{ base_url = base, consumer_id = cid, consumer_secret = secret,
  access_token = token, cafile = cafile, shared_limit = shared ~= "-" and shared or false,
  user_agent = "coreplus-bench/1.0" }
core.sleep(tonumber(start) - core.now())
local failed = 0
for _ = 1, tonumber(count) do
  if not cp.locations:list{} then failed = failed + 1 end
end
print(failed)
]]

--- script([text]) -> a temporary file holding text (default M.CHILD); the
-- caller removes it.
function M.script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text or M.CHILD)
  f:close()
  return path
end

--- start(mock, script, shared, procs, total, {access_token =, start =}) -> group
-- The children start together at `start` (default: in 0.5 s).
function M.start(mock, script, shared, procs, total, o)
  o = o or {}
  local start = o.start or core.now() + 0.5
  local each = total // procs
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  local args = table.concat({ q(mock.base_url), q(shared or "-"), q(mock.consumer_id),
    q(mock.consumer_secret), q(o.access_token or mock.access_token), q(("%.3f"):format(start)), q(each),
    q(mock.cafile) }, " ")
  local group = { start = start, each = each, procs = {} }
  for i = 1, procs do group.procs[i] = assert(io.popen(env .. "lua5.4 " .. q(script) .. " " .. args)) end
  return group
end

--- finish(group) -> wall seconds from the start, failed requests
function M.finish(group)
  local failed = 0
  for _, p in ipairs(group.procs) do
    failed = failed + (tonumber(p:read("a")) or group.each)
    p:close()
  end
  return core.now() - group.start, failed
end

--- run(mock, script, shared, procs, total) -> mock stats, wall seconds, failed requests
function M.run(mock, script, shared, procs, total)
  mock:reset()
  local wall, failed = M.finish(M.start(mock, script, shared, procs, total))
  return mock:stats(), wall, failed
end

return M
