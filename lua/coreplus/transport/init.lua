--- Picks the transport: the C core (libcurl) by default, the non-blocking
-- nginx one inside OpenResty, or any table with a request function (a stub);
-- and states the contract every transport keeps, written once here and
-- checked against all three by spec/transport_contract_spec.lua.
--
-- **A transport** is a table with `request(opts) -> res | nil, err` (one
-- attempt); `pipeline{concurrency =}` (requests in flight as a stream, as
-- `coreplus.core.pipeline`: `add(opts) -> id`, `next() -> id, res, err`
-- (nil when empty), `pending()`, `capacity()`, `close()`); `sleep(seconds)`;
-- `now()` (the clock `deadline` is on); optionally `limiter{rate =, per =,
-- key =, shared =}`; and a `name`. A table that brings only `request` gets
-- the rest here: a pipeline that sends one request at a time when asked for
-- a result, and the C core's clock.
--
-- **The request** (`opts`, built anew by the engine for every attempt):
-- `method`; `url` (absolute, final, query included: signed as it is sent);
-- `body` (a string) or `multipart` (a list of parts); `headers`;
-- `credentials` (`{consumer_id, consumer_secret, access_token}`; nil:
-- unsigned) with `issuer`, `audience` and `now_offset` (seconds the server's
-- clock is ahead: the token is made when the request leaves, see
-- coreplus.transport.token); `timeout` (the exchange, from connecting to the
-- last byte) and `connect_timeout`; `deadline` (on `now()`'s clock: by then
-- everything is over, the limiter's wait and any lock included; a wait that
-- would pass it fails at once, kind "timeout", `sent = false`); `limiter`;
-- `max_body`; `user_agent`; `cafile`, `capath`, `insecure`. Misuse raises,
-- naming the field, before anything is sent.
--
-- **The result** (`res`) is an HTTP answer of any status (a status is not a
-- transport error): the fields of `RESULT` below, those marked true always.
--
-- **The error** (`err`): `kind` ("network", "timeout", "tls", "too_large",
-- "limiter", or a test double's own), `message`, `sent` (false: the request
-- provably never reached the server), `method`, `url`, `elapsed`, `waited`;
-- `final = true` when repeating cannot help (the engine never repeats it).
-- Never a token or a secret.
--
-- **The repeat rule**: a transport sends a request at most once and says
-- what happened; whether to repeat is decided by coreplus.retry alone. A
-- request that is not idempotent (`core.defaults.idempotent`) goes on a
-- connection of its own, so that a pooled connection the server had just
-- closed can never leave its outcome unknown. (The one repeat below
-- coreplus.retry is libcurl's: an idempotent request whose reused connection
-- turns out closed before any byte of the answer is sent again once on a new
-- one, which RFC 9110 9.2.2 allows and libcurl cannot be told not to do.)
--
-- **The limiter**: a slot counts from the moment the request leaves (after
-- the connection is set up). A booking that has not left holds the later
-- ones up for `core.defaults.lease` seconds without a renewal; its owner
-- renews it while it waits and while it connects, so a killed, stopped or
-- blocked owner costs the others one lease at most; an owner whose lease ran
-- out books again at the back instead of leaving late.
-- @module coreplus.transport
local core = require "coreplus.core"
local misuse = require "coreplus.misuse"

local type = type
local setmetatable = setmetatable

local _M = {}

--- The fields of a result: true for those every transport gives, false for
-- those only some can (the C core's timings, from libcurl: src/http.h's
-- HTTP_RESULT_INFO).
--
--  - `status` (integer), `headers` (lower-case names; repeated fields joined
--    with ", "), `body` (a string), `sent` (true), `elapsed` (seconds of the
--    exchange, from connecting to the last byte), `waited` (seconds waiting
--    for the limiter)
--  - `new_connection`, `http_version` ("1.1", "2"), `retry_after` (seconds),
--    `connect_time`, `tls_time`, `pretransfer_time`, `starttransfer_time`,
--    `primary_ip`, `primary_port`, `local_port`
_M.RESULT = {
  status = true, headers = true, body = true, sent = true, elapsed = true, waited = true,
  new_connection = false, http_version = false, retry_after = false,
  connect_time = false, tls_time = false, pretransfer_time = false, starttransfer_time = false,
  primary_ip = false, primary_port = false, local_port = false,
}

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
    local cap = o and o.concurrency or core.defaults.concurrency
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
