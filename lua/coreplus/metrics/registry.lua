--- Where the counts live: a registry holds, per practice label, per
-- operation and method, the counters and histograms of coreplus.metrics's
-- families. The request path (recorder:attempt, once per attempt) only
-- looks up and adds to Lua tables: no string is built, nothing is locked.
-- Everything that builds text happens when someone reads (flatten).
--
--   registry.new() -> reg    registry.default (the process's)
--   registry.for_client(o) -> rec | nil   from a client's checked options
--   registry.flatten_all(reg, ...) -> flat   (none: the default), summed
--   reg:recorder(practice) -> rec     the same rec for the same label
--   rec:attempt(req, res, terr, err, elapsed, reason, clock_offset)
--   rec:failed(req, err)              a call's final error
--   reg:flatten{practice =, dirty =} -> { [key] = number }   (see below)
--
-- A flat key is "<family>\t<labels>\t<field>": labels as they are written
-- in the text format (escaped), field "" for a counter or gauge, and for a
-- histogram "b01".."bNN" (cumulative counts, bucket by bucket), "sum" and
-- "count". Flat maps add up (workers, registries) and render
-- (coreplus.metrics.exposition).
local families = require "coreplus.metrics.families"
local exposition = require "coreplus.metrics.exposition"

local type = type
local pairs = pairs
local floor = math.floor
local format = string.format
local select = select
local getmetatable = getmetatable
local setmetatable = setmetatable

local _M = {}

local BY_NAME = families.by_name
local DURATION = BY_NAME.coreplus_request_duration_seconds.buckets
local WAIT = BY_NAME.coreplus_limiter_wait_seconds.buckets

--- A label value as the text format writes it inside quotes.
local function escape(v)
  return (v:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end
_M.escape = escape

-- status -> "2xx"; memoised for real statuses only, so odd values cannot grow it.
local CLASS = setmetatable({}, { __index = function(t, status)
  if type(status) ~= "number" or status < 100 or status > 599 or status % 1 ~= 0 then return "other" end
  local class = floor(status / 100) .. "xx"
  t[status] = class
  return class
end })

-- A histogram: counts per bucket (index #bounds + 1 is +Inf), and the sum.
local function histogram(bounds)
  local h = { sum = 0 }
  for i = 1, #bounds + 1 do h[i] = 0 end
  return h
end

local function observe(h, bounds, v)
  local i, n = 1, #bounds
  while i <= n and v > bounds[i] do i = i + 1 end
  h[i] = h[i] + 1
  h.sum = h.sum + v
end

local Recorder = {}
Recorder.__index = Recorder

local function series(rec, op, method)
  local by_method = rec.ops[op]
  if by_method == nil then
    by_method = {}
    rec.ops[op] = by_method
  end
  local s = by_method[method]
  if s == nil then
    s = { labels = format('%s,operation="%s",method="%s"', rec.labels, escape(op), escape(method)),
      requests = {}, rate_limited = 0, retries = {}, failures = {}, unknown = 0,
      duration = histogram(DURATION) }
    by_method[method] = s
  end
  return s
end

--- rec:attempt(req, res, terr, err, elapsed, reason, clock_offset): one
-- attempt as the engine saw it. req = {operation=, method=}; res or terr is
-- what the transport returned (their `waited`, the limiter's wait, is taken
-- out of `elapsed`); err the attempt's error; reason why it will be repeated.
function Recorder:attempt(req, res, terr, err, elapsed, reason, offset)
  local s = series(self, req.operation or "request", req.method)
  local status = res and res.status
  local class = status and CLASS[status] or "none"
  local kinds = s.requests[class]
  if kinds == nil then
    kinds = {}
    s.requests[class] = kinds
  end
  local kind = err and err.kind or "none"
  kinds[kind] = (kinds[kind] or 0) + 1
  if status == 429 then s.rate_limited = s.rate_limited + 1 end
  if reason then s.retries[reason] = (s.retries[reason] or 0) + 1 end
  local waited = res and res.waited or terr and terr.waited
  if type(waited) == "number" and waited >= 0 then
    observe(self.wait, WAIT, waited)
    elapsed = elapsed - waited
  end
  observe(s.duration, DURATION, elapsed > 0 and elapsed or 0)
  if offset then self.clock_offset = offset end
  s.dirty, self.dirty = true, true
end

--- rec:failed(req, err): a call ended with err (after its retries).
function Recorder:failed(req, err)
  local s = series(self, req.operation or "request", req.method)
  local kind = err.kind or "none"
  s.failures[kind] = (s.failures[kind] or 0) + 1
  if err.outcome == "unknown" then s.unknown = s.unknown + 1 end
  s.dirty, self.dirty = true, true
end

local Registry = {}
Registry.__index = Registry

function _M.new()
  return setmetatable({ recorders = {} }, Registry)
end

function Registry:recorder(practice)
  local rec = self.recorders[practice]
  if rec == nil then
    rec = setmetatable({ registry = self, practice = practice,
      labels = format('practice="%s"', escape(practice)),
      ops = {}, wait = histogram(WAIT), clock_offset = nil }, Recorder)
    self.recorders[practice] = rec
  end
  return rec
end

local function put_histogram(out, name, labels, h, bounds)
  local prefix = name .. "\t" .. labels .. "\t"
  local n = 0
  for i = 1, #bounds do
    n = n + h[i]
    out[prefix .. format("b%02d", i)] = n
  end
  out[prefix .. "count"] = n + h[#bounds + 1]
  out[prefix .. "sum"] = h.sum
end

local function put_series(out, s)
  local labels = s.labels
  for class, kinds in pairs(s.requests) do
    for kind, n in pairs(kinds) do
      out[format('coreplus_requests_total\t%s,status_class="%s",error="%s"\t', labels, class, escape(kind))] = n
    end
  end
  if s.rate_limited > 0 then out["coreplus_rate_limited_total\t" .. labels .. "\t"] = s.rate_limited end
  for reason, n in pairs(s.retries) do
    out[format('coreplus_retries_total\t%s,reason="%s"\t', labels, escape(reason))] = n
  end
  for kind, n in pairs(s.failures) do
    out[format('coreplus_failures_total\t%s,error="%s"\t', labels, escape(kind))] = n
  end
  if s.unknown > 0 then out["coreplus_unknown_outcomes_total\t" .. labels .. "\t"] = s.unknown end
  put_histogram(out, "coreplus_request_duration_seconds", labels, s.duration, DURATION)
end

--- reg:flatten{practice = label, dirty = bool, into = map} -> flat map. With
-- `practice`, that practice's series only; with
-- `dirty`, only what changed since the last dirty flatten (for a flush).
function Registry:flatten(opts)
  opts = opts or {}
  local out = opts.into or {}
  local only, dirty = opts.practice, opts.dirty
  for practice, rec in pairs(self.recorders) do
    if (only == nil or only == practice) and (not dirty or rec.dirty) then
      rec.dirty = false
      for _, by_method in pairs(rec.ops) do
        for _, s in pairs(by_method) do
          if not dirty or s.dirty then
            s.dirty = false
            put_series(out, s)
          end
        end
      end
      put_histogram(out, "coreplus_limiter_wait_seconds", rec.labels, rec.wait, WAIT)
      if rec.clock_offset then
        out["coreplus_server_clock_offset_seconds\t" .. rec.labels .. "\t"] = rec.clock_offset
      end
    end
  end
  return out
end

_M.default = _M.new()

function _M.is_registry(v)
  return getmetatable(v) == Registry
end

function _M.flatten_all(...)
  local n = select("#", ...)
  if n == 0 then return _M.default:flatten() end
  local flat = {}
  for i = 1, n do
    local reg = select(i, ...)
    if getmetatable(reg) ~= Registry then
      require("coreplus.misuse").raise("bad argument #%d to 'render' (registry expected, got %s)", i, type(reg))
    end
    exposition.merge(flat, reg:flatten())
  end
  return flat
end

--- The recorder of a client (nil: option metrics = false).
function _M.for_client(o)
  if o.metrics == false then return nil end
  return (o.metrics or _M.default):recorder(o.practice)
end

return _M
