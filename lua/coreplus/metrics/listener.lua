--- A small HTTP listener serving `/metrics` from a process that is not a
-- server (`coreplus sync --watch --metrics PORT`), on LuaSocket. It listens
-- on 127.0.0.1 only: the metrics are for this machine's Prometheus (or an
-- exporter that forwards them), as with the OpenResty example. The process
-- calls `poll(seconds)` where it would otherwise sleep, and `poll(0)`
-- between pieces of work: each scrape is answered then, in full, one at a
-- time, with a deadline so that a client that stops talking cannot hold the
-- process.
--
--   local l = listener.new{ port = 9464, render = function() return text end,
--     stop = function() return stopping end }   -- | nil, err
--   (stop: checked whenever a signal or a scrape wakes poll, which then returns at once)
--   l.port           the port (useful with port = 0: any free one)
--   l:poll(seconds)  answers scrapes for `seconds` (0: those waiting), then returns
--   l:close()
local socket = require "socket"

local type = type
local pcall = pcall
local tostring = tostring
local setmetatable = setmetatable
local max = math.max
local format = string.format

local exposition = require "coreplus.metrics.exposition"

local _M = {}
local mt = { __index = _M }

-- Seconds a client has to send its request, and lines it may send.
local CLIENT_TIMEOUT = 2
local MAX_HEADER_LINES = 100

--- listener.new{port =, host = "127.0.0.1", render = function() -> text, stop =,
-- client_timeout = 2} -> l | nil, err
function _M.new(o)
  local host = o.host or "127.0.0.1"
  if host ~= "127.0.0.1" and host ~= "::1" and host ~= "localhost" then
    error("coreplus.metrics.listener: host must be a loopback address (got " .. tostring(host) .. ")", 2)
  end
  local server, err = socket.bind(host, o.port or 0)
  if not server then return nil, format("cannot listen on %s:%s: %s", host, tostring(o.port), tostring(err)) end
  server:settimeout(0)
  local _, port = server:getsockname()
  return setmetatable({ server = server, render = o.render, stop = o.stop, port = tonumber(port), host = host,
    client_timeout = o.client_timeout or CLIENT_TIMEOUT }, mt)
end

local REASONS = { [200] = "OK", [400] = "Bad Request", [404] = "Not Found", [405] = "Method Not Allowed",
  [500] = "Internal Server Error" }

local function respond(c, status, body, content_type, head_only, extra)
  c:send(format("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n%s",
    status, REASONS[status], content_type or "text/plain; charset=utf-8", #body, extra or "",
    head_only and "" or body))
end

-- One connection: the request line and headers, then one answer.
function _M:answer(c)
  c:settimeout(self.client_timeout)
  local line = c:receive("*l")
  if not line then return end
  for _ = 1, MAX_HEADER_LINES do
    local h = c:receive("*l")
    if h == nil or h == "" then break end
  end
  local method, path = line:match("^(%u+) (%S+) HTTP/1%.[01]$")
  if not method then return respond(c, 400, "bad request\n") end
  path = path:match("^[^?]*")
  if path ~= "/metrics" then return respond(c, 404, "not found: try /metrics\n") end
  if method ~= "GET" and method ~= "HEAD" then
    return respond(c, 405, "GET or HEAD\n", nil, false, "Allow: GET, HEAD\r\n")
  end
  local ok, text = pcall(self.render)
  if not ok or type(text) ~= "string" then
    return respond(c, 500, "metrics failed: " .. tostring(text) .. "\n")
  end
  respond(c, 200, text, exposition.CONTENT_TYPE, method == "HEAD")
end

--- l:poll(seconds): answers every scrape that comes within `seconds`
-- (default 0: only those already waiting), then returns.
function _M:poll(seconds)
  if not self.server then return end
  local deadline = socket.gettime() + (seconds or 0)
  while true do
    local ready = socket.select({ self.server }, nil, max(0, deadline - socket.gettime()))
    local c = ready[1] and self.server:accept()
    if c then
      pcall(self.answer, self, c)
      c:close()
    end
    if (not c and socket.gettime() >= deadline) or (self.stop and self.stop()) then return end
  end
end

function _M:close()
  if self.server then self.server:close(); self.server = nil end
end

return _M
