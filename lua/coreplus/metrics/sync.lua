--- The metrics of `coreplus sync --watch --metrics PORT`: what a sync's
-- stats say (per practice and resource: rows read and written, runs,
-- failures, the last success and the cursor), beside the library's own
-- series of the sync's clients (the process's registry), as one text.
--
--   sync_metrics.render(stats [, now]) -> text
--   stats = coreplus.sync's s:stats(): stats[practice][resource] = {rows_read =,
--     rows_written =, runs =, failures =, last_success = epoch, cursor = epoch}
local registry = require "coreplus.metrics.registry"
local exposition = require "coreplus.metrics.exposition"

local type = type
local pairs = pairs
local format = string.format
local escape = registry.escape

local _M = {}

local COUNTERS = { rows_read = "coreplus_sync_rows_read_total", rows_written = "coreplus_sync_rows_written_total",
  runs = "coreplus_sync_runs_total", failures = "coreplus_sync_failures_total" }

--- The stats as a flat map (coreplus.metrics.registry's keys).
function _M.flatten(stats, now, into)
  local out = into or {}
  for practice, resources in pairs(stats or {}) do
    for resource, s in pairs(resources) do
      local labels = format('practice="%s",resource="%s"', escape(practice), escape(resource))
      for field, name in pairs(COUNTERS) do
        out[name .. "\t" .. labels .. "\t"] = s[field] or 0
      end
      if s.last_success then
        out["coreplus_sync_last_success_timestamp_seconds\t" .. labels .. "\t"] = s.last_success
      end
      if type(s.cursor) == "number" then
        local lag = now - s.cursor
        out["coreplus_sync_lag_seconds\t" .. labels .. "\t"] = lag > 0 and lag or 0
      end
    end
  end
  return out
end

--- The text to serve: the sync's stats and the process's registry.
function _M.render(stats, now)
  return exposition.render(_M.flatten(stats, now or os.time(), registry.default:flatten()))
end

return _M
