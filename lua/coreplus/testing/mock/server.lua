--- The mock's request pipeline, as the real API's layers would see a
-- request: count it, delay it, refuse generic user agents (a WAF), check
-- the token (401), apply the rate limit (429), inject a fault, answer (in
-- the worker's turns: coreplus.testing.mock.turns).
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
local multipart = require "coreplus.testing.mock.multipart"
local arrivals = require "coreplus.testing.mock.arrivals"
local switches = require "coreplus.testing.mock.switches"
local turns = require "coreplus.testing.mock.turns"

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
    year = y, month = m, now = floor(os.time() + cfg.skew) }
  auth_cfg = {
    consumers = { [cfg.consumer_id] = cfg.consumer_secret },
    -- The restricted token lacks the client list permission (VIEW_CLIENTLIST)
    -- and the "advanced permissions" Message/ needs.
    tokens = { [cfg.access_token] = { can_list_clients = true, can_send_messages = true },
               [cfg.restricted_access_token] = { can_list_clients = false, can_send_messages = false } },
    leeway = tonumber(cfg.leeway) or 2,
  }
  -- Further practices (the launcher's `tenants`), with the first token's
  -- permissions and each its own rate budget; tenant i is access_tokens[i].
  auth_cfg.tenant = {}
  for i, token in ipairs(type(cfg.access_tokens) == "table" and cfg.access_tokens or { cfg.access_token }) do
    auth_cfg.tokens[token] = auth_cfg.tokens[token] or { can_list_clients = true, can_send_messages = true }
    auth_cfg.tenant[token] = i
  end
  cfg.versions = cfg.versions or "strict"
  if cfg.versions ~= "strict" and cfg.versions ~= "lax" then
    error("mock: versions must be \"strict\" or \"lax\", not " .. tostring(cfg.versions), 0)
  end
  cfg.lax = cfg.versions == "lax"
  cfg.limit_key = cfg.limit_key or "access_token"
  if cfg.limit_key ~= "access_token" and cfg.limit_key ~= "consumer" then
    error("mock: limit_key must be \"access_token\" or \"consumer\", not " .. tostring(cfg.limit_key), 0)
  end
  cfg.block_default_user_agent = cfg.block_default_user_agent == true
  switches.init(cfg)
  local limit = cfg.rate_limit
  cfg.rate = { limit = type(limit) == "number" and limit or 10, window = tonumber(cfg.rate_window) or 1.0,
    enforce = limit ~= false }
end

function _M.init_worker()
  -- New record ids need per-worker randomness (fixtures do not use it).
  math.randomseed(floor(ngx.now() * 1000) + ngx.worker.pid() * 7919)
end

local function now()
  turns.update_time()
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

--- The request body as a source: in memory, or in the temp file nginx
-- buffered it to (bodies over client_body_buffer_size). text() reads it
-- whole (JSON bodies); reader() streams it (multipart uploads).
local function body_source(content_type)
  ngx.req.read_body()
  local text, file = ngx.req.get_body_data(), ngx.req.get_body_file()
  local src = { content_type = content_type }
  function src.text()
    if text or not file then return text end
    local fh = io.open(file, "rb")
    if not fh then return nil end
    local all = fh:read("*a")
    fh:close()
    return all
  end
  --- reader() -> read(n) function, close function
  function src.reader()
    if text or not file then return multipart.string_reader(text or ""), function() end end
    local fh = io.open(file, "rb")
    if not fh then return multipart.string_reader(""), function() end end
    return multipart.file_reader(fh), function() fh:close() end
  end
  return src
end

function _M.handle()
  set_date()
  local uri, method = ngx.var.uri, ngx.req.get_method()
  if sub(uri, 1, 8) == "/__mock/" then
    return admin.handle(uri, method, { data = data, now = now() })
  end
  local arrived = ngx.req.start_time()
  local st = ngx.shared.mock_stats
  st:incr("requests", 1, 0)
  st:incr("path:" .. uri, 1, 0)
  if ngx.var.connection_requests == "1" then st:incr("connections", 1, 0) end

  local h = ngx.req.get_headers(0)
  -- What the last API request carried (GET /__mock/last-request): lets a
  -- test check the token a client sent with an independent verifier.
  ngx.shared.mock_data:set("last_request", json.encode{ method = method, uri = ngx.var.request_uri,
    headers = ngx.req.get_headers(0, true) })
  local sw = switches.get()
  if sw.jitter > 0 then
    -- The time between leaving the client and being counted varies.
    ngx.sleep(math.random() * sw.jitter)
    turns.update_time()
    arrived = ngx.now()
  end
  latency(h)
  set_date()

  local why = auth.ua_refusal(header1(h, "user-agent"), cfg.block_default_user_agent)
  if why then
    return refuse(403, "ua_refused", "Request blocked: missing or generic User-Agent", why)
  end

  local host = ngx.var.http_host or (ngx.var.server_addr .. ":" .. ngx.var.server_port)
  local url = ngx.var.scheme .. "://" .. host .. ngx.var.request_uri
  local claims, detail = auth.check({ authorization = header1(h, "authorization"),
    content_type = header1(h, "content-type"), url = url, method = method,
    multipart = resources.takes_multipart(uri, method) }, auth_cfg, now())
  if not claims then
    return refuse(401, "auth_failures", "Invalid token", detail, { ["X-Mock-Refusal"] = detail })
  end
  ngx.ctx.tenant = auth_cfg.tenant[claims.accessToken]

  -- One budget per access token (a practice) or, with limit_key =
  -- "consumer", per consumer (the app, across practices).
  local consumer = cfg.limit_key == "consumer"
  local ok = ratelimit.admit(consumer and "c:" .. claims.consumerId or claims.accessToken, arrived, cfg.rate)
  if not ok then
    -- The real API documents no Retry-After on 429; clients must back off
    -- on their own.
    return refuse(429, "rate_limited", "Too Many Requests", "more than " .. cfg.rate.limit ..
      " requests in " .. cfg.rate.window .. " s for this " .. (consumer and "consumer" or "access token"))
  end

  -- Counted: what is left (the answer) waits for its turn, so that a burst
  -- of answers never keeps nginx from reading, and stamping, new arrivals.
  turns.wait()
  local fault = faults.pick(h, uri, method)
  if fault and faults.before(fault, { scheme = ngx.var.scheme, port = ngx.var.server_port }) then
    return
  end

  local source
  if method == "POST" or method == "PUT" then source = body_source(header1(h, "content-type")) end
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
  local status, value = resources.dispatch{ method = method, uri = uri, args = args, source = source,
    data = data, token = auth_cfg.tokens[claims.accessToken], now = now(), lax = cfg.lax,
    ignore_filters = sw.ignore_filters, v2_only = sw.v2_only }
  local body = json.encode(value)
  if fault and faults.after(fault, status, body) then return end
  return send_json(status, body)
end

--- Log phase: per-status counts of API requests (faults and refusals too).
function _M.log()
  if sub(ngx.var.uri, 1, 8) == "/__mock/" then return end
  ngx.shared.mock_stats:incr("status:" .. tostring(ngx.status), 1, 0)
  turns.update_time()
  arrivals.record(ngx.req.start_time(), ngx.status, ngx.ctx.tenant, ngx.now())
end

return _M
