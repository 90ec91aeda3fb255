--- The mock's request pipeline, as the real API's layers would see a
-- request: count it, delay it, refuse generic user agents (a WAF), check
-- the token (401), apply the rate limit (429), inject a fault, answer.
--
-- nginx.conf (see coreplus.testing.mock.conf) calls init(path) in init_by_lua,
-- init_worker() per worker, handle() as the content handler and log() in
-- the log phase.
local json = require "coreplus.testing.mock.json"
local auth = require "coreplus.testing.mock.auth"
local ratelimit = require "coreplus.testing.mock.ratelimit"
local faults = require "coreplus.testing.mock.faults"
local fixtures = require "coreplus.testing.mock.fixtures"
local clock = require "coreplus.testing.mock.clock"
local resources = require "coreplus.testing.mock.resources"
local admin = require "coreplus.testing.mock.admin"

local ngx = ngx
local type, tonumber, tostring, pairs, ipairs = type, tonumber, tostring, pairs, ipairs
local floor, sub, lower = math.floor, string.sub, string.lower

local _M = {}

local cfg, data, auth_cfg

--- init(path): reads the instance's JSON config (written by the launcher)
-- and builds the fixtures once in the master, before workers fork, so
-- every worker shares the same tables.
function _M.init(path)
  local f = assert(io.open(path, "rb"))
  cfg = assert(json.decode(f:read("*a")))
  f:close()
  cfg.skew = tonumber(cfg.skew) or 0
  cfg.latency = tonumber(cfg.latency) or 0
  local y, m
  if type(cfg.month) == "string" then
    y, m = cfg.month:match("^(%d%d%d%d)%-(%d%d)$")
    y, m = tonumber(y), tonumber(m)
  end
  if not y then
    y, m = clock.civil_from_days(floor((os.time() + cfg.skew) / 86400))
  end
  data = fixtures.build{ seed = tonumber(cfg.seed) or 1, clients = tonumber(cfg.clients) or 537,
    year = y, month = m }
  auth_cfg = {
    consumers = { [cfg.consumer_id] = cfg.consumer_secret },
    tokens = { [cfg.access_token] = { can_list_clients = true },
               [cfg.restricted_access_token] = { can_list_clients = false } },
    leeway = tonumber(cfg.leeway) or 2,
  }
  local limit = cfg.rate_limit
  cfg.rate = { limit = type(limit) == "number" and limit or 10, window = tonumber(cfg.rate_window) or 1.0,
    enforce = limit ~= false }
end

function _M.init_worker()
  -- New record ids need per-worker randomness (fixtures do not use it).
  math.randomseed(floor(ngx.now() * 1000) + ngx.worker.pid() * 7919)
end

local function now()
  ngx.update_time()
  return ngx.now() + cfg.skew
end

local function set_date()
  -- Every response carries the (skewed) server clock: clients learn their
  -- offset from it.
  ngx.header["Date"] = ngx.http_time(floor(now()))
end

local function send_json(status, value, extra)
  local body = type(value) == "string" and value or json.encode(value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json; charset=utf-8"
  if extra then for k, v in pairs(extra) do ngx.header[k] = v end end
  ngx.header["Content-Length"] = #body
  ngx.print(body)
  return ngx.exit(status)
end

local function refuse(status, counter, reason, detail, extra)
  ngx.shared.mock_stats:incr(counter, 1, 0)
  local _, body = resources.result(status, reason, detail)
  return send_json(status, body, extra)
end

local function header1(h, name)
  local v = h[name]
  if type(v) == "table" then v = v[1] end
  return v
end

local function latency(h)
  local l = tonumber(header1(h, "x-mock-latency"))
    or ngx.shared.mock_data:get("latency") or cfg.latency
  if l and l > 0 then ngx.sleep(l) end
end

function _M.handle()
  set_date()
  local uri, method = ngx.var.uri, ngx.req.get_method()
  if sub(uri, 1, 8) == "/__mock/" then
    return admin.handle(uri, method)
  end
  local arrived = ngx.req.start_time()
  local st = ngx.shared.mock_stats
  st:incr("requests", 1, 0)
  st:incr("path:" .. uri, 1, 0)
  if ngx.var.connection_requests == "1" then st:incr("connections", 1, 0) end

  local h = ngx.req.get_headers(0)
  latency(h)
  set_date()

  local why = auth.ua_refusal(header1(h, "user-agent"))
  if why then
    return refuse(403, "ua_refused", "Request blocked: missing or generic User-Agent", why)
  end

  local host = ngx.var.http_host or (ngx.var.server_addr .. ":" .. ngx.var.server_port)
  local url = ngx.var.scheme .. "://" .. host .. ngx.var.request_uri
  local claims, detail = auth.check({ authorization = header1(h, "authorization"),
    content_type = header1(h, "content-type"), url = url, method = method }, auth_cfg, now())
  if not claims then
    return refuse(401, "auth_failures", "Invalid token", detail, { ["X-Mock-Refusal"] = detail })
  end

  local ok = ratelimit.admit(claims.accessToken, arrived, cfg.rate)
  if not ok then
    -- The real API documents no Retry-After on 429; clients must back off
    -- on their own.
    return refuse(429, "rate_limited", "Too Many Requests", "more than " .. cfg.rate.limit ..
      " requests in " .. cfg.rate.window .. " s for this access token")
  end

  local fault = faults.pick(h, uri, method)
  if fault and faults.before(fault, { scheme = ngx.var.scheme, port = ngx.var.server_port }) then
    return
  end

  local body_text
  if method == "POST" or method == "PUT" then
    ngx.req.read_body()
    body_text = ngx.req.get_body_data()
    if not body_text and ngx.req.get_body_file() then
      local fh = io.open(ngx.req.get_body_file(), "rb")
      if fh then body_text = fh:read("*a"); fh:close() end
    end
  end
  local args = {}
  for k, v in pairs(ngx.req.get_uri_args(0)) do
    local lk = lower(k)
    if args[lk] ~= nil then
      -- Same parameter under two spellings: keep every value.
      local prev = type(args[lk]) == "table" and args[lk] or { args[lk] }
      if type(v) == "table" then for _, x in ipairs(v) do prev[#prev + 1] = x end
      else prev[#prev + 1] = v end
      v = prev
    end
    args[lk] = v
  end
  local status, value = resources.dispatch{ method = method, uri = uri, args = args, body_text = body_text,
    data = data, token = auth_cfg.tokens[claims.accessToken], now = now() }
  local body = json.encode(value)
  if fault and faults.after(fault, status, body) then return end
  return send_json(status, body)
end

--- Log phase: per-status counts of API requests (faults and refusals too).
function _M.log()
  if sub(ngx.var.uri, 1, 8) == "/__mock/" then return end
  ngx.shared.mock_stats:incr("status:" .. tostring(ngx.status), 1, 0)
end

return _M
