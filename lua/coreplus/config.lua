--- The client's options: their names, types, defaults and checks, in one
-- place. Defaults shared with the C core (issuer, audience, timeouts, sizes,
-- the limit) come from `core.defaults`; the rest are the Lua layer's own.
-- Everything else that needs a default (the CLI, doctor, the mock launcher)
-- reads `config.DEFAULTS`.
local core = require "coreplus.core"
local misuse = require "coreplus.misuse"
local settings = require "coreplus.settings"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local floor = math.floor
local huge = math.huge

local _M = {}

local C = core.defaults
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
  limit_key = L.limit_key, max_upload = L.max_upload,
  practice = L.practice,
}
_M.DEFAULTS = DEFAULTS

-- name -> expected type; anything else is refused by name. "callable" is a
-- function or anything with __call (a luassert spy). The options a person
-- gives as text (coreplus.settings) take their types from there; these are
-- the ones only code gives.
local OPTIONS = {
  rate = "number", per = "number",
  insecure = "boolean",
  concurrency = "number", transport = "any", on_request = "callable",
  allow_http = "boolean", max_body = "number",
  backoff = "number", backoff_max = "number",
  sleep = "callable", random = "callable", now = "callable", log = "callable",
  max_upload = "number", clock_offset = "number",
  practice = "string", metrics = "metrics",   -- coreplus.metrics
}
-- A setting's name that is not its option's (api_version for version) is
-- taken as that option too, so that option `x` <=> COREPLUS_X holds.
local SYNONYMS = {}
for _, row in ipairs(settings.ROWS) do
  if row.option then
    OPTIONS[row.option] = row.type
    for _, n in ipairs(row.names) do
      if n ~= row.option then SYNONYMS[n] = row.option end
    end
  end
end

--- Every option name coreplus.new takes (a set), synonyms included.
function _M.option_names()
  local out = {}
  for k in pairs(OPTIONS) do out[k] = true end
  for k in pairs(SYNONYMS) do out[k] = true end
  return out
end

-- Numbers: the range each may take (finite; a few must be whole). Far
-- beyond any real use at both ends, so that a typo or a NaN is caught here,
-- by name, instead of deep in the C core or never.
local RANGES = {
  rate = { 1, C.max_rate, whole = true }, per = { 0.01, 3600 },
  retries = { 0, 100, whole = true },
  timeout = { 0.001, 86400 }, connect_timeout = { 0.001, 3600 },
  concurrency = { 1, C.max_concurrency }, max_body = { 1, 2 ^ 40 }, max_upload = { 1, 2 ^ 40 },
  backoff = { 0, 3600 }, backoff_max = { 0, 3600 }, redis_timeout = { 0.001, 60 },
  clock_offset = { -86400, 86400 },
}

local LIMIT_KEYS = { access_token = true, consumer = true }

local REQUIRED = {}
for i, row in ipairs(settings.required()) do REQUIRED[i] = row.option end
_M.REQUIRED = REQUIRED

local MAX_OPTION_LEN = 64 * 1024

-- Well-formed UTF-8 (no overlongs, surrogates or code points over U+10FFFF).
local utf8_valid
if utf8 and utf8.len then
  utf8_valid = function(s) return utf8.len(s) ~= nil end   -- strict: no surrogates either
else
  local byte = string.byte
  utf8_valid = function(s)   -- LuaJIT has no utf8 library
    local i, n = 1, #s
    while i <= n do
      local c = byte(s, i)
      local len
      local lo, hi = 0x80, 0xBF
      if c < 0x80 then len = 1
      elseif c >= 0xC2 and c <= 0xDF then len = 2
      elseif c >= 0xE0 and c <= 0xEF then len = 3
        if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
      elseif c >= 0xF0 and c <= 0xF4 then len = 4
        if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
      else return false end
      for k = 1, len - 1 do
        local b = byte(s, i + k)
        if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then return false end
      end
      i = i + len
    end
    return true
  end
end
_M.utf8_valid = utf8_valid

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end
_M.callable = callable

local function check_option(name, value)
  local want = OPTIONS[SYNONYMS[name] or name]
  if want == nil then
    misuse.raise("coreplus.new: unknown option '%s'", tostring(name))
  end
  if want == "callable" then
    if not callable(value) then
      misuse.raise("coreplus.new: option '%s' must be a function (got %s)", name, type(value))
    end
  elseif want == "limit" then
    if value ~= false and type(value) ~= "string" then
      misuse.raise("coreplus.new: option '%s' must be a path, a redis:// URL or false (got %s)",
        name, type(value))
    end
  elseif want == "metrics" then
    if value ~= false and not require("coreplus.metrics.registry").is_registry(value) then
      misuse.raise("coreplus.new: option '%s' must be a registry (coreplus.metrics.registry()) or false", name)
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
  -- Claims and headers are UTF-8 text: a string that is not would be refused
  -- by the C core at every call, long after `new` accepted it.
  if type(value) == "string" and not utf8_valid(value) then
    misuse.raise("coreplus.new: option '%s' is not valid UTF-8", name)
  end
end

local function in_range(o, name)
  local v, r = o[name], RANGES[name]
  if v == nil then return end
  if v ~= v or v < r[1] or v > r[2] or v == huge or (r.whole and v % 1 ~= 0) then
    misuse.raise("coreplus.new: option '%s' must be a %snumber from %g to %g", name,
      r.whole and "whole " or "", r[1], r[2])
  end
end

-- https://host[:port][/path], nothing that would be sent, signed or shown
-- other than that: credentials in the URL (they would appear in every error
-- message), a query or fragment (the path is appended to it), white space.
local function check_base_url(u, allow_http)
  local scheme, rest = u:match("^(%a[%w+.-]*)://(.*)$")
  if scheme ~= "https" and not (scheme == "http" and allow_http) then
    misuse.raise("coreplus.new: option 'base_url' must be an https:// URL (http only with allow_http = true)")
  end
  local authority = rest:match("^([^/]*)")
  if authority == "" then misuse.raise("coreplus.new: option 'base_url' has no host") end
  if authority:find("@", 1, true) then
    misuse.raise("coreplus.new: option 'base_url' must not hold a user name or password")
  end
  if u:find("[%s?#]") then
    misuse.raise("coreplus.new: option 'base_url' must not contain white space, a query or a fragment")
  end
end

-- The practice label is shown to whoever scrapes the metrics: printable,
-- short, and never one of the secrets (a token pasted in the wrong field).
local MAX_PRACTICE_LEN = 128
local function check_practice(o)
  local p = o.practice
  if p == "" or #p > MAX_PRACTICE_LEN or p:find("%c") then
    misuse.raise("coreplus.new: option 'practice' must be 1 to %d printable characters", MAX_PRACTICE_LEN)
  end
  if p == o.access_token or p == o.consumer_secret then
    misuse.raise("coreplus.new: option 'practice' must not be the access token or the consumer secret:"
      .. " it labels metrics that whoever scrapes them can read")
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
  for k, v in pairs(opts) do
    local name = SYNONYMS[k]
    if name == nil then
      o[k] = v
    elseif opts[name] ~= nil and opts[name] ~= v then
      misuse.raise("coreplus.new: options '%s' and '%s' are one setting and differ", name, k)
    else
      o[name] = v
    end
  end

  for _, name in ipairs(REQUIRED) do
    if o[name] == nil or o[name] == "" then
      misuse.raise("coreplus.new: option '%s' is required", name)
    end
  end
  check_base_url(o.base_url, o.allow_http)
  check_practice(o)
  for name in pairs(RANGES) do in_range(o, name) end
  -- floored below; the C core's pipeline holds at most max_concurrency requests
  if floor(o.concurrency) < 1 then
    misuse.raise("coreplus.new: option 'concurrency' must be a number from 1 to " .. C.max_concurrency)
  end
  if o.backoff_max < o.backoff then
    misuse.raise("coreplus.new: option 'backoff_max' must not be below 'backoff'")
  end
  if not LIMIT_KEYS[o.limit_key] then
    misuse.raise("coreplus.new: option 'limit_key' must be \"access_token\" or \"consumer\"")
  end
  if not require("coreplus.url").version_ok(o.version) then
    misuse.raise("coreplus.new: option 'version' must look like v2.1")
  end
  o.base_url = o.base_url:gsub("/+$", "")
  o.retries = floor(o.retries)
  o.concurrency = floor(o.concurrency)
  o.insecure = o.insecure or false
  return o
end

return _M
