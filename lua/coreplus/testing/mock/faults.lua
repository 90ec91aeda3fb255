--- Fault injection: what goes wrong between a client and coreplus.
--
-- A fault is chosen per request with the `X-Mock-Fault: <name>` header, or
-- server-wide with POST /__mock/faults {"fault": name, "count": n, ...}
-- (count omitted = until cleared). Per-request faults can be counted too:
-- `X-Mock-Fault-Count: n` applies the fault to the first n requests that
-- carry the same `X-Mock-Fault-Key` (default: the fault's name), so a
-- client that retries with the same headers sees "503 twice, then 200".
--
-- "before" faults replace the response; "after" faults let the request be
-- processed (a booking is stored) and then damage or drop the answer.
local json = require "coreplus.testing.mock.json"

local ngx = ngx
local tonumber, tostring, type, pairs, ipairs = tonumber, tostring, type, pairs, ipairs
local lower, rep, sub = string.lower, string.rep, string.sub
local min, max, floor = math.min, math.max, math.floor

local _M = {}

_M.names = {
  "reset", "hang", "500", "502", "503", "429", "html_200", "html_502", "malformed_json",
  "redirect", "truncated", "reset_mid_body", "slow_body", "big_body", "reset_after_commit",
}
local known = {}
for _, n in ipairs(_M.names) do known[n] = true end
_M.known = known

local AFTER = { truncated = true, reset_mid_body = true, slow_body = true, reset_after_commit = true }

local function stats() return ngx.shared.mock_stats end

--- pick(headers, uri, method) -> fault table {name=, ...params} or nil
-- Parameters: retry_after (s), delay (s, hang/slow_body), size_mb (big_body),
-- location (redirect target).
function _M.pick(h, uri, method)
  local name = h["x-mock-fault"]
  if type(name) == "table" then name = name[1] end
  if name and name ~= "" then
    name = lower(name)
    local count = tonumber(h["x-mock-fault-count"])
    if count then
      local key = "pf:" .. (h["x-mock-fault-key"] or name)
      local n = ngx.shared.mock_data:incr(key, 1, 0)
      if n > count then return nil end
    end
    return { name = name, retry_after = tonumber(h["x-mock-retry-after"]),
      delay = tonumber(h["x-mock-delay"]), size_mb = tonumber(h["x-mock-size-mb"]),
      location = h["x-mock-redirect-to"] }
  end
  local d = ngx.shared.mock_data
  local conf = d:get("fault")
  if not conf then return nil end
  local f = json.decode(conf)
  if type(f) ~= "table" or not f.fault then return nil end
  if f.path and not lower(uri):find(lower(f.path), 1, true) then return nil end
  if f.method and lower(f.method) ~= lower(method) then return nil end
  if f.count then
    local left = d:incr("fault_left", -1, 0)
    if left < 0 then return nil end
  end
  return { name = lower(tostring(f.fault)), retry_after = tonumber(f.retry_after), delay = tonumber(f.delay),
    size_mb = tonumber(f.size_mb), location = f.location }
end

--- set(conf) for POST /__mock/faults; returns an error string or nil.
function _M.set(conf)
  local d = ngx.shared.mock_data
  if conf.latency ~= nil then
    local l = tonumber(conf.latency)
    if not l or l < 0 then return "latency must be a non-negative number" end
    d:set("latency", l)
  end
  if json.is_null(conf.fault) or conf.fault == false then
    if conf.latency == nil then d:delete("fault"); d:delete("fault_left") end
    return nil
  end
  if not known[lower(tostring(conf.fault))] then return "unknown fault " .. tostring(conf.fault) end
  d:set("fault", json.encode(conf))
  if conf.count then d:set("fault_left", tonumber(conf.count) or 0) else d:delete("fault_left") end
  return nil
end

function _M.current()
  local d = ngx.shared.mock_data
  local f = d:get("fault")
  return { fault = f and json.decode(f) or json.null, remaining = d:get("fault_left"),
    latency = d:get("latency") or 0 }
end

function _M.is_after(f) return AFTER[f.name] == true end

local function count_fault(f)
  stats():incr("faults", 1, 0)
  stats():incr("fault:" .. f.name, 1, 0)
end

local function json_error(reason)
  return json.encode(json.obj{ "result", json.arr{ json.obj{ "severity", 2, "reason", reason } } })
end

local function html(status, title)
  return "<!DOCTYPE html>\n<html><head><title>" .. status .. " " .. title .. "</title></head>" ..
    "<body><h1>" .. title .. "</h1><p>The service is temporarily unavailable.</p>" ..
    "<hr><address>Microsoft-IIS/10.0</address></body></html>\n"
end

local function send(status, ctype, body, headers)
  ngx.status = status
  ngx.header["Content-Type"] = ctype
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  ngx.header["Content-Length"] = #body
  ngx.print(body)
  return ngx.exit(status)
end

--- before(f, ctx) -> true when the fault answered (or dropped) the request.
function _M.before(f, ctx)
  local n = f.name
  if AFTER[n] then return false end
  if not known[n] then
    count_fault(f)
    send(400, "application/json", json_error("Unknown X-Mock-Fault " .. n))
    return true
  end
  count_fault(f)
  if n == "reset" then
    return true, ngx.exit(444)
  elseif n == "hang" then
    ngx.sleep(f.delay or 30)
    return true, ngx.exit(444)
  elseif n == "500" then
    send(500, "application/json", json_error("An error has occurred."))
  elseif n == "502" then
    send(502, "text/html", html(502, "Bad Gateway"))
  elseif n == "503" then
    send(503, "application/json", json_error("Service Unavailable"),
      { ["Retry-After"] = tostring(f.retry_after or 1) })
  elseif n == "429" then
    send(429, "application/json", json_error("Too Many Requests"),
      f.retry_after and { ["Retry-After"] = tostring(f.retry_after) } or nil)
  elseif n == "html_200" then
    send(200, "text/html; charset=utf-8", html(200, "Sign in"))
  elseif n == "html_502" then
    send(502, "text/html; charset=utf-8", html(502, "Bad Gateway"))
  elseif n == "malformed_json" then
    send(200, "application/json; charset=utf-8", '{"clients":[{"clientId":"a1",,"firstName":}],"paging":')
  elseif n == "redirect" then
    -- Another host name for the same server: curl must drop Authorization.
    local loc = f.location or (ctx.scheme .. "://localhost:" .. ctx.port .. "/__mock/echo-headers")
    send(302, "text/html", "<html><body>Moved</body></html>", { Location = loc })
  elseif n == "big_body" then
    local size = (f.size_mb or 20) * 1048576
    local head, tail = '{"clients":[],"padding":"', '"}'
    local fill = size - #head - #tail
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
    ngx.header["Content-Length"] = #head + fill + #tail
    ngx.print(head)
    local chunk = rep("x", 65536)
    while fill > 0 do
      local k = min(fill, #chunk)
      ngx.print(k == #chunk and chunk or sub(chunk, 1, k))
      fill = fill - k
      local ok = ngx.flush(true)
      if not ok then return true, ngx.exit(444) end
    end
    ngx.print(tail)
    return true, ngx.exit(200)
  end
  return true
end

--- after(f, status, body) -> true when it replaced the normal send.
function _M.after(f, status, body)
  local n = f.name
  count_fault(f)
  if n == "reset_after_commit" then
    return true, ngx.exit(444)
  end
  ngx.status = status
  ngx.header["Content-Type"] = "application/json; charset=utf-8"
  local half = sub(body, 1, max(1, floor(#body / 2)))
  if n == "truncated" then
    -- A complete HTTP response whose JSON is cut off: a bad body, not a
    -- network failure.
    ngx.header["Content-Length"] = #half
    ngx.print(half)
    return true, ngx.exit(status)
  end
  ngx.header["Content-Length"] = #body
  ngx.print(half)
  ngx.flush(true)
  if n == "slow_body" then
    ngx.sleep(f.delay or 30)
    ngx.print(sub(body, #half + 1))
    return true, ngx.exit(status)
  end
  -- reset_mid_body: the promised length never arrives.
  return true, ngx.exit(ngx.ERROR)
end

return _M
