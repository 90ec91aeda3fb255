-- Benchmark: client CPU per 1,000 GETs of a 100-row client page (mock
-- latency 0, mock rate limit off, client limiter far above the load), each
-- client's own CPU while it loops, JSON decoding included (lua-coreplus, its
-- parts and the floor: the median of 10 rounds taken in turns):
--   * lua-coreplus: cp.clients:list{pageSize = 100};
--   * the floor, measured on the same body in the same run: a kept-alive
--     libcurl transfer (bench/peers/floor.c, one token for all: no signing)
--     plus a cjson.decode of it;
--   * the same with metrics = false, for what the metrics cost (they are
--     on by default: coreplus.metrics), and the recorder alone per attempt;
--   * lua-coreplus's own parts, for where its time goes: core.request alone
--     (signing, limiter, transfer, the result table) and core.json_decode;
--   * the peers (bench/peers/): the docs' Python with requests.get and with
--     a requests.Session; plain Lua (LuaSec + LuaSocket + luaossl +
--     lua-cjson); curl's CLI in a shell loop (all its processes' CPU).
--   lua5.4 bench/per_request.lua        (or through bench/run.lua)
local core = require "coreplus.core"
local cjson = require "cjson"
-- bench/peers.lua and bench/harness.lua, also when this file is run on its own.
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"
local peers = require "peers"

local N = 1000                          -- lua-coreplus, its parts and the floor
local PEER_N = { new = 300, session = 500, plain_lua = 300, curl_loop = 40 }   -- scaled to 1,000
local PATH = "Client/?pageSize=100"

-- CPU seconds per 1,000 of each job, measured in turns (ROUNDS rounds; in
-- each, every job does n / ROUNDS, the collector run to the end before each
-- turn) and taken as the median of the rounds, so that neither drift of the
-- machine or of the heap nor a moment when another process took the core
-- favours one job. A job is a function called once per item, or
-- {batch = function(k) return cpu_seconds end} that does k items itself and
-- says what they cost (the floor's transfers, in their own process).
local ROUNDS = 10
local function cpu_per_1000(n, jobs)
  local rounds, k = {}, n // ROUNDS
  for i = 1, #jobs do rounds[i] = {} end
  for r = 1, ROUNDS do
    for i, job in ipairs(jobs) do
      collectgarbage()
      if type(job) == "table" then
        rounds[i][r] = job.batch(k)
      else
        local t0 = os.clock()
        for _ = 1, k do job() end
        rounds[i][r] = os.clock() - t0
      end
    end
  end
  local out = {}
  for i = 1, #jobs do
    table.sort(rounds[i])
    out[i] = (rounds[i][ROUNDS // 2] + rounds[i][ROUNDS // 2 + 1]) / 2 * 1000 / k
  end
  return table.unpack(out)
end

-- Microseconds of CPU per recorder:attempt (coreplus.metrics), the median
-- of ROUNDS rounds of 20,000 attempts spread over 8 operations.
local function metrics_recorder_us()
  local rec = require("coreplus.metrics").registry():recorder("bench")
  local reqs = {}
  for i = 1, 8 do reqs[i] = { operation = "resource" .. i .. ":list", method = "GET" } end
  local res = { status = 200, waited = 0.0004 }
  local k = 20000
  local rounds = {}
  for r = 1, ROUNDS do
    collectgarbage()
    local t0 = os.clock()
    for i = 1, k do rec:attempt(reqs[i % 8 + 1], res, nil, nil, 0.012, nil, 0.25) end
    rounds[r] = (os.clock() - t0) / k * 1e6
  end
  table.sort(rounds)
  return (rounds[ROUNDS // 2] + rounds[ROUNDS // 2 + 1]) / 2
end

local function run()
  return harness.with_mock({ tls = true, latency = 0, rate_limit = false, clients = 5000 }, function(mock)
    -- 512 per 50 ms: the limiter never makes a request wait here.
    local cp = mock:client{ rate = 512, per = 0.05, user_agent = "coreplus-bench/1.0" }
    assert(cp.clients:list{ pageSize = 100 })          -- connection and clock offset
    local function list()
      local page = assert(cp.clients:list{ pageSize = 100 })
      assert(#page.items == 100)
    end
    local quiet = mock:client{ rate = 512, per = 0.05, user_agent = "coreplus-bench/1.0", metrics = false }
    assert(quiet.clients:list{ pageSize = 100 })
    local function list_without_metrics()
      local page = assert(quiet.clients:list{ pageSize = 100 })
      assert(#page.items == 100)
    end

    -- lua-coreplus's parts, on the same page
    local lim = core.limiter{ rate = 512, per = 0.05, key = mock.base_url .. " bench parts" }
    local opts = { url = mock:url(PATH), cafile = mock.cafile, limiter = lim, user_agent = "coreplus-bench/1.0",
      credentials = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
        access_token = mock.access_token } }
    local body = assert(core.request(opts)).body
    local function transfer() assert(core.request(opts).status == 200) end
    local function decode_ours() core.json_decode(body) end
    local function decode_cjson() cjson.decode(body) end
    local curl_floor = { batch = function(k)
      local per, bytes = peers.floor(mock, k, PATH)
      assert(bytes == #body, "floor: a different body")
      return per * k
    end }
    local ours, transport, decode, cjson_floor, curl, ours_quiet = cpu_per_1000(N,
      { list, transfer, decode_ours, decode_cjson, curl_floor, list_without_metrics })
    local recorder_us = metrics_recorder_us()
    lim:close()
    local floor = curl + cjson_floor

    local function peer(name, mode, n)
      local r = peers.run(mock, name, mode, n)
      assert(r.rows == n * 100, name .. " " .. mode .. ": short pages")
      return r.cpu * 1000 / n
    end
    local py_new = peer("docs_python", "new", PEER_N.new)
    local py_session = peer("docs_python", "session", PEER_N.session)
    local plain = peer("plain_lua", "get", PEER_N.plain_lua)
    local shell = peer("curl_loop", "get", PEER_N.curl_loop)
    local st = mock:stats()
    local function ratio(name, value, goal, limit)
      local r = { name = "per request: lua-coreplus vs " .. name, value = value, unit = "x", goal = goal }
      if limit then r.pass = value <= limit end
      return r
    end
    return {
      { name = "per request: lua-coreplus CPU per 1,000 GETs (100 rows, 30 KB)", value = ours, unit = "s" },
      { name = "per request: floor: libcurl transfer, kept alive, per 1,000", value = curl, unit = "s" },
      { name = "per request: floor: cjson.decode of the body, per 1,000", value = cjson_floor, unit = "s" },
      { name = "per request: floor (transfer + cjson.decode) per 1,000", value = floor, unit = "s" },
      ratio("the floor", ours / floor, "<= 1.25x", 1.25),
      { name = "per request: lua-coreplus part: core.request (sign, limiter, transfer, result) per 1,000",
        value = transport, unit = "s" },
      { name = "per request: lua-coreplus part: core.json_decode per 1,000", value = decode, unit = "s" },
      { name = "per request: lua-coreplus part: the Lua layer (the rest) per 1,000",
        value = ours - transport - decode, unit = "s" },
      { name = "per request: core.json_decode vs cjson.decode", value = decode / cjson_floor, unit = "x" },
      { name = "per request: lua-coreplus with metrics = false, CPU per 1,000", value = ours_quiet, unit = "s" },
      { name = "per request: metrics on vs off (CPU per GET)", value = ours / ours_quiet, unit = "x",
        goal = "<= 1.03x" },
      { name = "per request: the metrics recorder alone, per attempt", value = recorder_us, unit = "us" },
      { name = "per request: docs' Python, requests.get (new connection), CPU per 1,000", value = py_new,
        unit = "s" },
      { name = "per request: docs' Python with a requests.Session, CPU per 1,000", value = py_session, unit = "s" },
      { name = "per request: plain Lua (LuaSec, LuaSocket, luaossl, lua-cjson), CPU per 1,000", value = plain,
        unit = "s" },
      { name = "per request: curl CLI in a shell loop, CPU per 1,000 (every process)", value = shell, unit = "s" },
      ratio("requests.Session", ours / py_session, "<= 0.25x", 0.25),
      ratio("requests.get", ours / py_new, "<= 0.25x", 0.25),
      ratio("plain Lua", ours / plain, "< 1x", 0.999),
      ratio("the curl loop", ours / shell, "< 1x", 0.999),
      { name = "per request: non-200 responses from the mock", value = st.requests - (st.by_status["200"] or 0),
        unit = "", goal = "0", pass = st.requests == st.by_status["200"] },
    }
  end)
end

return run
