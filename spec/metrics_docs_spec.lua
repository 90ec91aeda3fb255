-- docs/metrics.md: every metric the library writes is described there (and
-- nothing else under our prefix), the Prometheus configuration and alerting
-- rules it shows pass promtool, and the alerts fire on the series they are
-- about (promtool test rules) and stay quiet otherwise.
local families = require "coreplus.metrics.families"

local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/prometheus.lua")

local q, capture = F.q, F.capture

local DOC = assert(F.read("docs/metrics.md"))

-- The fenced yaml blocks of the page, in order.
local function yaml_blocks()
  local out = {}
  for body in DOC:gmatch("\n```yaml\n(.-)\n```") do out[#out + 1] = body .. "\n" end
  return out
end

local function block_starting(prefix)
  for _, b in ipairs(yaml_blocks()) do
    if b:sub(1, #prefix) == prefix then return b end
  end
  error("docs/metrics.md has no yaml block starting with " .. prefix)
end

-- A rules file without its annotations: promtool test rules compares them
-- word for word, and the test is about when alerts fire.
local function without_annotations(rules)
  local out, skip_deeper = {}, nil
  for line in rules:gmatch("([^\n]*)\n") do
    local indent = #line:match("^ *")
    local inside = skip_deeper and (line:match("^%s*$") or indent > skip_deeper)
    if not inside then
      skip_deeper = nil
      if line:match("^%s*annotations:%s*$") then skip_deeper = indent else out[#out + 1] = line end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function promtool(dir, args)
  return capture(("cd %s && promtool %s 2>&1; echo rc=$?"):format(q(dir), args))
end

describe("docs/metrics.md", function()
  local dir

  before_each(function()
    if not P.available() then return end
    dir = F.tmpdir()
  end)

  after_each(function()
    if dir then os.execute("rm -rf " .. q(dir)) end
    dir = nil
  end)

  it("describes every metric family with its type, and none that does not exist", function()
    for _, f in ipairs(families.list) do
      assert.truthy(DOC:find("| `" .. f.name .. "` | " .. f.type .. " |", 1, true), f.name)
    end
    local not_metrics = { coreplus_metrics = "the shared dict's name" }
    for name in DOC:gmatch("coreplus_[%w_]+") do
      if not not_metrics[name] then
        local base = families.by_name[name] and name or name:match("^(.*)_bucket$") or name:match("^(.*)_sum$")
          or name:match("^(.*)_count$")
        assert.truthy(base and families.by_name[base], "docs/metrics.md names " .. name .. ", which is not written")
      end
    end
  end)

  it("shows a Prometheus configuration that promtool check config accepts", function()
    if not dir then return pending("promtool is not installed (Debian package prometheus)") end
    F.write(dir .. "/prometheus.yml", block_starting("scrape_configs:"))
    local out = promtool(dir, "check config prometheus.yml")
    assert.truthy(out:find("rc=0\n$"), out)
  end)

  it("shows alerting rules that promtool check rules accepts", function()
    if not dir then return pending("promtool is not installed (Debian package prometheus)") end
    F.write(dir .. "/rules.yml", block_starting("groups:"))
    local out = promtool(dir, "check rules rules.yml")
    assert.truthy(out:find("SUCCESS: 5 rules found", 1, true) and out:find("rc=0\n$"), out)
  end)

  it("has alerts that fire on 429s, unknown outcomes, failing calls, sync lag and clock offset, and not otherwise",
    function()
    if not dir then return pending("promtool is not installed (Debian package prometheus)") end
    F.write(dir .. "/rules.yml", without_annotations(block_starting("groups:")))
    local L = 'practice="%s",operation="appointments:book",method="POST"'
    local function series(name, practice, values, extra)
      return ("      - series: '%s{%s%s}'\n        values: '%s'\n")
        :format(name, L:format(practice), extra or "", values)
    end
    local function alert(name, at, labels)
      local exp = labels and ("          - exp_labels: { %s }\n"):format(labels) or ""
      return ("      - eval_time: %s\n        alertname: %s\n        exp_alerts:%s\n%s"):format(at, name,
        labels and "" or " []", exp)
    end
    F.write(dir .. "/test.yml", table.concat{
      "rule_files: [rules.yml]\n",
      "evaluation_interval: 1m\n",
      "tests:\n",
      "  - interval: 1m\n",
      "    input_series:\n",
      series("coreplus_rate_limited_total", "north", "0+1x30"),
      series("coreplus_rate_limited_total", "south", "5+0x30"),
      series("coreplus_unknown_outcomes_total", "north", "0 0 0 1 1 1 1 1 1 1"),
      series("coreplus_unknown_outcomes_total", "south", "2+0x30"),
      series("coreplus_requests_total", "north", "0+90x60", ',status_class="2xx",error="none"'),
      series("coreplus_failures_total", "north", "0+10x60", ',error="timeout"'),
      series("coreplus_requests_total", "south", "0+99x60", ',status_class="2xx",error="none"'),
      series("coreplus_failures_total", "south", "0+1x60", ',error="timeout"'),
      "      - series: 'coreplus_sync_lag_seconds{practice=\"north\",resource=\"clients\"}'\n"
        .. "        values: '0+60x90'\n",
      "      - series: 'coreplus_sync_lag_seconds{practice=\"south\",resource=\"clients\"}'\n"
        .. "        values: '600+0x90'\n",
      "      - series: 'coreplus_server_clock_offset_seconds{practice=\"north\"}'\n        values: '45+0x60'\n",
      "      - series: 'coreplus_server_clock_offset_seconds{practice=\"south\"}'\n        values: '-2+0x60'\n",
      "    alert_rule_test:\n",
      alert("CoreplusRateLimited", "25m", "severity: warning, practice: north"),
      alert("CoreplusRateLimited", "5m", nil),
      alert("CoreplusUnknownOutcome", "5m",
        "severity: critical, practice: north, operation: \"appointments:book\""),
      alert("CoreplusCallsFailing", "30m", "severity: warning, practice: north"),
      alert("CoreplusCallsFailing", "10m", nil),
      alert("CoreplusSyncLagging", "50m", nil),
      alert("CoreplusSyncLagging", "70m", "severity: warning, practice: north, resource: clients"),
      alert("CoreplusClockOffset", "45m", "severity: info, practice: north"),
    })
    local out = promtool(dir, "test rules test.yml")
    assert.truthy(out:find("SUCCESS", 1, true) and out:find("rc=0\n$"), out)
  end)
end)
