-- The OpenResty example (examples/openresty/run, as a user starts it) with
-- its rate limit in Redis (issue 29, "done when": the TLS and Sentinel cases
-- through the OpenResty example): over rediss:// with a private CA and an
-- ACL user (and refused with a wrong CA, the password never shown), and
-- through Sentinel while the master is killed. Measured at the example's
-- mock: 429s, the most arrivals in any second, requests lost (the service
-- answered other than 200), the longest time nothing got through. Real
-- redis-server and redis-sentinel, started and stopped here; about 40 s.
local cjson = require "cjson"
local nginx = dofile("spec/support/nginx.lua")
local Redis = dofile("spec/support/redis.lua")
local T = dofile("spec/support/redis_topology.lua")
local F = dofile("spec/support/files.lua")

local q, capture, read_file, sleep = F.q, F.capture, F.read, nginx.sleep

-- examples/openresty/run --port P --latency 0 ARGS..., in the background;
-- returns it once it serves /health: { url, log(), mock = { base_url,
-- cafile }, stop() }.
local function run(args)
  local dir = F.tmpdir()
  local port = Redis.free_port()
  local log = dir .. "/run.log"
  assert(F.sh(("cd %s && exec examples/openresty/run --port %d --latency 0 %s >%s 2>&1 & echo $! >%s")
    :format(q(nginx.TOP), port, args, q(log), q(dir .. "/pid"))))
  local svc = { pid = tonumber(read_file(dir .. "/pid")), url = "http://127.0.0.1:" .. port }
  function svc.log() return read_file(log) or "" end
  function svc.error_log()
    local prefix = svc.log():match("nginx prefix (%S+),")
    return prefix and read_file(prefix .. "/logs/error.log") or ""
  end
  function svc.stop()
    if svc.pid then
      F.sh("kill -TERM " .. svc.pid .. " 2>/dev/null")
      for _ = 1, 200 do
        if F.gone(svc.pid) then break end
        sleep(0.05)
      end
      svc.pid = nil
    end
    F.sh("rm -rf " .. q(dir))
  end
  for _ = 1, 600 do
    local base, ca = svc.log():match("mock coreplus:%s+(%S+)%s+%(latency [%d.]+s; its CA: (%S+)%)")
    if base and capture("curl -s --max-time 2 " .. q(svc.url .. "/health")):find('"ok"', 1, true) then
      svc.mock = { base_url = base, cafile = ca }
      return svc
    end
    if F.gone(svc.pid) then break end
    sleep(0.1)
  end
  local text = svc.log()
  svc.stop()
  error("examples/openresty/run did not serve: " .. text)
end

-- The mock's admin endpoints (docs/mock.md).
local function admin(svc, method, name)
  local out = capture(("curl -sS --max-time 10 --cacert %s -X %s %s %s"):format(q(svc.mock.cafile), method,
    method == "POST" and "-H 'Content-Type: application/json' --data-binary '{}'" or "",
    q(svc.mock.base_url .. "/__mock/" .. name)))
  return cjson.decode(out)
end

-- A weekday from tomorrow on (free slots).
local function a_weekday()
  local t = os.time() + 86400
  while os.date("!%w", t) == "0" or os.date("!%w", t) == "6" do t = t + 86400 end
  return os.date("!%Y-%m-%d", t)
end

-- n GET /slots, 20 at a time, in the background: wait() -> the status codes.
local function load(svc, n)
  local out = F.tmpname()
  assert(F.sh(("(seq %d | xargs -P 20 -I{} curl -s -o /dev/null --max-time 30 -w '%%{http_code}\\n' %s >%s;"
    .. " touch %s) >/dev/null 2>&1 &"):format(n, q(svc.url .. "/slots?pageSize=5&date=" .. a_weekday() .. "&n={}"),
    q(out), q(out .. ".done"))))
  return function()
    for _ = 1, 1200 do
      if read_file(out .. ".done") then break end
      sleep(0.05)
    end
    local codes = {}
    for code in (read_file(out) or ""):gmatch("%d+") do codes[#codes + 1] = code end
    os.remove(out); os.remove(out .. ".done")
    return codes
  end
end

-- What the mock saw: { requests, rate_limited, max_in_window, gap, span }
-- (gap: the longest time between two arrivals; span: from the first to the
-- last).
local function measured(svc)
  local st = admin(svc, "GET", "stats")
  local ts = {}
  for _, a in ipairs(admin(svc, "GET", "arrivals").arrivals) do ts[#ts + 1] = a.t end
  table.sort(ts)
  local gap = 0
  for i = 2, #ts do gap = math.max(gap, ts[i] - ts[i - 1]) end
  return { requests = st.requests, rate_limited = st.rate_limited, max_in_window = st.max_in_window, gap = gap,
    span = #ts > 1 and ts[#ts] - ts[1] or 0 }
end

local function count(codes, want)
  local n = 0
  for _, c in ipairs(codes) do if c == want then n = n + 1 end end
  return n
end

describe("the OpenResty example with its limit in Redis", function()
  local certs

  setup(function() certs = Redis.certs() end)
  teardown(function() Redis.remove_certs(certs) end)

  describe("over TLS with a private CA and an ACL user", function()
    local server

    setup(function()
      server = Redis.new()
      server:start{ tls = certs, users = { "alice on >s3cret ~* &* +@all" } }
    end)
    teardown(function() if server then server:stop() end end)

    it("keeps 2 workers to 10 a second through Redis, without a 429", function()
      local url = server.url:gsub("rediss://", "rediss://alice:s3cret@")
      local svc = run(("--workers 2 --shared-limit %s --redis-cafile %s --on-redis-error fail")
        :format(q(url), q(certs.ca)))
      finally(svc.stop)
      assert.matches("rate limit:%s+kept in Redis at rediss://alice:%*%*%*@127%.0%.0%.1", svc.log())
      assert.is_nil(svc.log():find("s3cret", 1, true))
      local codes = load(svc, 40)()
      local m = measured(svc)
      print(("# example over rediss://: %d requests, %d x 200, 429s %d, most in 1 s %d")
        :format(m.requests, count(codes, "200"), m.rate_limited, m.max_in_window))
      assert.equals(40, count(codes, "200"), table.concat(codes, " ") .. "\n" .. svc.error_log())
      assert.equals(0, m.rate_limited)
      assert.is_true(m.max_in_window <= 10, "max_in_window " .. m.max_in_window)
      -- the window is the one in Redis: 40 bookings there
      local keys = capture(server:cli("--user alice --pass s3cret --no-auth-warning --scan --pattern "
        .. q("coreplus:limit:*")))
      local wkey = assert(keys:match("(coreplus:limit:%S+)"), keys)
      local next_n = capture(server:cli("--user alice --pass s3cret --no-auth-warning HGET " .. q(wkey) .. " next"))
      assert.is_true(tonumber(next_n) >= 40, next_n)
    end)

    it("is refused by a Redis that another CA vouches for, and never shows the password", function()
      local url = server.url:gsub("rediss://", "rediss://alice:s3cret@")
      local svc = run(("--shared-limit %s --redis-cafile %s --on-redis-error fail"):format(q(url), q(certs.other_ca)))
      finally(svc.stop)
      local out = capture(("curl -s --max-time 20 %s"):format(q(svc.url .. "/slots?pageSize=5&date=" .. a_weekday())))
      local body = cjson.decode(out)
      assert.equals("limiter", body.error, out)
      assert.matches("TLS handshake failed", body.message)
      assert.is_nil(out:find("s3cret", 1, true))
      assert.is_nil(svc.error_log():find("s3cret", 1, true))
      assert.equals(0, admin(svc, "GET", "stats").requests)
    end)
  end)

  describe("through Sentinel", function()
    local s

    setup(function() s = T.sentinel{ password = "pw" } end)
    teardown(function() if s then s:stop() end end)

    it("loses no request and sends no 429 while the master is killed", function()
      local svc = run(("--workers 2 --shared-limit %s"):format(q(s.url)))
      finally(svc.stop)
      admin(svc, "POST", "reset")
      local wait = load(svc, 100)
      sleep(3)
      s:failover()
      local codes = wait()
      local m = measured(svc)
      print(("# example through Sentinel, the master killed at 3 s: %d requests, %d x 200, 429s %d, "
        .. "most in 1 s %d, longest without an arrival %.2f s, all in %.2f s (at 10 a second: %.2f s)")
        :format(m.requests, count(codes, "200"), m.rate_limited, m.max_in_window, m.gap, m.span, 9 * 1.05))
      assert.equals(100, count(codes, "200"), table.concat(codes, " ") .. "\n" .. svc.error_log())
      assert.equals(0, m.rate_limited)
      assert.is_true(m.max_in_window <= 10, "max_in_window " .. m.max_in_window)
      assert.matches("the master is now 127.0.0.1:" .. s.master.port, svc.error_log(), 1, true)
    end)
  end)
end)
