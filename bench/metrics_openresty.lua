-- Metrics in OpenResty (issue 30): /health p99 of the example service with
-- and without metrics, under the same load. The example (2 workers) calls the
-- mock coreplus (300 ms latency) through the ngx transport: 4 clients loop on
-- /slots (each a coreplus request, counted by the metrics) while wrk loads
-- /health (which never calls coreplus) for DURATION seconds. "With": the
-- example as shipped (each worker flushes to the shared dict every second)
-- and /metrics scraped every 200 ms (75 times more often than Prometheus's
-- default 15 s); "without": the same conf without the flush timer and the
-- /metrics location (clients still count in their worker's Lua tables,
-- which is all the request path ever does), and the same curl loop fetching
-- a static file instead, so that both carry the scraper's processes. The
-- two run in turns, ROUNDS each, which one goes first alternating (ABBA);
-- figures are the median of the rounds' p99.
-- Needs wrk (Debian package wrk).
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"

local nginx = harness.support("nginx")
local openresty = harness.support("openresty")
local F = harness.support("files")

local q, capture = F.q, F.capture

local ROUNDS, DURATION = 4, 8

-- wrk's "99%  1.23ms" line, in milliseconds.
local function p99(out)
  local v, unit = out:match("\n%s*99%%%s+([%d.]+)(%a+)")
  local scale = { us = 0.001, ms = 1, s = 1000 }
  assert(v and scale[unit], "wrk printed no 99% line: " .. out)
  return tonumber(v) * scale[unit]
end

local function requests_per_s(out)
  return tonumber(out:match("Requests/sec:%s*([%d.]+)"))
end

local function without_metrics(conf)
  conf = conf:gsub("\n[^\n]*init_worker_by_lua_block[^\n]*", "")
  conf = conf:gsub("\n%s*location = /metrics %b{}", "")
  assert(not conf:find(".start()", 1, true) and not conf:find("location = /metrics", 1, true))
  return conf
end

local function median(values)
  local list = { table.unpack(values) }
  table.sort(list)
  local n = #list
  return n % 2 == 1 and list[(n + 1) / 2] or (list[n / 2] + list[n / 2 + 1]) / 2
end

-- One round: the service started with `edit`, loaded, stopped.
local function round(mock, edit, scrape_path)
  local service = openresty.start{ mock = mock, workers = 2, name = "metrics-bench", edit = edit }
  local ok, result = pcall(function()
    local dir = service.prefix
    local slots = service.url .. "/slots?pageSize=5&days=1"
    local loops = {}
    for i = 1, 4 do
      loops[i] = ("( while [ ! -e %s ]; do curl -s -o /dev/null --max-time 10 %s; done ) &")
        :format(q(dir .. "/done"), q(slots))
    end
    loops[#loops + 1] = ("( while [ ! -e %s ]; do curl -s -o /dev/null --max-time 5 %s; sleep 0.2; done ) &")
      :format(q(dir .. "/done"), q(service.url .. scrape_path))
    local out = capture(table.concat(loops, " ") .. (" sleep 1; wrk -t1 -c4 -d%ds --latency %s 2>&1; touch %s; wait")
      :format(DURATION, q(service.url .. "/health"), q(dir .. "/done")))
    local metrics = capture("curl -s " .. q(service.url .. scrape_path))
    return { p99 = p99(out), rps = requests_per_s(out),
      counted = tonumber(metrics:match('\ncoreplus_requests_total{[^}]*operation="availability_slots:list"'
        .. '[^}]*status_class="2xx"[^}]*} (%d+)')) }
  end)
  service.stop()
  nginx.sleep(1.2)   -- the next service's limiter starts afresh: let this one's second pass
  if not ok then error(result, 0) end
  return result
end

return function()
  if not F.sh("command -v wrk >/dev/null") then error("wrk is not installed (Debian package wrk)", 0) end
  os.execute("make -s build LUA=luajit >/dev/null")
  return harness.with_mock({ tls = true, latency = 0.3 }, function(mock)
    local with, without, rps_with, rps_without, counted = {}, {}, {}, {}, 0
    for r = 1, ROUNDS do
      local a, b
      if r % 2 == 1 then
        a = round(mock, without_metrics, "/booking.css")
        b = round(mock, nil, "/metrics")
      else
        b = round(mock, nil, "/metrics")
        a = round(mock, without_metrics, "/booking.css")
      end
      without[r], rps_without[r] = a.p99, a.rps
      with[r], rps_with[r] = b.p99, b.rps
      counted = counted + (b.counted or 0)
    end
    local st = mock:stats()
    local function list(t)
      local out = {}
      for i, v in ipairs(t) do out[i] = ("%.2f"):format(v) end
      return table.concat(out, " ")
    end
    return {
      { name = "metrics, OpenResty: /health p99 with metrics (flush 1 s, scraped every 0.2 s)",
        value = median(with), unit = "ms" },
      { name = "metrics, OpenResty: /health p99 without metrics", value = median(without), unit = "ms" },
      { name = "metrics, OpenResty: /health p99 with vs without", value = median(with) / median(without),
        unit = "x", goal = "~1x" },
      { name = "metrics, OpenResty: /health p99 of each round, ms (with | without)",
        value = list(with) .. " | " .. list(without) },
      { name = "metrics, OpenResty: /health requests per second with / without",
        value = ("%.0f / %.0f"):format(median(rps_with), median(rps_without)) },
      { name = "metrics, OpenResty: slots requests counted in /metrics (all rounds with)", value = counted, unit = "" },
      { name = "metrics, OpenResty: 429s from the mock", value = st.rate_limited or 0, unit = "", goal = "0",
        pass = (st.rate_limited or 0) == 0 },
    }
  end)
end
