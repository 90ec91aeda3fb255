-- Runs bench/reference_client.py (the coreplus docs' Python example) against
-- a mock: reference.run(mock, mode, n) -> {cpu=, wall=, requests=, rows=, throttled=}.
local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"

function M.run(mock, mode, n)
  local cmd = table.concat({
    "COREPLUS_BASE_URL=" .. q(mock.base_url), "COREPLUS_CONSUMER_ID=" .. q(mock.consumer_id),
    "COREPLUS_CONSUMER_SECRET=" .. q(mock.consumer_secret),
    "COREPLUS_ACCESS_TOKEN=" .. q(mock.access_token), "COREPLUS_CAFILE=" .. q(mock.cafile),
    "/usr/bin/python3", q(dir .. "/reference_client.py"), q(mode), q(n) }, " ")
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  local ok = f:close()
  local cpu, wall, requests, rows, throttled = out:match("^(%S+) (%S+) (%S+) (%S+) (%S+)")
  if not ok or not cpu then error("reference client (" .. mode .. ") failed: " .. out, 0) end
  return { cpu = tonumber(cpu), wall = tonumber(wall), requests = tonumber(requests),
    rows = tonumber(rows), throttled = tonumber(throttled) }
end

return M
