-- The booking page under load (issue 19): 200 concurrent page loads through
-- nginx with 2 workers, the mock coreplus at 300 ms latency. 50 each of the
-- four step pages that read coreplus (clinic and practitioner lists from the
-- page's cache, free days and times live), all started at once, while
-- /health is probed every 20 ms. Figures: /health p99, page load p50/p99, the
-- mock's 429s and its most arrivals in any 1-second window. The reference in
-- the same run is the ideal time for the coreplus requests at 10 per second.
package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/?.lua;" .. package.path
local harness = require "harness"

local nginx = harness.support("nginx")
local openresty = harness.support("openresty")

local q, capture, read_file = nginx.q, nginx.capture, nginx.read_file

local LOADS, PER_PAGE = 200, 50

local values = openresty.input_values

local function escape(s)
  return (tostring(s):gsub("&amp;", "&"):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function percentile(list, p)
  table.sort(list)
  if #list == 0 then return 0 end
  return list[math.max(1, math.ceil(#list * p))]
end

return function()
  os.execute("make -s build LUA=luajit >/dev/null")
  return harness.with_mock({ tls = true, latency = 0.3 }, function(mock)
    local service = openresty.start{ mock = mock, workers = 2, name = "openresty-bench" }
    local finished, result = pcall(function()
      local base = service.url
      -- One walk to learn the ids the step pages take.
      local home = capture("curl -s " .. q(base .. "/"))
      local loc = values(home, "location")[1]
      local who = capture("curl -s " .. q(base .. "/practitioner?location=" .. loc))
      local prac, kind = values(who, "practitioner")[1], values(who, "type")[1]
      local step3 = ("/date?location=%s&practitioner=%s&type=%s"):format(loc, prac, kind)
      local day = values(capture("curl -s " .. q(base .. step3)), "date")[1]
      local urls = { "/", "/practitioner?location=" .. loc, step3, step3 .. "&date=" .. escape(day) }
      local list = {}
      for i = 1, LOADS do list[i] = base .. urls[(i - 1) % #urls + 1] end
      local dir = service.prefix
      local f = assert(io.open(dir .. "/urls.txt", "w"))
      f:write(table.concat(list, "\n"), "\n")
      f:close()
      os.execute("sleep 1.2")
      mock:reset()
      local script = table.concat({
        "rm -f " .. q(dir .. "/done"),
        "( while [ ! -e " .. q(dir .. "/done") .. " ]; do",
        "    curl -s -o /dev/null --max-time 5 -w '%{http_code} %{time_total}\\n' " .. q(base .. "/health") .. ";",
        "    sleep 0.02;",
        "  done >" .. q(dir .. "/health.txt") .. " ) &",
        "probe=$!",
        "sleep 0.3",
        "start=$(date +%s.%N)",
        "xargs -P " .. LOADS .. " -n 1 curl -s -o /dev/null --max-time 60 -w '%{http_code} %{time_total}\\n' <" ..
          q(dir .. "/urls.txt") .. " >" .. q(dir .. "/load.txt"),
        "end=$(date +%s.%N)",
        "touch " .. q(dir .. "/done"),
        "wait $probe",
        "echo \"$start $end\"",
      }, "\n")
      local t0, t1 = capture("bash -c " .. q(script)):match("([%d.]+) ([%d.]+)")
      local wall = tonumber(t1) - tonumber(t0)
      local loads, bad = {}, 0
      for code, t in (read_file(dir .. "/load.txt") or ""):gmatch("(%d+) ([%d.]+)") do
        loads[#loads + 1] = tonumber(t)
        if code ~= "200" then bad = bad + 1 end
      end
      local health = {}
      for _, t in (read_file(dir .. "/health.txt") or ""):gmatch("(%d+) ([%d.]+)") do
        health[#health + 1] = tonumber(t)
      end
      local st = mock:stats()
      local warnings = select(2, service.error_log():gsub("ngx%.sleep%(0%)", ""))
      local ideal = math.ceil(st.requests / 10 - 1) * 1.05 + 0.3
      local p99 = percentile(health, 0.99)
      return {
        { name = ("openresty page: %d concurrent loads (%d per step page), 2 workers, mock 300 ms"):format(#loads,
          PER_PAGE), value = wall, unit = "s" },
        { name = "openresty page: loads that were not 200", value = bad, unit = "", goal = "0", pass = bad == 0 },
        { name = "openresty page: page load p50 / p99", value = ("%.2f / %.2f"):format(percentile(loads, 0.5),
          percentile(loads, 0.99)), unit = "s" },
        { name = "openresty page: coreplus requests, wall / ideal at 10 per second", value = ("%d, %.2fx"):format(
          st.requests, wall / ideal), unit = "" },
        { name = ("openresty page: /health p99 over %d probes"):format(#health), value = p99 * 1000, unit = "ms",
          goal = "< 50 ms", pass = p99 < 0.05 },
        { name = "openresty page: 429s from the mock", value = st.rate_limited, unit = "", goal = "0",
          pass = st.rate_limited == 0 },
        { name = "openresty page: most arrivals at the mock in any 1 s", value = st.max_in_window, unit = "",
          goal = "<= 10", pass = st.max_in_window <= 10 },
        { name = "openresty page: ngx.sleep(0) warnings in error.log", value = warnings, unit = "", goal = "0",
          pass = warnings == 0 },
      }
    end)
    service.stop()
    if not finished then error(result, 0) end
    return result
  end)
end
