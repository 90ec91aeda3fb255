-- Benchmark: memory while iterating 100,000 clients (1,000 pages of 100) with
-- cp.clients:each{} (mock latency 0, mock rate limit off, client limit far
-- above the load): the growth of peak RSS over the RSS before the loop. The
-- reference, measured the same way in the same run, is cp.clients:all{}
-- collecting every row into one table: what streaming saves.
-- Each side runs in a fresh process so neither sees the other's (or an
-- earlier benchmark's) peak; the peak (VmHWM) is reset through
-- /proc/self/clear_refs just before the loop, after a warm-up request and a
-- full collection.
--   lua5.4 bench/memory.lua        (or through bench/run.lua)
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"

local CLIENTS = 100000

local CHILD = [[
local base, cid, secret, token, cafile, mode = ...
local function status(field)
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match(field .. ":%s*(%d+) kB")
  f:close()
  return tonumber(kb) / 1024
end
local cp = require("coreplus").new{ base_url = base, consumer_id = cid, consumer_secret = secret,
  access_token = token, cafile = cafile, rate = 512, per = 0.05, user_agent = "coreplus-bench/1.0" }
assert(cp.clients:list{ pageSize = 1 })
collectgarbage(); collectgarbage()
local before = status("VmRSS")
local f = io.open("/proc/self/clear_refs", "w")
local reset = f and f:write("5") and f:close() and status("VmHWM") <= before + 0.5
local n, kept = 0, nil
if mode == "each" then
  for _ in cp.clients:each{} do n = n + 1 end
else
  kept = assert(cp.clients:all{})
  n = #kept
end
local peak = status("VmHWM")
collectgarbage(); collectgarbage()
-- `kept` is still in scope here, so the collection cannot free the rows.
print(before, peak, status("VmRSS"), n, reset and 1 or 0)
]]

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function measure(mock, script, mode)
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  local args = table.concat({ q(mock.base_url), q(mock.consumer_id), q(mock.consumer_secret),
    q(mock.access_token), q(mock.cafile), q(mode) }, " ")
  local p = assert(io.popen(env .. "lua5.4 " .. q(script) .. " " .. args .. " 2>&1"))
  local out = p:read("a")
  p:close()
  local before, peak, after, n, reset = out:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)%s+(%S+)")
  if not before then error("memory (" .. mode .. "): " .. out, 0) end
  return { before = tonumber(before), peak = tonumber(peak), after = tonumber(after),
    rows = tonumber(n), reset = reset == "1" }
end

local function run()
  local script = os.tmpname()
  return harness.with_mock({ tls = true, latency = 0, rate_limit = false, clients = CLIENTS }, function(mock)
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
    local each = measure(mock, script, "each")
    local all = measure(mock, script, "all")
    local grow, ref = each.peak - each.before, all.peak - all.before
    local how = each.reset and "" or " (peak not resettable: includes start-up)"
    return {
      { name = ("memory: each{} over %d clients, RSS before"):format(CLIENTS), value = each.before, unit = "MB" },
      { name = "memory: each{} peak RSS growth" .. how, value = grow, unit = "MB",
        goal = "< 10 MB", pass = grow < 10 },
      { name = "memory: each{} rows", value = each.rows, unit = "", goal = tostring(CLIENTS),
        pass = each.rows == CLIENTS },
      { name = "memory: reference all{} into a table, peak RSS growth", value = ref, unit = "MB" },
      { name = "memory: reference all{} RSS still held by the table", value = all.after - all.before,
        unit = "MB" },
      { name = "memory: each{} growth / all{} growth", value = grow / ref, unit = "x" },
    }
  end, function() os.remove(script) end)
end

return run
