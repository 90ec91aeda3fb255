-- Benchmark: several processes on one machine sharing one coreplus limit.
-- 3 processes x 40 requests as fast as their limiters allow, once with the
-- limiter window in a shared file (core.limiter{shared = path}) and once with
-- a private limiter each. Reports what the mock saw: the most requests in any
-- 1-second window, the 429s, and the achieved rate with the shared file.
--   lua5.4 bench/cross_process.lua        (or through bench/run.lua)
local core = require "coreplus.core"
local testing = require "coreplus.testing"

local PROCS, EACH = 3, 40

local CHILD = [[
local core = require "coreplus.core"
local base, shared, cid, secret, token, start, count, url, cafile = ...
local lim = core.limiter{ rate = 10, per = 1, key = base, shared = shared ~= "-" and shared or nil }
local cred = { consumer_id = cid, consumer_secret = secret, access_token = token }
core.sleep(tonumber(start) - core.now())
for _ = 1, tonumber(count) do
  core.request{ url = url, cafile = cafile, credentials = cred, limiter = lim }
end
]]

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function round(mock, script, shared)
  core.sleep(1.1)
  mock:reset()
  local start = core.now() + 0.5
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  local args = table.concat({ q(mock.base_url), q(shared or "-"), q(mock.consumer_id),
    q(mock.consumer_secret), q(mock.access_token), q(("%.3f"):format(start)), q(EACH),
    q(mock:url("Location/")), q(mock.cafile) }, " ")
  local procs = {}
  for i = 1, PROCS do procs[i] = assert(io.popen(env .. "lua5.4 " .. q(script) .. " " .. args)) end
  for i = 1, PROCS do procs[i]:read("a"); procs[i]:close() end
  local wall = core.now() - start
  return mock:stats(), wall
end

local function run()
  local mock = testing.server{ tls = true }
  local script = os.tmpname()
  local path = os.tmpname()
  os.remove(path)
  local ok, rows = pcall(function()
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
    local shared, wall = round(mock, script, path)
    local private = round(mock, script, nil)
    local n = PROCS * EACH
    local rate = (n - 10) / wall
    return {
      { name = ("cross-process: %d x %d, shared file, max in 1 s"):format(PROCS, EACH),
        value = shared.max_in_window, unit = "", goal = "<= 10", pass = shared.max_in_window <= 10 },
      { name = "cross-process: shared file, 429s", value = shared.rate_limited, unit = "",
        goal = "0", pass = shared.rate_limited == 0 },
      { name = "cross-process: shared file, achieved rate", value = 100 * rate / 10,
        unit = "% of 10/s", goal = ">= 95%", pass = rate / 10 >= 0.95 },
      { name = "cross-process: private limiters, max in 1 s", value = private.max_in_window, unit = "" },
      { name = "cross-process: private limiters, 429s", value = private.rate_limited, unit = "" },
    }
  end)
  os.remove(script)
  os.remove(path)
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

if ... == nil then
  for _, r in ipairs(run()) do
    print(("%-55s %10.3f %-10s %s %s"):format(r.name, r.value, r.unit or "", r.goal or "",
      r.pass == nil and "" or (r.pass and "ok" or "MISSED")))
  end
end
return run
