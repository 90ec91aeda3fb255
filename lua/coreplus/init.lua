--- lua-coreplus: the coreplus appointment-booking API from Lua.
-- `require "coreplus"` gives this table: the client constructors, the JWT
-- helpers and the C core's functions re-exported.
local core = require "coreplus.core"
local misuse = require "coreplus.misuse"

local os_getenv = os.getenv

local _M = {
  _VERSION = core.version,
  version = core.version,
  core = core,
  jwt = require "coreplus.jwt",
  errors = require "coreplus.errors",
  dates = require "coreplus.dates",
}

-- The C core's public functions are reachable as coreplus.<name> too; the
-- rest of the core is the package's own business (coreplus.core is there for
-- those who need it).
for _, name in ipairs{ "request", "request_many", "pipeline", "sign", "jwt_encode", "jwt_decode",
  "base64url_encode", "base64url_decode", "limiter", "now", "monotonic", "sleep", "defaults" } do
  _M[name] = core[name]
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
  for _, name in ipairs(require("coreplus.config").REQUIRED) do
    if opts[name] == nil then
      local var
      for k, n in pairs(ENV) do if n == name then var = k end end
      misuse.raise("coreplus.from_env: %s is not set (option '%s')", var, name)
    end
  end
  return _M.new(opts)
end

_M.from_profile = require("coreplus.profile").from_profile  -- a client from a config-file section

return _M
