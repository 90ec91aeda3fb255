-- Child processes that stand in for machines sharing one rate limit: each
-- makes a coreplus client with the given options and sends `count`
-- requests to the mock, counting outcomes by error kind.
--   local children = dofile("spec/support/limit_children.lua")
--   local stats, outs, wall = children.run(mock, { procs = 2, count = 25,
--     options = { shared_limit = url, redis_cafile = ca, ... },
--     at = { [1.5] = function() ... end } })      -- seconds after the start
--   stats: mock:stats() (requests, rate_limited, max_in_window)
--   outs[i] = { ok, rate_limited, limiter, other, stderr, raw, longest }
--     (longest: the child's longest time between two successes, seconds)
--   wall: seconds from the common start until the last child ended
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")

local M = {}

-- A Lua table constructor for a flat table of strings, numbers and booleans.
local function literal(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = ("[%q] = %s"):format(k, type(v) == "string" and ("%q"):format(v) or tostring(v))
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local CHILD = [[
local coreplus = require "coreplus"
local core = require "coreplus.core"
local o = %s
o.base_url, o.consumer_id, o.consumer_secret = %q, %q, %q
o.access_token, o.cafile = %q, %q
if o.retries == nil then o.retries = 0 end
-- (named, so that a child's stderr holds only what the spec is about)
if o.user_agent == nil then o.user_agent = "limit-children-spec/1.0" end
if o.issuer == nil then o.issuer = "https://spec.example" end
local cp = coreplus.new(o)
core.sleep(%f - core.now())
local c = { ok = 0, rate_limited = 0, limiter = 0, other = 0 }
local last, longest = core.now(), 0
for _ = 1, %d do
  local body, err = cp:request("GET", "Location/")
  if body then
    c.ok = c.ok + 1
    longest = math.max(longest, core.now() - last)
    last = core.now()
  elseif c[err.kind] then c[err.kind] = c[err.kind] + 1
  else c.other = c.other + 1; io.stderr:write(tostring(err), "\n") end
end
print(c.ok, c.rate_limited, c.limiter, c.other, ("%%.3f"):format(longest))
]]

function M.run(mock, o)
  mock:reset()
  local start = core.now() + (o.lead or 0.6)
  local script = F.tmpname()
  F.write(script, CHILD:format(literal(o.options or {}), mock.base_url, mock.consumer_id,
    mock.consumer_secret, mock.access_token, mock.cafile, start, o.count))
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(F.q(os.getenv("COREPLUS_CHILD_LUA_CPATH")
    or package.cpath), F.q(package.path))
  local procs, errs = {}, {}
  for i = 1, o.procs do
    errs[i] = F.tmpname()
    procs[i] = assert(io.popen(env .. "lua5.4 " .. F.q(script) .. " 2>" .. F.q(errs[i])))
  end
  local times = {}
  for t in pairs(o.at or {}) do times[#times + 1] = t end
  table.sort(times)
  for _, t in ipairs(times) do
    core.sleep(start + t - core.now())
    o.at[t]()
  end
  local outs = {}
  for i = 1, o.procs do
    local line = procs[i]:read("a")
    procs[i]:close()
    local ok, rl, lim, other, longest = line:match("(%d+)%s+(%d+)%s+(%d+)%s+(%d+)%s+(%S+)")
    outs[i] = { ok = tonumber(ok), rate_limited = tonumber(rl), limiter = tonumber(lim),
      other = tonumber(other), longest = tonumber(longest), stderr = F.read(errs[i]) or "", raw = line }
    os.remove(errs[i])
  end
  local wall = core.now() - start
  os.remove(script)
  return mock:stats(), outs, wall
end

return M
