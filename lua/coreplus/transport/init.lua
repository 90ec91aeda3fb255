--- Picks the transport: the C core (libcurl) by default, the non-blocking
-- nginx one inside OpenResty, or any table with a request function (a stub).
--
-- What a client needs of a transport (write your own, or see
-- `coreplus.testing.stub`): `request(opts) -> res | nil, err` with
-- `coreplus.core.request`'s options and results; `pipeline{concurrency =}`
-- (requests in flight as a stream, as `coreplus.core.pipeline`);
-- `sleep(seconds)`; `now()`; and optionally `limiter{...}`. A table that
-- brings only `request` gets the rest here: a pipeline that sends one
-- request at a time when asked for a result, and the C core's clock.
-- @module coreplus.transport
local core = require "coreplus.core"
local config = require "coreplus.config"
local misuse = require "coreplus.misuse"

local type = type
local setmetatable = setmetatable

local _M = {}

-- ngx's cosockets exist only in some phases; elsewhere libcurl is the way.
local function ngx_usable()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return false end
  local phase = ngx.get_phase()
  return phase == "rewrite" or phase == "access" or phase == "content" or phase == "timer"
    or phase == "ssl_cert" or phase == "ssl_session_fetch"
end

-- ===== a pipeline over request() =====

local sequential = {}
sequential.__index = sequential

--- Pipelines over a plain request function, for transports of your own.
-- @tparam function request `request(opts) -> res | nil, err`
-- @treturn function `pipeline{concurrency =}`, making pipelines with
--  `coreplus.core.pipeline`'s interface (`add`, `next`, `pending`,
--  `capacity`, `close`) that send each request, in order, when `next()` is called
function _M.sequential_pipeline(request)
  return function(o)
    local cap = o and o.concurrency or config.DEFAULTS.concurrency
    return setmetatable({ request = request, cap = cap, queue = {}, first = 1, last = 0,
      last_id = 0 }, sequential)
  end
end

function sequential:add(opts)
  if self.closed then misuse.raise("pipeline is closed") end
  if self.last - self.first + 1 >= self.cap then
    misuse.raise("pipeline full (%d in flight): take a result with next() first", self.cap)
  end
  self.last_id = self.last_id + 1
  self.last = self.last + 1
  self.queue[self.last] = { id = self.last_id, opts = opts }
  return self.last_id
end

function sequential:next()
  if self.closed then misuse.raise("pipeline is closed") end
  local item = self.queue[self.first]
  if item == nil then return nil end
  self.queue[self.first] = nil
  self.first = self.first + 1
  local res, err = self.request(item.opts)
  return item.id, res, err
end

function sequential:pending() return self.last - self.first + 1 end
function sequential:capacity() return self.cap end
function sequential:close() self.closed = true; self.queue = {} end

-- ===== choosing =====

local function complete(t)
  if t.pipeline and t.sleep and t.now then return t end
  return setmetatable({
    pipeline = t.pipeline or _M.sequential_pipeline(function(opts) return t.request(opts) end),
    sleep = t.sleep or core.sleep,
    now = t.now or core.now,
  }, { __index = t })
end

--- The transport for a client's `transport` option.
-- @param choice nil (the C core, or `"ngx"` where cosockets work), `"curl"`,
--  `"ngx"`, or a table with a `request` function
-- @treturn table the transport; raises for anything else
function _M.resolve(choice)
  if choice == nil then
    choice = ngx_usable() and "ngx" or "curl"
  end
  if choice == "curl" then return require "coreplus.transport.curl" end
  if choice == "ngx" then return require "coreplus.transport.ngx" end
  if type(choice) == "table" and type(choice.request) == "function" then return complete(choice) end
  misuse.raise("coreplus.new: option 'transport' must be \"curl\", \"ngx\" or a table with a request function")
end

return _M
