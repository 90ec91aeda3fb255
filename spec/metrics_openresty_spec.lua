-- Metrics in OpenResty (coreplus.metrics.ngx, examples/openresty): every
-- worker's counts added up in the shared dict and served at /metrics to this
-- machine only; the text passes promtool, and a real Prometheus server
-- scrapes it and answers a query with the counter.
local testing = require "coreplus.testing"
local cjson = require "cjson"

local nginx = dofile("spec/support/nginx.lua")
local openresty = dofile("spec/support/openresty.lua")
local P = dofile("spec/support/prometheus.lua")
local F = dofile("spec/support/files.lua")

local q, capture = F.q, F.capture

local SLOTS = 'coreplus_requests_total{practice="north-clinic",operation="availability_slots:list",method="GET",'
  .. 'status_class="2xx",error="none"}'

local function get(url, extra)
  local out = capture(("curl -s --max-time 10 %s -D - %s"):format(extra or "", q(url)))
  local head, body = out:match("^(.-\r\n)\r\n(.*)$")
  return tonumber((head or ""):match("^HTTP/%S+ (%d+)")), body or "", head or ""
end

local function value(text, series)
  return tonumber(text:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)\n"))
end

-- An IPv4 address of this machine that is not loopback, or nil.
local function outside_address()
  return capture("ip -o -4 addr show scope global 2>/dev/null"):match("inet (%d+%.%d+%.%d+%.%d+)/")
end

describe("metrics in OpenResty: the example service's /metrics", function()
  local mock, service, sent

  -- /metrics until the dict holds n of the slots counter (workers flush
  -- once a second).
  local function scrape_until(n)
    local text
    for _ = 1, 60 do
      local _, body = get(service.url .. "/metrics")
      text = body
      if value(text, SLOTS) == n then return text end
      nginx.sleep(0.1)
    end
    error("the slots counter never reached " .. n .. ":\n" .. tostring(text))
  end

  setup(function()
    mock = testing.server{ tls = true, latency = 0 }
    service = openresty.start{ mock = mock, workers = 2, name = "metrics-spec",
      env = { COREPLUS_PRACTICE = "north-clinic" } }
    -- 12 at once, so that both workers take some (today's slots: each is
    -- one coreplus request, whether or not any slot is left).
    local url = service.url .. "/slots?pageSize=3"
    sent = 12
    assert(F.sh(("for i in $(seq %d); do curl -s -o /dev/null --max-time 20 %s & done; wait"):format(sent, q(url))))
  end)

  teardown(function()
    if service then service.stop() end
    if mock then mock:stop() end
  end)

  it("adds up every worker's requests: the counter equals what coreplus received", function()
    local received = mock:stats().requests
    assert.is_true(received >= sent, "mock saw " .. received)
    scrape_until(received)
  end)

  it("serves the Prometheus text format that promtool accepts", function()
    if not P.available() then return pending("promtool is not installed (Debian package prometheus)") end
    local text = scrape_until(mock:stats().requests)
    local code, _, head = get(service.url .. "/metrics")
    assert.equal(200, code)
    assert.truthy(head:lower():find("content-type: text/plain; version=0.0.4; charset=utf-8", 1, true), head)
    assert.equal("rc=0\n", P.check_metrics(text))
  end)

  it("answers 403 to an address that is not loopback, and 200 to 127.0.0.1", function()
    local outside = outside_address()
    if not outside then return pending("this machine has no non-loopback IPv4 address to connect from") end
    -- From this machine's own outside address to the loopback listener:
    -- nginx sees that address as the client's.
    assert.equal(403, (get(service.url .. "/metrics", "--interface " .. outside)))
    assert.equal(200, (get(service.url .. "/health", "--interface " .. outside)))
    assert.equal(200, (get(service.url .. "/metrics", "--interface 127.0.0.1")))
  end)

  it("is scraped by a real Prometheus server, which answers a query with the counter", function()
    if not P.available() then return pending("prometheus is not installed (Debian package prometheus)") end
    local n = mock:stats().requests
    scrape_until(n)
    local prom = P.start{ targets = { "127.0.0.1:" .. service.ports[1] } }
    local ok, err = pcall(function()
      local expr = 'sum(coreplus_requests_total{operation="availability_slots:list",status_class="2xx"})'
      local result = prom.wait(expr, function(r) return #r == 1 and tonumber(r[1].value[2]) == n end, 20)
      assert.equal(n, tonumber(result[1].value[2]))
      local up = prom.wait("up", function(r) return #r == 1 end, 5)
      assert.equal("1", up[1].value[2], cjson.encode(up))
    end)
    prom.stop()
    assert(ok, err)
  end)
end)
