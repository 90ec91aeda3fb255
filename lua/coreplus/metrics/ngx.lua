--- Metrics in OpenResty: every worker's counts added up in a shared dict,
-- and served at `/metrics` (see `coreplus.metrics`).
--
-- Each worker's clients count in the worker's own Lua tables (nothing is
-- locked on the request path); a timer in each worker adds what changed
-- since its last turn to the shared dict (`incr`), and `/metrics` renders
-- the dict. A scrape shows the serving worker's counts at once and the
-- others' within `interval` seconds. The dict outlives a reload (`nginx -s
-- reload`), so counters do not go back when workers are replaced.
--
--     http {
--         lua_shared_dict coreplus_metrics 1m;
--         init_worker_by_lua_block { require("coreplus.metrics.ngx").start() }
--         server {
--             location = /metrics {
--                 allow 127.0.0.0/8; allow ::1; deny all;   # loopback only: others get 403
--                 content_by_lua_block { require("coreplus.metrics.ngx").serve() }
--             }
--         }
--     }
--
-- Rendering reads every key of the dict (`get_keys`), which holds the dict's
-- lock meanwhile: only the workers' timers and other scrapes wait for it,
-- never a request of the service.
-- @module coreplus.metrics.ngx
local registry = require "coreplus.metrics.registry"
local exposition = require "coreplus.metrics.exposition"
local families = require "coreplus.metrics.families"

local pairs = pairs
local ipairs = ipairs
local tostring = tostring

local _M = {}

--- The shared dict's default name: `coreplus_metrics`.
_M.dict_name = "coreplus_metrics"

--- Seconds between a worker's flushes to the dict (default 1).
_M.interval = 1

local state = { registries = nil, last = {}, dict_name = nil, warned = false }

local function dict()
  local name = state.dict_name or _M.dict_name
  local d = ngx.shared[name]
  if not d then
    error("coreplus.metrics.ngx: no lua_shared_dict " .. name .. " in nginx.conf (e.g. lua_shared_dict "
      .. name .. " 1m;)", 0)
  end
  return d
end

--- Adds this worker's changes since the last flush to the dict. The timer of
-- `start` calls it; `render` calls it first.
-- @treturn number how many keys were written
function _M.flush()
  local d = dict()
  local written = 0
  for _, reg in ipairs(state.registries or { registry.default }) do
    local last = state.last[reg]
    if not last then last = {}; state.last[reg] = last end
    for key, v in pairs(reg:flatten{ dirty = true }) do
      local before = last[key]
      local ok, err
      if families.by_name[exposition.split(key)].type == "gauge" then
        if v ~= before then ok, err = d:set(key, v) end
      elseif v ~= (before or 0) then
        ok, err = d:incr(key, v - (before or 0), 0)
      end
      if ok then
        last[key] = v
        written = written + 1
      elseif err then
        -- Counts not written stay owed: the key is flushed again with the
        -- next change of its series.
        if not state.warned then
          state.warned = true
          ngx.log(ngx.WARN, "coreplus: metrics not all stored in lua_shared_dict ", state.dict_name or _M.dict_name,
            ": ", tostring(err), " (make it larger)")
        end
      end
    end
  end
  return written
end

local function tick(premature)
  local ok, err = pcall(_M.flush)
  if not ok and not premature then ngx.log(ngx.ERR, "coreplus: metrics flush: ", tostring(err)) end
end

--- Starts this worker's flushes (call it in `init_worker_by_lua*`).
-- @tparam[opt] table opts `dict` (the shared dict's name, default
--  `coreplus_metrics`), `interval` (seconds, default 1), `registries` (a
--  list; default: the worker's `coreplus.metrics.default`)
-- @return true, or nil and an error (no such dict, no timer)
function _M.start(opts)
  opts = opts or {}
  state.dict_name = opts.dict or _M.dict_name
  state.registries = opts.registries
  if not ngx.shared[state.dict_name] then
    return nil, "no lua_shared_dict " .. state.dict_name
  end
  -- A timer's last run (premature, when the worker exits) flushes what is left.
  return ngx.timer.every(opts.interval or _M.interval, tick)
end

--- The text of every worker's counts (this worker's flushed first).
-- @treturn string the Prometheus text format, version 0.0.4
function _M.render()
  _M.flush()
  local d = dict()
  local flat = {}
  for _, key in ipairs(d:get_keys(0)) do
    local v = d:get(key)
    if v ~= nil then flat[key] = v end
  end
  return exposition.render(flat)
end

--- Answers the request with `render()`'s text and its Content-Type (use it
-- in `content_by_lua*`; restrict who may ask with nginx's allow/deny).
function _M.serve()
  local text = _M.render()
  ngx.header["Content-Type"] = exposition.CONTENT_TYPE
  ngx.print(text)
end

return _M
