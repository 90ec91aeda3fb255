--- The client's options: their names, types, defaults and checks, in one
-- place. Defaults shared with the C core (issuer, audience, timeouts, sizes,
-- the limit) come from `core.defaults`; the rest are the Lua layer's own.
-- Everything else that needs a default (the CLI, doctor, the mock launcher)
-- reads `config.DEFAULTS`.
local core = require "coreplus.core"
local misuse = require "coreplus.misuse"

local type = type
local pairs = pairs
local tostring = tostring
local floor = math.floor
local huge = math.huge

local _M = {}

-- TODO(merge of the C core's defaults): drop this fallback.
local C = core.defaults or { issuer = "lua-coreplus", audience = "https://coreplus.com.au",
  rate = 10, per = 1.0, timeout = 45, connect_timeout = 10, concurrency = 4,
  max_body = 16 * 1024 * 1024, token_ttl = 60,
  idempotent = { GET = true, HEAD = true, DELETE = true, OPTIONS = true } }
_M.core = C

local L = require "coreplus.defaults"

local DEFAULTS = {
  version = L.version,
  audience = C.audience,
  issuer = C.issuer,
  rate = C.rate, per = C.per,
  retries = L.retries, timeout = C.timeout, connect_timeout = C.connect_timeout,
  concurrency = C.concurrency,
  max_body = C.max_body,
  backoff = L.backoff, backoff_max = L.backoff_max,
}
_M.DEFAULTS = DEFAULTS

-- name -> expected type; anything else is refused by name. "callable" is a
-- function or anything with __call (a luassert spy).
local OPTIONS = {
  base_url = "string", version = "string",
  consumer_id = "string", consumer_secret = "string", access_token = "string",
  issuer = "string", audience = "string",
  rate = "number", per = "number", shared_limit = "string",
  on_redis_error = "string", redis_timeout = "number",   -- shared_limit = "redis://..."
  retries = "number", timeout = "number", connect_timeout = "number",
  cafile = "string", capath = "string", insecure = "boolean", user_agent = "string",
  concurrency = "number", transport = "any", on_request = "callable",
  allow_http = "boolean", max_body = "number",
  backoff = "number", backoff_max = "number",
  sleep = "callable", random = "callable", now = "callable",
}

local REQUIRED = { "base_url", "consumer_id", "consumer_secret", "access_token" }
_M.REQUIRED = REQUIRED

local MAX_OPTION_LEN = 64 * 1024

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end
_M.callable = callable

local function check_option(name, value)
  local want = OPTIONS[name]
  if want == nil then
    misuse.raise("coreplus.new: unknown option '%s'", tostring(name))
  end
  if want == "callable" then
    if not callable(value) then
      misuse.raise("coreplus.new: option '%s' must be a function (got %s)", name, type(value))
    end
  elseif want ~= "any" and type(value) ~= want then
    misuse.raise("coreplus.new: option '%s' must be a %s (got %s)", name, want, type(value))
  end
  if type(value) == "string" and value:find("[\r\n%z]") then
    misuse.raise("coreplus.new: option '%s' contains a control character", name)
  end
  -- Far above any real value; a bigger one would otherwise fail later, deep
  -- in signing, with a message that does not say which option is wrong.
  if type(value) == "string" and #value > MAX_OPTION_LEN then
    misuse.raise("coreplus.new: option '%s' is longer than %d bytes", name, MAX_OPTION_LEN)
  end
end

local function positive(opts, name, allow_zero)
  local v = opts[name]
  if v ~= v or v < 0 or (v == 0 and not allow_zero) or v == huge then
    misuse.raise("coreplus.new: option '%s' must be a positive number", name)
  end
end

--- check(opts) -> o: the options merged over the defaults, each checked by
-- name (raising at the caller's line).
function _M.check(opts)
  if type(opts) ~= "table" then
    misuse.raise("coreplus.new: options table expected, got %s", type(opts))
  end
  for k, v in pairs(opts) do check_option(k, v) end
  local o = {}
  for k, v in pairs(DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end

  for _, name in ipairs(REQUIRED) do
    if o[name] == nil or o[name] == "" then
      misuse.raise("coreplus.new: option '%s' is required", name)
    end
  end
  local scheme = o.base_url:match("^(%a[%w+.-]*)://[^/]")
  if scheme ~= "https" and not (scheme == "http" and o.allow_http) then
    misuse.raise("coreplus.new: option 'base_url' must be an https:// URL (http only with allow_http = true)")
  end
  for _, name in ipairs({ "rate", "per", "timeout", "connect_timeout", "concurrency", "max_body" }) do
    positive(o, name)
  end
  positive(o, "retries", true)
  -- floored below; the C core's pipeline holds at most 256 requests
  if floor(o.concurrency) < 1 or o.concurrency > 256 then
    misuse.raise("coreplus.new: option 'concurrency' must be a number from 1 to 256")
  end
  if o.version:find("[^%w._-]") then
    misuse.raise("coreplus.new: option 'version' must look like v2.1")
  end
  o.base_url = o.base_url:gsub("/+$", "")
  o.retries = floor(o.retries)
  o.concurrency = floor(o.concurrency)
  o.insecure = o.insecure or false
  return o
end

return _M
