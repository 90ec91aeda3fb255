--- lua-coreplus: the coreplus appointment-booking API from Lua.
-- `require "coreplus"` gives this table: the client constructors, the JWT
-- helpers and the C core's functions re-exported.
local core = require "coreplus.core"

local os_getenv = os.getenv

local _M = {
  _VERSION = core.version,
  version = core.version,
  core = core,
  jwt = require "coreplus.jwt",
  errors = require "coreplus.errors",
  dates = require "coreplus.dates",
}

-- The C core's functions are reachable as coreplus.<name> too (docs/decisions.md #15 lists what design.md §2 does not).
for name, fn in pairs(core) do
  if _M[name] == nil then _M[name] = fn end
end

--- coreplus.new{...}: a client. See README "Configuration".
function _M.new(opts)
  return require("coreplus.client").new(opts)
end

-- Environment variable -> option (the CLI reads the same names).
local ENV = {
  COREPLUS_BASE_URL = "base_url", COREPLUS_CONSUMER_ID = "consumer_id",
  COREPLUS_CONSUMER_SECRET = "consumer_secret", COREPLUS_ACCESS_TOKEN = "access_token",
  COREPLUS_ISSUER = "issuer", COREPLUS_AUDIENCE = "audience", COREPLUS_VERSION = "version",
  COREPLUS_CAFILE = "cafile",
}
_M.ENV = ENV

--- coreplus.from_env([overrides]): a client configured from COREPLUS_* variables.
function _M.from_env(overrides, getenv)
  getenv = getenv or os_getenv
  local opts = {}
  for var, name in pairs(ENV) do
    local v = getenv(var)
    if v ~= nil and v ~= "" then opts[name] = v end
  end
  if opts.base_url and opts.base_url:match("^http://") then
    local host = opts.base_url:match("^http://([^/:]+)")
    -- Plain HTTP only toward this machine (the bundled mock in --plain mode).
    if host == "127.0.0.1" or host == "localhost" then opts.allow_http = true end
  end
  for k, v in pairs(overrides or {}) do opts[k] = v end
  for _, name in ipairs({ "base_url", "consumer_id", "consumer_secret", "access_token" }) do
    if opts[name] == nil then
      local var
      for k, n in pairs(ENV) do if n == name then var = k end end
      error(("coreplus.from_env: %s is not set (option '%s')"):format(var, name), 2)
    end
  end
  return _M.new(opts)
end

_M.from_profile = require("coreplus.profile").from_profile  -- a client from a config-file section

return _M
