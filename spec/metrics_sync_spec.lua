-- The metrics of coreplus sync (coreplus.metrics.sync): rows read and
-- written, runs, failures, the last success and the lag per practice and
-- resource, beside the library's own series, in a text promtool accepts;
-- served by `coreplus sync --watch S --metrics PORT` while it syncs and waits.
local sync_metrics = require "coreplus.metrics.sync"
local core = require "coreplus.core"

local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/prometheus.lua")
local C = dofile("spec/support/cli.lua")
local free_port = dofile("spec/support/redis.lua").free_port

local function value(text, series)
  return tonumber(text:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)\n"))
end

local STATS = {
  north = {
    clients = { rows_read = 120, rows_written = 7, runs = 3, failures = 1, last_success = 1700000100,
      cursor = 1700000040 },
    invoices = { rows_read = 0, rows_written = 0, runs = 1, failures = 1 },   -- never succeeded
  },
  ['sou"th'] = { clients = { rows_read = 5, rows_written = 5, runs = 1, failures = 0, last_success = 1700000000,
    cursor = 1699999990 } },
}

describe("metrics of coreplus sync", function()
  local text = sync_metrics.render(STATS, 1700000160)

  it("counts rows, runs and failures per practice and resource", function()
    local L = 'practice="north",resource="clients"'
    assert.equal(120, value(text, "coreplus_sync_rows_read_total{" .. L .. "}"))
    assert.equal(7, value(text, "coreplus_sync_rows_written_total{" .. L .. "}"))
    assert.equal(3, value(text, "coreplus_sync_runs_total{" .. L .. "}"))
    assert.equal(1, value(text, "coreplus_sync_failures_total{" .. L .. "}"))
    assert.equal(1, value(text, 'coreplus_sync_failures_total{practice="north",resource="invoices"}'))
    assert.equal(5, value(text, 'coreplus_sync_rows_written_total{practice="sou\\"th",resource="clients"}'))
  end)

  it("gives the last success and the lag behind the cursor, only once there is one", function()
    local L = 'practice="north",resource="clients"'
    assert.equal(1700000100, value(text, "coreplus_sync_last_success_timestamp_seconds{" .. L .. "}"))
    assert.equal(120, value(text, "coreplus_sync_lag_seconds{" .. L .. "}"))
    assert.is_nil(text:find('coreplus_sync_lag_seconds{practice="north",resource="invoices"}', 1, true))
    assert.is_nil(text:find('last_success_timestamp_seconds{practice="north",resource="invoices"}', 1, true))
  end)

  it("passes promtool check metrics", function()
    if not P.available() then return pending("promtool is not installed (Debian package prometheus)") end
    assert.equal("rc=0\n", P.check_metrics(text))
  end)
end)

describe("coreplus sync --watch --metrics", function()
  local mock, env, dir

  lazy_setup(function()
    mock = require("coreplus.testing").server{ clients = 150 }
    env = C.env_of(mock, { COREPLUS_USER_AGENT = "metrics-sync-spec/1.0", COREPLUS_ISSUER = "https://metrics.example" })
    dir = F.tmpdir()
  end)
  lazy_teardown(function()
    if mock then mock:stop() end
    if dir then os.execute("rm -rf " .. F.q(dir)) end
  end)

  it("serves the sync's and the client's metrics on 127.0.0.1, and still ends cleanly on SIGTERM", function()
    local port = free_port()
    local run = dir .. "/watch"
    local pid = C.spawn(env, run, "sync", "--to", "sqlite:" .. dir .. "/m.db", "--resources", "clients,locations",
      "--practice", "north", "--watch", "30", "--metrics", tostring(port), "--json")
    local L = 'practice="north",resource="clients"'
    local text
    local give_up = core.now() + 20
    repeat
      text = F.capture("curl -s --max-time 1 http://127.0.0.1:" .. port .. "/metrics")
      if value(text, "coreplus_sync_rows_written_total{" .. L .. "}") then break end
      core.sleep(0.02)
    until core.now() > give_up
    local ok, err = pcall(function()
      assert.equal(150, value(text, "coreplus_sync_rows_written_total{" .. L .. "}"), text)
      assert.equal(150, value(text, "coreplus_sync_rows_read_total{" .. L .. "}"))
      assert.equal(1, value(text, "coreplus_sync_runs_total{" .. L .. "}"))
      assert.equal(0, value(text, "coreplus_sync_failures_total{" .. L .. "}"))
      local lag = value(text, "coreplus_sync_lag_seconds{" .. L .. "}")
      assert.is_true(lag >= 0 and lag < 60, tostring(lag))
      local last = value(text, "coreplus_sync_last_success_timestamp_seconds{" .. L .. "}")
      assert.is_true(math.abs(last - os.time()) < 60, tostring(last))
      -- the library's own series, labelled by the sync's practice
      assert.equal(2, value(text, 'coreplus_requests_total{practice="north",operation="clients:list",method="GET",'
        .. 'status_class="2xx",error="none"}'), text)
      assert.equal("404", F.capture("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" .. port .. "/"))
      if P.available() then
        assert.equal("rc=0\n", P.check_metrics(text))
      end
    end)
    os.execute("kill -TERM " .. pid)
    local rc = C.wait_rc(run)
    assert(ok, err)
    assert.equal(0, rc, F.read(run .. ".err"))
    assert.equal("", F.capture("curl -s --max-time 1 http://127.0.0.1:" .. port .. "/metrics"))
  end)

  it("answers a scrape while a run is under way (between its pages)", function()
    local big = require("coreplus.testing").server{ clients = 2500 }   -- 25 pages: 2.5 s at 10 a second
    local port = free_port()
    local run = dir .. "/busy"
    local pid = C.spawn(C.env_of(big, { COREPLUS_USER_AGENT = "metrics-sync-spec/1.0",
      COREPLUS_ISSUER = "https://metrics.example" }), run, "sync", "--to", "sqlite:" .. dir .. "/busy.db",
      "--resources", "clients", "--watch", "30", "--metrics", tostring(port))
    local text, pages
    local give_up = core.now() + 20
    repeat
      text = F.capture("curl -s --max-time 1 http://127.0.0.1:" .. port .. "/metrics")
      pages = value(text, 'coreplus_requests_total{practice="default",operation="clients:list",method="GET",'
        .. 'status_class="2xx",error="none"}')
      core.sleep(0.05)
    until (pages and pages >= 3) or core.now() > give_up
    os.execute("kill -TERM " .. pid)
    local rc = C.wait_rc(run)
    big:stop()
    assert.is_true(pages ~= nil and pages >= 3 and pages < 25, text)
    assert.is_nil(text:find("coreplus_sync_runs_total", 1, true), "the first run had ended")
    assert.equal(0, rc)
  end)

  it("refuses --metrics without --watch, and a port it cannot listen on", function()
    local r = C.run(env, "sync", "--to", "sqlite:" .. dir .. "/n.db", "--metrics", "9464")
    assert.equal(2, r.code)
    assert.truthy(r.err:find("--metrics needs --watch", 1, true), r.err)
    local socket = require "socket"
    local taken = assert(socket.bind("127.0.0.1", 0))
    local _, port = taken:getsockname()
    r = C.run(env, "sync", "--to", "sqlite:" .. dir .. "/n.db", "--resources", "locations", "--watch", "5",
      "--metrics", tostring(port))
    taken:close()
    assert.equal(2, r.code)
    assert.truthy(r.err:find("cannot listen on 127.0.0.1:" .. port, 1, true), r.err)
  end)
end)
