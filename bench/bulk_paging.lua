-- Benchmark: bulk paging at the limit, against the mock with 300 ms of
-- latency per response and the strict 10 per second limit.
-- 1. The client path: 5,000 clients (50 pages of 100) through
--    cp.clients:each{} (fetch-ahead at the default concurrency), against the
--    physical limit (50 requests at 10 per second: 5.0 s, plus one latency
--    for the last response) and against the reference client (the coreplus
--    docs' Python example with a requests.Session) paging sequentially.
-- 2. The C core alone: 50 pages through core.request_many and the limiter,
--    and the rate a long run achieves with zero-latency responses, as a share
--    of 10/s.
--   lua5.4 bench/bulk_paging.lua        (or through bench/run.lua)
local core = require "coreplus.core"
local testing = require "coreplus.testing"
-- bench/reference.lua, also when this file is run on its own.
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local reference = require "reference"

local PAGES, LATENCY, RATE, PER = 50, 0.3, 10, 1.0
local LONG_RUN = 200
local CLIENTS, PAGE_SIZE = 5000, 100

-- The window of the mock's limit must be empty before a measured run.
local function quiet(mock)
  core.sleep(PER + 0.1)
  mock:reset()
end

local function client_path(mock)
  local cp = mock:client{}
  quiet(mock)
  local t0 = core.monotonic()
  local n = 0
  for _ in cp.clients:each{ pageSize = PAGE_SIZE } do n = n + 1 end
  local wall = core.monotonic() - t0
  local st = mock:stats()
  quiet(mock)
  local ref = reference.run(mock, "pages", PAGE_SIZE)
  local ref_st = mock:stats()
  local limit = (CLIENTS / PAGE_SIZE) / (RATE / PER) + LATENCY
  return {
    { name = ("bulk paging: each{}, %d clients (%d pages), %.0f ms latency, wall"):format(CLIENTS,
        CLIENTS / PAGE_SIZE, LATENCY * 1000), value = wall, unit = "s" },
    { name = ("bulk paging: physical limit (%d / 10 per s + latency)"):format(CLIENTS / PAGE_SIZE),
      value = limit, unit = "s" },
    { name = "bulk paging: each{} wall / physical limit", value = wall / limit, unit = "x",
      goal = "<= 1.1x", pass = wall / limit <= 1.1 },
    { name = "bulk paging: each{} 429s from the mock", value = st.rate_limited, unit = "",
      goal = "0", pass = st.rate_limited == 0 },
    { name = "bulk paging: each{} rows received", value = n, unit = "", goal = tostring(CLIENTS),
      pass = n == CLIENTS },
    { name = "bulk paging: each{} mock max requests in 1 s", value = st.max_in_window, unit = "",
      goal = "<= 10", pass = st.max_in_window <= 10 },
    { name = "bulk paging: reference (Python, Session, sequential) wall", value = ref.wall, unit = "s" },
    { name = "bulk paging: reference wall / physical limit", value = ref.wall / limit, unit = "x" },
    { name = "bulk paging: each{} wall / reference wall", value = wall / ref.wall, unit = "x" },
    { name = "bulk paging: reference 429s from the mock", value = ref_st.rate_limited, unit = "" },
  }
end

local function run()
  local mock = testing.server{ tls = true, latency = LATENCY, clients = CLIENTS }
  local ok, rows = pcall(function()
    local rows = client_path(mock)
    local cred = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token }
    local limiter = core.limiter{ rate = RATE, per = PER, key = mock.base_url .. " bench" }
    local function page(i, extra)
      local o = { url = mock:url(("Client/?pageNumber=%d&pageSize=10"):format(i)), cafile = mock.cafile,
        credentials = cred, limiter = limiter }
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
    end

    -- Warm the connection pool so the figure is about throttling.
    core.request(page(1))
    quiet(mock)

    local list = {}
    for i = 1, PAGES do list[i] = page(i) end
    local t0 = core.monotonic()
    local results = core.request_many(list, { concurrency = 10 })
    local wall = core.monotonic() - t0
    local failed = 0
    for i = 1, PAGES do
      if results[i].error or results[i].status ~= 200 then failed = failed + 1 end
    end
    local st = mock:stats()
    local limit = PAGES / (RATE / PER)

    -- Long run, no latency: what share of the allowed rate do we get?
    quiet(mock)
    list = {}
    local zero = { headers = { ["X-Mock-Latency"] = "0" } }
    for i = 1, LONG_RUN do list[i] = page(i % 50 + 1, zero) end
    t0 = core.monotonic()
    local long = core.request_many(list, { concurrency = 10 })
    local long_wall = core.monotonic() - t0
    local long_failed = 0
    for i = 1, LONG_RUN do
      if long[i].error or long[i].status ~= 200 then long_failed = long_failed + 1 end
    end
    local st2 = mock:stats()
    -- The first RATE leave at once; the rest are paced.
    local achieved = (LONG_RUN - RATE) / long_wall
    limiter:close()
    local more = {
      { name = ("request_many: %d pages, %.0f ms latency, wall"):format(PAGES, LATENCY * 1000),
        value = wall, unit = "s" },
      { name = "request_many: wall / 5 s (50 / 10 per s)", value = wall / limit, unit = "x",
        goal = "<= 1.1x", pass = wall / limit <= 1.1 },
      { name = "request_many: 429s from the mock", value = st.rate_limited, unit = "",
        goal = "0", pass = st.rate_limited == 0 },
      { name = "request_many: failed pages", value = failed, unit = "", goal = "0", pass = failed == 0 },
      { name = "request_many: mock max requests in 1 s", value = st.max_in_window, unit = "",
        goal = "<= 10", pass = st.max_in_window <= 10 },
      { name = ("limiter long run: %d requests, achieved rate"):format(LONG_RUN),
        value = 100 * achieved / (RATE / PER), unit = "% of 10/s", goal = ">= 95%",
        pass = achieved / (RATE / PER) >= 0.95 },
      { name = "limiter long run: 429s (and failures)", value = st2.rate_limited + long_failed,
        unit = "", goal = "0", pass = st2.rate_limited + long_failed == 0 },
      { name = "limiter long run: mock max requests in 1 s", value = st2.max_in_window, unit = "",
        goal = "<= 10", pass = st2.max_in_window <= 10 },
    }
    for _, r in ipairs(more) do rows[#rows + 1] = r end
    return rows
  end)
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

return run
