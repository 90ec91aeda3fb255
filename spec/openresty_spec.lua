-- OpenResty: the example booking service (examples/openresty) in nginx with
-- 2 workers, calling the mock coreplus (300 ms latency) through the ngx
-- transport. The issue's "done when": 40 concurrent incoming requests all
-- succeed, the mock sees at most 10 requests in any second and no 429, and
-- /health keeps answering quickly meanwhile (it would stall behind a
-- blocking transport).
local testing = require "coreplus.testing"
local cjson = require "cjson"

local nginx = dofile("spec/support/nginx.lua")
local openresty = dofile("spec/support/openresty.lua")

local q, capture, read_file, sleep = nginx.q, nginx.capture, nginx.read_file, nginx.sleep

local function start_service(o)
  return openresty.start(o)
end

local function get(url)
  local out = capture("curl -s --max-time 20 -w '\\n%{http_code}' " .. q(url))
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

-- A weekday from tomorrow on: practitioners work then, so there are free
-- slots (today's may all have passed).
local function a_weekday()
  local t = os.time() + 86400
  while os.date("!%w", t) == "0" or os.date("!%w", t) == "6" do t = t + 86400 end
  return os.date("!%Y-%m-%d", t)
end

describe("OpenResty: the example booking service over the ngx transport", function()
  local mock, service

  setup(function()
    mock = testing.server{ tls = true, latency = 0.3 }
    service = start_service{ mock = mock, workers = 2 }
  end)

  teardown(function()
    if service then service.stop() end
    if mock then mock:stop() end
  end)

  it("loads the LuaJIT build of the C core and the Lua layer in nginx, signs, and picks transport ngx", function()
    local code, body = get(service.url .. "/selftest")
    assert.are.equal(200, code, body)
    local r = cjson.decode(body)
    assert.truthy(tostring(r.jit):find("LuaJIT", 1, true), body)
    assert.truthy(tostring(r.so):find("/build/luajit/coreplus/core.so", 1, true), body)
    assert.are.equal("GET", r.method)
    assert.are.equal("ngx", r.transport)
  end)

  it("lists slots and books one through coreplus over verified TLS", function()
    local date = a_weekday()
    local code, body = get(service.url .. "/slots?pageSize=3&date=" .. date)
    assert.are.equal(200, code, body)
    local slots = cjson.decode(body).slots
    assert.is_true(#slots > 0, body)
    -- A patient to book for, from the mock (through the Lua 5.4 client).
    local clients = assert(mock:client():request("GET", "Client/", { query = { pageSize = 1 } }))
    local s = slots[1]
    local req = cjson.encode{ startDateTime = s.startDateTime, endDateTime = s.endDateTime,
      practitionerId = s.practitionerId, locationId = s.locationId, clientId = clients.clients[1].clientId }
    local out = capture(("curl -s --max-time 20 -w '\\n%%{http_code}' -X POST --data-binary %s %s")
      :format(q(req), q(service.url .. "/book")))
    local b, c = out:match("^(.*)\n(%d+)$")
    assert.are.equal("201", c, b)
    assert.truthy(cjson.decode(b).appointment, b)
    -- The same slot again is a clash: 409 from the service.
    out = capture(("curl -s --max-time 20 -w '\\n%%{http_code}' -X POST --data-binary %s %s")
      :format(q(req), q(service.url .. "/book")))
    assert.are.equal("409", out:match("\n(%d+)$"), out)
  end)

  it("answers a wrong method with a JSON 405 and an Allow header (not nginx's HTML 403)", function()
    for _, case in ipairs{ { "GET", "/book", "POST" }, { "POST", "/health", "GET, HEAD" },
                           { "DELETE", "/slots", "GET, HEAD" } } do
      local out = capture(("curl -s -i --max-time 10 -X %s %s"):format(case[1], q(service.url .. case[2])))
      assert.truthy(out:match("^HTTP/1.1 405"), out)
      assert.truthy(out:find("\r\nAllow: " .. case[3] .. "\r\n", 1, true), out)
      assert.truthy(out:find("\r\nContent-Type: application/json", 1, true), out)
      local body = cjson.decode(out:match("\r\n\r\n(.*)$"))
      assert.are.equal("method_not_allowed", body.error)
    end
  end)

  -- COREPLUS_OPENRESTY_LOAD=N runs N requests instead of 40 (a longer run
  -- shows the sustained rate: at most 10 per 1.025 s with the default margin).
  local N = tonumber(os.getenv("COREPLUS_OPENRESTY_LOAD") or "") or 40

  it("serves " .. N .. " concurrent requests within the limit, without 429, while /health stays quick", function()
    sleep(1.1)   -- the earlier tests' requests leave the mock's window
    mock:reset()
    local dir = service.prefix
    local date = a_weekday()
    local script = table.concat({
      "rm -f " .. q(dir .. "/done"),
      "( while [ ! -e " .. q(dir .. "/done") .. " ]; do",
      "    curl -s -o /dev/null --max-time 5 -w '%{http_code} %{time_total}\\n' " ..
        q(service.url .. "/health") .. ";",
      "    sleep 0.05;",
      "  done >" .. q(dir .. "/health.txt") .. " ) &",
      "probe=$!",
      "sleep 0.2",
      "start=$(date +%s.%N)",
      "seq " .. N .. " | xargs -P 40 -I{} curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}\\n' " ..
        q(service.url .. "/slots?pageSize=5&date=" .. date .. "&n={}") .. " >" .. q(dir .. "/load.txt"),
      "end=$(date +%s.%N)",
      "touch " .. q(dir .. "/done"),
      "wait $probe",
      "echo \"$start $end\"",
    }, "\n")
    local times = capture("bash -c " .. q(script))
    local t0, t1 = times:match("([%d.]+) ([%d.]+)")
    local total = tonumber(t1) - tonumber(t0)

    local codes, slowest = {}, 0
    for code, t in (read_file(dir .. "/load.txt") or ""):gmatch("(%d+) ([%d.]+)") do
      codes[#codes + 1] = code
      slowest = math.max(slowest, tonumber(t))
    end
    local health, worst, sum = 0, 0, 0
    for code, t in (read_file(dir .. "/health.txt") or ""):gmatch("(%d+) ([%d.]+)") do
      assert.are.equal("200", code)
      health = health + 1
      worst = math.max(worst, tonumber(t))
      sum = sum + tonumber(t)
    end
    local stats = mock:stats()
    -- The first 10 leave at once; each further 10 need per + margin.
    local ideal = math.ceil(N / 10 - 1) * 1.025 + 0.3
    print(("# openresty load: %d requests in %.2f s (ideal %.2f s, %.0f %%) (slowest %.2f s); " ..
      "mock: %d requests, max_in_window %d, 429s %d, connections %s; " ..
      "/health: %d probes, worst %.1f ms, mean %.1f ms")
      :format(N, total, ideal, ideal / total * 100, slowest,
        stats.requests, stats.max_in_window, stats.rate_limited, tostring(stats.connections),
        health, worst * 1000, health > 0 and sum / health * 1000 or 0))

    assert.are.equal(N, #codes)
    for i = 1, #codes do assert.are.equal("200", codes[i], service.error_log()) end
    assert.are.equal(N, stats.requests)
    assert.are.equal(0, stats.rate_limited)
    assert.is_true(stats.max_in_window <= 10, "max_in_window " .. stats.max_in_window)
    -- At 10 per second, far less than one at a time (N * 0.3 s).
    assert.is_true(total < ideal * 1.5 + 2, "total " .. total)
    assert.is_true(health >= 10, "health probes " .. health)
    assert.is_true(worst < 0.5, "worst /health " .. worst)
    -- The limiter's short waits are clamped: no ngx.sleep(0) warning.
    assert.is_nil(service.error_log():find("ngx.sleep(0)", 1, true))
  end)
end)
