-- Benchmark: bulk paging at the limit, against the mock with 300 ms of
-- latency per response and the strict 10 per second per access token. Each
-- client below is its own practice (the mock's `tenants`), so they have a
-- budget each and the peers can run at the same time.
-- 1. The client path, alone: 5,000 clients (50 pages of 100) through
--    cp.clients:each{} (fetch-ahead at the default concurrency), against the
--    physical limit (50 requests at 10 per second: 5.0 s, plus one latency
--    for the last response).
-- 2. Then, side by side: the peers paging the same 50 pages the way their
--    users write it (bench/peers/: the docs' Python with and without a
--    Session, plain Lua, curl's CLI in a shell loop: one request at a time,
--    a second's wait after a 429), and the C core alone: 50 pages through
--    core.request_many and the limiter, then a long run with zero-latency
--    responses whose achieved rate is compared with 10/s.
-- Every figure is read from the mock's log of arrivals, per practice. The
-- arrivals of lua-coreplus and of the plain-Lua peer, per 100 ms, go to
-- bench/bulk_paging.dat for the picture.
--   lua5.4 bench/bulk_paging.lua        (or through bench/run.lua)
local core = require "coreplus.core"
-- bench/peers.lua and bench/harness.lua, also when this file is run on its own.
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"
local peers = require "peers"

local PAGES, LATENCY, RATE, PER = 50, 0.3, 10, 1.0
local LONG_RUN = 150
local CLIENTS, PAGE_SIZE = 5000, 100
local BIN = 0.1
-- practices: the index into mock.access_tokens
local OURS, CORE = 1, 2
local PEERS = {
  { tenant = 3, peer = "docs_python", mode = "pages", label = "docs' Python, Session" },
  { tenant = 4, peer = "docs_python", mode = "pages-new", label = "docs' Python, requests.get" },
  { tenant = 5, peer = "plain_lua", mode = "pages", label = "plain Lua" },
  { tenant = 6, peer = "curl_loop", mode = "pages", label = "curl CLI loop" },
}
local PLAIN = 5

-- The arrivals of one practice between two times, and the most in any
-- window of PER seconds (what the server's limit counts).
local function of(log, tenant, from, to)
  local out = {}
  for _, a in ipairs(log) do
    if a.tenant == tenant and a.t >= (from or 0) and a.t <= (to or math.huge) then out[#out + 1] = a end
  end
  return out
end

local function summary(list)
  local most, j, refused = 0, 1, 0
  for i, a in ipairs(list) do
    while list[j].t <= a.t - PER do j = j + 1 end
    if i - j + 1 > most then most = i - j + 1 end
    if a.status == 429 then refused = refused + 1 end
  end
  return { n = #list, most = most, rate_limited = refused }
end

-- Arrivals per BIN from the practice's first arrival: {count, ...}.
local function bins(list)
  local out, last = {}, 0
  if #list == 0 then return out end
  local t0 = list[1].t
  for _, a in ipairs(list) do
    local b = math.floor((a.t - t0) / BIN + 1e-9) + 1
    out[b] = (out[b] or 0) + 1
    last = math.max(last, b)
  end
  for b = 1, last do out[b] = out[b] or 0 end
  return out
end

local function write_timeline(ours, plain)
  local a, b = bins(ours), bins(plain)
  local f = assert(io.open(harness.dir .. "/bulk_paging.dat", "w"))
  f:write("# seconds from the first arrival, arrivals per 100 ms: lua-coreplus, plain Lua\n")
  for i = 1, math.max(#a, #b) + 1 do
    f:write(("%.1f %d %d\n"):format((i - 1) * BIN, a[i] or 0, b[i] or 0))
  end
  f:close()
end

-- How many of core.request_many's results are not a 200.
local function failures(results)
  local n = 0
  for _, r in ipairs(results) do
    if r.error or r.status ~= 200 then n = n + 1 end
  end
  return n
end

local function run()
  return harness.with_mock({ tls = true, latency = LATENCY, clients = CLIENTS, tenants = 6 }, function(mock)
    local limit = (CLIENTS / PAGE_SIZE) / (RATE / PER) + LATENCY

    -- 1. each{}, alone
    local cp = mock:client{ user_agent = "coreplus-bench/1.0" }
    core.sleep(PER + 0.1)
    mock:reset()
    local t0 = core.now()
    local n = 0
    for _ in cp.clients:each{ pageSize = PAGE_SIZE } do n = n + 1 end
    local wall = core.now() - t0

    -- 2. the peers and the C core, side by side
    local running = {}
    for i, p in ipairs(PEERS) do
      running[i] = peers.start(mock, p.peer, p.mode, PAGE_SIZE, { access_token = mock.access_tokens[p.tenant] })
    end
    local cred = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_tokens[CORE] }
    local limiter = core.limiter{ rate = RATE, per = PER, key = mock.base_url .. " bench" }
    local function page(i, extra)
      local o = { url = mock:url(("Client/?pageNumber=%d&pageSize=10"):format(i)), cafile = mock.cafile,
        credentials = cred, limiter = limiter, user_agent = "coreplus-bench/1.0" }
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
    end
    core.request(page(1))             -- the connection, so the figure is about throttling
    core.sleep(PER + 0.1)
    local list = {}
    for i = 1, PAGES do list[i] = page(i) end
    local m0 = core.now()
    local results = core.request_many(list, { concurrency = 10 })
    local many_wall = core.now() - m0
    local failed = failures(results)

    core.sleep(PER + 0.1)
    list = {}
    local zero = { headers = { ["X-Mock-Latency"] = "0" } }
    for i = 1, LONG_RUN do list[i] = page(i % 50 + 1, zero) end
    local l0 = core.now()
    local long = core.request_many(list, { concurrency = 10 })
    local long_wall = core.now() - l0
    local long_failed = failures(long)
    limiter:close()
    local done = {}
    for i, h in ipairs(running) do done[i] = peers.finish(h) end

    local log = mock:arrivals()
    local mine = of(log, OURS)
    local st = summary(mine)
    local many = summary(of(log, CORE, m0, l0))
    local long_st = summary(of(log, CORE, l0))
    write_timeline(mine, of(log, PLAIN))
    -- The first RATE leave at once; the rest are paced.
    local achieved = (LONG_RUN - RATE) / long_wall
    local out = {
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
      { name = "bulk paging: each{} mock max requests in 1 s", value = st.most, unit = "",
        goal = "<= 10", pass = st.most <= 10 },
    }
    for i, p in ipairs(PEERS) do
      local r, s = done[i], summary(of(log, p.tenant))
      out[#out + 1] = { name = ("bulk paging: %s, wall / physical limit, 429s"):format(p.label),
        value = ("%.1f s, %.2fx, %d"):format(r.wall, r.wall / limit, s.rate_limited), unit = "" }
      out[#out + 1] = { name = ("bulk paging: each{} wall / %s wall"):format(p.label), value = wall / r.wall,
        unit = "x", goal = "< 1x", pass = wall < r.wall and r.rows == CLIENTS }
    end
    local more = {
      { name = ("request_many: %d pages, %.0f ms latency, wall"):format(PAGES, LATENCY * 1000),
        value = many_wall, unit = "s" },
      { name = "request_many: wall / 5 s (50 / 10 per s)", value = many_wall / (PAGES / (RATE / PER)), unit = "x",
        goal = "<= 1.1x", pass = many_wall / (PAGES / (RATE / PER)) <= 1.1 },
      { name = "request_many: 429s from the mock", value = many.rate_limited, unit = "",
        goal = "0", pass = many.rate_limited == 0 },
      { name = "request_many: failed pages", value = failed, unit = "", goal = "0", pass = failed == 0 },
      { name = "request_many: mock max requests in 1 s", value = many.most, unit = "",
        goal = "<= 10", pass = many.most <= 10 },
      { name = ("limiter long run: %d requests, achieved rate"):format(LONG_RUN),
        value = 100 * achieved / (RATE / PER), unit = "% of 10/s", goal = ">= 95%",
        pass = achieved / (RATE / PER) >= 0.95 },
      { name = "limiter long run: 429s (and failures)", value = long_st.rate_limited + long_failed,
        unit = "", goal = "0", pass = long_st.rate_limited + long_failed == 0 },
      { name = "limiter long run: mock max requests in 1 s", value = long_st.most, unit = "",
        goal = "<= 10", pass = long_st.most <= 10 },
    }
    for _, r in ipairs(more) do out[#out + 1] = r end
    return out
  end)
end

return run
