-- Benchmark: client CPU per 1,000 GETs of a 100-row client page (mock
-- latency 0, mock rate limit off, client limiter far above the load), the
-- process's own CPU (os.clock) including JSON decoding, against the coreplus
-- docs' Python example (bench/reference_client.py: requests + PyJWT, a new
-- connection per request) and the same through a requests.Session, measured
-- with time.process_time() in the same run.
--   lua5.4 bench/per_request.lua        (or through bench/run.lua)
local testing = require "coreplus.testing"
-- bench/reference.lua, also when this file is run on its own.
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local reference = require "reference"

local N = 1000          -- lua-coreplus requests
local PY_N = 500        -- each Python variant (scaled to 1,000)

local function run()
  local mock = testing.server{ tls = true, latency = 0, rate_limit = false, clients = 5000 }
  local ok, rows = pcall(function()
    -- 512 per 50 ms: the limiter never makes a request wait here.
    local cp = mock:client{ rate = 512, per = 0.05 }
    assert(cp.clients:list{ pageSize = 100 })          -- connection and clock offset
    local t0 = os.clock()
    for _ = 1, N do
      local page = assert(cp.clients:list{ pageSize = 100 })
      assert(#page.items == 100)
    end
    local ours = (os.clock() - t0) * 1000 / N
    local new = reference.run(mock, "new", PY_N)
    local session = reference.run(mock, "session", PY_N)
    assert(new.rows == PY_N * 100 and session.rows == PY_N * 100, "reference: short pages")
    local ref_new, ref_session = new.cpu * 1000 / PY_N, session.cpu * 1000 / PY_N
    local st = mock:stats()
    return {
      { name = "per request: lua-coreplus CPU per 1,000 GETs (100 rows)", value = ours, unit = "s" },
      { name = "per request: reference (requests.get, new connection) CPU per 1,000", value = ref_new,
        unit = "s" },
      { name = "per request: reference with requests.Session CPU per 1,000", value = ref_session,
        unit = "s" },
      { name = "per request: lua-coreplus vs reference (new connection)", value = ours / ref_new,
        unit = "x", goal = "<= 0.25x", pass = ours / ref_new <= 0.25 },
      { name = "per request: lua-coreplus vs reference with Session", value = ours / ref_session,
        unit = "x", goal = "<= 0.25x", pass = ours / ref_session <= 0.25 },
      { name = "per request: non-200 responses from the mock", value = st.requests - (st.by_status["200"] or 0),
        unit = "", goal = "0", pass = st.requests == st.by_status["200"] },
    }
  end)
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

return run
