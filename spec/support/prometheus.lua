-- A real Prometheus server (Debian's prometheus) for specs, on a free
-- 127.0.0.1 port with a temporary config and data directory, scraping the
-- given targets every second:
--   local P = dofile("spec/support/prometheus.lua")
--   if not P.available() then pending(...) end
--   local prom = P.start{ targets = { "127.0.0.1:8080" }, path = "/metrics" }
--   prom.query(expr) -> the API's data.result (a list) | nil, why
--   prom.wait(expr, check, seconds) -> result | error     check(result) -> true when done
--   prom.stop()      SIGTERM, waits; removes the directory (call it in a finally)
--   P.check_metrics(text) -> promtool check metrics's output and "rc=N" (clean: "rc=0\n")
-- It runs under `timeout`, so that a spec that dies without stop() cannot
-- leave it running for more than LIFETIME seconds.
local cjson = require "cjson"
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local free_port = dofile("spec/support/redis.lua").free_port

local q, sh, capture, read, gone = F.q, F.sh, F.capture, F.read, F.gone

local _M = {}

local LIFETIME = 180

function _M.check_metrics(text)
  local path = F.tmpname()
  F.write(path, text)
  local out = capture("promtool check metrics < " .. q(path) .. " 2>&1; echo rc=$?")
  os.remove(path)
  return out
end

function _M.available()
  return sh("command -v prometheus >/dev/null && command -v promtool >/dev/null")
end

function _M.start(o)
  local dir = F.tmpdir()
  local port = free_port()
  local targets = {}
  for i, t in ipairs(o.targets) do targets[i] = "'" .. t .. "'" end
  F.write(dir .. "/prometheus.yml", table.concat({
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "scrape_configs:",
    "  - job_name: coreplus",
    "    metrics_path: " .. (o.path or "/metrics"),
    "    static_configs:",
    "      - targets: [" .. table.concat(targets, ", ") .. "]",
    "" }, "\n"))
  local prom = { dir = dir, port = port, url = "http://127.0.0.1:" .. port }
  assert(sh(("timeout %d prometheus --config.file=%s --storage.tsdb.path=%s --web.listen-address=127.0.0.1:%d"
    .. " --log.level=warn >%s 2>&1 & echo $! >%s"):format(LIFETIME, q(dir .. "/prometheus.yml"), q(dir .. "/data"),
    port, q(dir .. "/log"), q(dir .. "/pid"))))
  prom.pid = tonumber(read(dir .. "/pid"))

  function prom.stop()
    if prom.pid then
      sh("kill " .. prom.pid .. " 2>/dev/null")
      for _ = 1, 250 do
        if gone(prom.pid) then break end
        core.sleep(0.02)
      end
      if not gone(prom.pid) then sh("kill -KILL " .. prom.pid .. " 2>/dev/null") end
      prom.pid = nil
    end
    sh("rm -rf " .. q(dir))
  end

  function prom.query(expr)
    local out = capture(("curl -s --max-time 5 %s --data-urlencode %s"):format(q(prom.url .. "/api/v1/query"),
      q("query=" .. expr)))
    local ok, doc = pcall(cjson.decode, out)
    if not ok or type(doc) ~= "table" then return nil, "not JSON: " .. out end
    if doc.status ~= "success" then return nil, out end
    return doc.data.result
  end

  function prom.wait(expr, check, seconds)
    local t, last = 0, nil
    while t < seconds do
      local result, why = prom.query(expr)
      last = result and cjson.encode(result) or why
      if result and check(result) then return result end
      core.sleep(0.25); t = t + 0.25
    end
    error(("prometheus: %s did not come true in %g s; last: %s; log: %s"):format(expr, seconds, tostring(last),
      tostring(read(dir .. "/log"))), 2)
  end

  local ready = false
  for _ = 1, 200 do
    if capture("curl -s -o /dev/null -w '%{http_code}' --max-time 1 " .. q(prom.url .. "/-/ready")) == "200" then
      ready = true
      break
    end
    core.sleep(0.05)
  end
  if not ready then
    local log = read(dir .. "/log")
    prom.stop()
    error("prometheus did not start: " .. tostring(log), 2)
  end
  return prom
end

return _M
