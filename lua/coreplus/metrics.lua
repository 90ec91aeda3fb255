--- Metrics an operator can scrape: what every client did, in the Prometheus
-- text format (version 0.0.4).
--
-- Every client records each attempt it makes, always (it costs a few table
-- updates per request): requests by operation, method, status class and
-- error kind, 429s, retries, failures, unknown outcomes, the time spent
-- sending and waiting for the rate limit, and the server's clock offset.
-- Series are labelled by the client's `practice` option (default
-- `"default"`; `coreplus.from_profile` gives the profile's name), never by a
-- token or secret. docs/metrics.md lists the metrics and example alerts.
--
--     local cp = coreplus.new{ ..., practice = "north-clinic" }
--     cp.clients:list{}
--     io.write(coreplus.metrics.render())   -- every client of this process
--     io.write(cp:metrics())                -- this client's practice only
--
-- Counts are kept per practice label in a registry: by default the one of
-- the process (`metrics.default`), so counters never go back when a client
-- is replaced by a new one for the same practice. The client option
-- `metrics` takes a registry of one's own (`metrics.registry()`: a test, a
-- library serving several apps) or `false` (record nothing).
--
-- In OpenResty each worker has its own registry; `coreplus.metrics.ngx`
-- adds them up in a shared dict and serves them.
-- @module coreplus.metrics
local registry = require "coreplus.metrics.registry"
local exposition = require "coreplus.metrics.exposition"

local _M = {}

--- The Content-Type of the text format: `text/plain; version=0.0.4; charset=utf-8`.
_M.CONTENT_TYPE = exposition.CONTENT_TYPE

--- Makes a registry of one's own, to give to clients as their `metrics`
-- option (and to `render`).
-- @function registry
-- @return a registry
-- @usage local reg = coreplus.metrics.registry()
-- local cp = coreplus.new{ ..., metrics = reg }
_M.registry = registry.new

--- The registry of the process: clients without a `metrics` option record here.
_M.default = registry.default

--- The text to serve at `/metrics`: every metric of the registries given
-- (default: the process's), series with the same labels added up.
-- @param ... registries (`metrics.registry()`); none: `metrics.default`
-- @treturn string the Prometheus text format, version 0.0.4
-- @usage ngx.header["Content-Type"] = coreplus.metrics.CONTENT_TYPE
-- ngx.print(coreplus.metrics.render())
function _M.render(...)
  return exposition.render(registry.flatten_all(...))
end

return _M
