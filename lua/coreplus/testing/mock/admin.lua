--- The admin endpoints, outside /API and unauthenticated (the server only
-- listens on 127.0.0.1):
--   GET  /__mock/health        {"ok":true}
--   GET  /__mock/stats         counters (see stats() below)
--   GET  /__mock/uploads       {"files":[...],"messages":[...]}: what File/
--                              and Message/ accepted (sizes and SHA-256s)
--   POST /__mock/reset         zero the counters, forget bookings and
--                              created records, clear faults and latency
--   GET  /__mock/faults        the server-wide fault and latency
--   POST /__mock/faults        {"fault":"503","count":2,"retry_after":1,
--                               "path":"/appointment","method":"POST",
--                               "latency":0.2}   ({} clears the fault)
--   DELETE /__mock/faults      clear the fault and the latency
--   GET  /__mock/last-request  the last /API request's method, uri and
--                              headers (the Authorization header included)
--   GET  /__mock/arrivals      {"arrivals":[{"t":..,"status":..,"tenant":..,"done":..}]}:
--                              the API requests since the last reset or
--                              read, in the order their answers were done
--                              (a read empties the log)
--   GET  /__mock/switches      {"ignore_filters":false,"v2_only":[],"jitter":0}
--   POST /__mock/switches      {"ignore_filters":true} (any of the three):
--                              coreplus.testing.mock.switches says what each does
--   POST /__mock/change        {"kind":"client","id":..,"fields":{..}}: a
--                              record changed behind the client's back
--                              (coreplus.testing.mock.changes)
--   ANY  /__mock/echo-headers  the request's method, uri and headers (and
--                              remembered for GET /__mock/last-echo): the
--                              target of the redirect fault
local json = require "coreplus.testing.mock.json"
local faults = require "coreplus.testing.mock.faults"
local resources = require "coreplus.testing.mock.resources"
local store = require "coreplus.testing.mock.store"
local arrivals = require "coreplus.testing.mock.arrivals"
local switches = require "coreplus.testing.mock.switches"
local changes = require "coreplus.testing.mock.changes"

local ngx = ngx
local ipairs, type = ipairs, type
local sub = string.sub
local open = io.open

local _M = {}

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Cache-Control"] = "no-store"
  ngx.print(json.encode(value))
  return ngx.exit(status)
end

local COUNTERS = { "requests", "rate_limited", "auth_failures", "ua_refused", "connections",
  "max_in_window", "faults", "echo_requests", "uploads", "upload_bytes", "messages" }

function _M.stats()
  local st = ngx.shared.mock_stats
  local out = {}
  for _, k in ipairs(COUNTERS) do out[k] = st:get(k) or 0 end
  local by_path, by_status, by_fault = {}, {}, {}
  for _, k in ipairs(st:get_keys(0)) do
    if sub(k, 1, 5) == "path:" then by_path[sub(k, 6)] = st:get(k)
    elseif sub(k, 1, 7) == "status:" then by_status[sub(k, 8)] = st:get(k)
    elseif sub(k, 1, 6) == "fault:" then by_fault[sub(k, 7)] = st:get(k)
    end
  end
  -- (empty tables encode as {}: these stay objects)
  out.by_path, out.by_status, out.by_fault = by_path, by_status, by_fault
  out.bookings = resources.active_bookings()
  out.bookings_created = store.count("appt")
  out.clients_created = store.count("client")
  return out
end

local function read_body()
  ngx.req.read_body()
  local text = ngx.req.get_body_data()
  if not text then
    local f = ngx.req.get_body_file()
    if f then
      local fh = open(f, "rb")
      if fh then text = fh:read("*a"); fh:close() end
    end
  end
  return text
end

-- A POST of a JSON object to `set` (nil, or what is wrong), answered with
-- what `current()` says then.
local function post_settings(set, current)
  local conf = json.decode(read_body() or "")
  if type(conf) ~= "table" then return reply(400, { error = "body must be a JSON object" }) end
  local err = set(conf)
  if err then return reply(400, { error = err }) end
  return reply(200, current())
end

--- handle(uri, method, ctx): ctx = {data = the fixtures, now = the server's clock}.
function _M.handle(uri, method, ctx)
  if uri == "/__mock/health" then
    return reply(200, { ok = true, worker = ngx.worker.pid() })
  elseif uri == "/__mock/stats" then
    return reply(200, _M.stats())
  elseif uri == "/__mock/uploads" then
    return reply(200, resources.uploads())
  elseif uri == "/__mock/reset" and method == "POST" then
    ngx.shared.mock_stats:flush_all()
    ngx.shared.mock_rate:flush_all()
    arrivals.flush()
    store.flush()
    return reply(200, { ok = true })
  elseif uri == "/__mock/faults" then
    if method == "GET" then return reply(200, faults.current()) end
    if method == "DELETE" then
      faults.set{ fault = json.null }
      ngx.shared.mock_data:delete("latency")
      return reply(200, faults.current())
    end
    if method ~= "POST" then return reply(405, { error = "GET, POST or DELETE" }) end
    return post_settings(faults.set, faults.current)
  elseif uri == "/__mock/switches" then
    if method == "GET" then return reply(200, switches.current()) end
    if method ~= "POST" then return reply(405, { error = "GET or POST" }) end
    return post_settings(switches.set, switches.current)
  elseif uri == "/__mock/change" and method == "POST" then
    return reply(changes.change(ctx.data, json.decode(read_body() or ""), ctx.now))
  elseif uri == "/__mock/echo-headers" then
    ngx.shared.mock_stats:incr("echo_requests", 1, 0)
    local seen = { method = method, uri = ngx.var.request_uri, headers = ngx.req.get_headers(0, true) }
    ngx.shared.mock_data:set("echo", json.encode(seen))
    return reply(200, seen)
  elseif uri == "/__mock/arrivals" then
    return reply(200, { arrivals = arrivals.take() })
  elseif uri == "/__mock/last-request" then
    local e = ngx.shared.mock_data:get("last_request")
    return reply(200, e and json.decode(e) or json.null)
  elseif uri == "/__mock/last-echo" then
    local e = ngx.shared.mock_data:get("echo")
    return reply(200, e and json.decode(e) or json.null)
  end
  return reply(404, { error = "unknown admin endpoint " .. uri })
end

return _M
