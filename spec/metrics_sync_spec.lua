-- The metrics of coreplus sync (coreplus.metrics.sync): rows read and
-- written, runs, failures, the last success and the lag per practice and
-- resource, beside the library's own series, in a text promtool accepts.
local sync_metrics = require "coreplus.metrics.sync"

local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/prometheus.lua")

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
    local path = F.tmpname()
    F.write(path, text)
    local out = F.capture("promtool check metrics < " .. F.q(path) .. " 2>&1; echo rc=$?")
    os.remove(path)
    assert.equal("rc=0\n", out)
  end)
end)
