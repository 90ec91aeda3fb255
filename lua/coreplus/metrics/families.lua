--- The metric families: name, type, labels, help and buckets, in the order
-- they are rendered. The one home of these names (docs/metrics.md explains
-- each); a name follows Prometheus's conventions: the `coreplus_` prefix,
-- base units (seconds), `_total` on counters.
--
-- Families with group = "sync" are written by `coreplus sync --metrics` only.
--
-- Labels:
--   practice      the client's `practice` option (default "default"; the
--                 profile's name for from_profile): never a token or secret
--   operation     what was asked: the catalogue's key of the operation,
--                 "<resource>:<op>" (clients:list, appointments:book, ...; pages
--                 fetched by each/pages/all are "<resource>:list"), or
--                 "request" for cp:request (or the operation it is given)
--   method        GET, POST, ...
--   status_class  1xx .. 5xx, or "none" when no HTTP answer came back
--   error         the attempt's error kind (coreplus.errors), "none" when it succeeded
--   reason        why an attempt was repeated (coreplus.retry)
--   resource      a table of `coreplus sync` (clients, appointments, ...)

-- Seconds; Prometheus's default buckets and 30 s (the call's timeout is 45 s).
local DURATION = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }
-- Seconds; most requests do not wait at all (the first bucket).
local WAIT = { 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local LIST = {
  { name = "coreplus_requests_total", type = "counter",
    help = "HTTP requests sent to coreplus (each attempt), by outcome" },
  { name = "coreplus_rate_limited_total", type = "counter",
    help = "Responses 429 (rate limited) from coreplus" },
  { name = "coreplus_retries_total", type = "counter",
    help = "Attempts repeated, by reason" },
  { name = "coreplus_failures_total", type = "counter",
    help = "Calls that returned an error to the caller, after any retries, by error kind" },
  { name = "coreplus_unknown_outcomes_total", type = "counter",
    help = "Calls not repeated because they may have taken effect (outcome unknown)" },
  { name = "coreplus_request_duration_seconds", type = "histogram", buckets = DURATION,
    help = "Time from sending a request to its answer, without the wait for the rate limit" },
  { name = "coreplus_limiter_wait_seconds", type = "histogram", buckets = WAIT,
    help = "Time a request waited for the client-side rate limit before it was sent" },
  { name = "coreplus_server_clock_offset_seconds", type = "gauge",
    help = "The server's clock minus this machine's, learnt from Date headers" },
  -- coreplus sync --metrics (coreplus.metrics.sync)
  { name = "coreplus_sync_rows_read_total", type = "counter", group = "sync",
    help = "Records coreplus sync read from coreplus" },
  { name = "coreplus_sync_rows_written_total", type = "counter", group = "sync",
    help = "Rows coreplus sync wrote to the database (new or changed)" },
  { name = "coreplus_sync_runs_total", type = "counter", group = "sync",
    help = "Syncs of a resource, finished or failed" },
  { name = "coreplus_sync_failures_total", type = "counter", group = "sync",
    help = "Syncs of a resource that failed (the next one resumes from the last cursor)" },
  { name = "coreplus_sync_last_success_timestamp_seconds", type = "gauge", group = "sync",
    help = "Unix time of the end of the last successful sync of a resource" },
  { name = "coreplus_sync_lag_seconds", type = "gauge", group = "sync",
    help = "Seconds since the time the mirror is known complete up to (the last successful sync's cursor)" },
}

local BY_NAME = {}
for i, f in ipairs(LIST) do
  f.order = i
  BY_NAME[f.name] = f
end

return { list = LIST, by_name = BY_NAME }
