--- lua-coreplus: the coreplus appointment-booking API from Lua.
--
-- `require "coreplus"` gives this table: the client constructors, the JWT
-- helpers and the C core's public functions re-exported.
--
--     local coreplus = require "coreplus"
--     local cp = coreplus.new{ base_url = "https://sandbox.coreplus.com.au",
--       consumer_id = ..., consumer_secret = ..., access_token = ... }
--     local page, err = cp.practitioners:list{ pageSize = 20 }
--
-- A client (`coreplus.client`) has one field per resource of the catalogue
-- (`coreplus.catalogue`); their operations are in `coreplus.resource`.
--
-- Besides `new` and `from_env`, the table has:
--
-- - `version` (also `_VERSION`): the library's version
-- - `core`: the C core, `coreplus.core`
-- - `jwt`, `errors`, `dates`, `metrics`: the modules `coreplus.jwt`, `coreplus.errors`,
--   `coreplus.dates`, `coreplus.metrics`
-- - `ENV`: environment variable name -> option name, as `from_env` reads them
-- - the C core's public functions (`coreplus.core`): `request`, `request_many`,
--   `pipeline`, `sign`, `jwt_encode`, `jwt_decode`, `base64url_encode`,
--   `base64url_decode`, `limiter`, `now`, `monotonic`, `sleep`, `defaults`
-- @module coreplus
local core = require "coreplus.core"
local misuse = require "coreplus.misuse"
local settings = require "coreplus.settings"

local os_getenv = os.getenv

local _M = {
  _VERSION = core.version,
  version = core.version,
  core = core,
  jwt = require "coreplus.jwt",
  errors = require "coreplus.errors",
  dates = require "coreplus.dates",
  metrics = require "coreplus.metrics",
}

-- The C core's public functions are reachable as coreplus.<name> too; the
-- rest of the core is the package's own business (coreplus.core is there for
-- those who need it).
for _, name in ipairs{ "request", "request_many", "pipeline", "sign", "jwt_encode", "jwt_decode",
  "base64url_encode", "base64url_decode", "limiter", "now", "monotonic", "sleep", "defaults" } do
  _M[name] = core[name]
end

--- Makes a client: `coreplus.new{...}`. An unknown option, or one of the
-- wrong type, raises naming it (at the caller's line).
-- @tparam table opts the options, with their defaults:
--
--  - `base_url` (required): e.g. `https://sandbox.coreplus.com.au`;
--   `https://` only, unless `allow_http`
--  - `consumer_id`, `consumer_secret`, `access_token` (required): from the
--   add-on's page in coreplus; the secret is used as-is as the HMAC key
--  - `version = "v2.1"` (or `api_version`, its name as a setting): the API
--   version in `/API/Core/<version>/`
--  - `issuer`: the `iss` claim: your company's URL, as coreplus documents it
--   (e.g. `"https://myapp.example"`); without one `lua-coreplus` is sent and
--   the client says once what to set
--  - `audience = "https://coreplus.com.au"`: the `aud` claim
--  - `rate = 10`, `per = 1.0`: the client-side limit, `rate` requests per `per` seconds
--  - `shared_limit = nil`: a file path (processes on one machine) or a Redis URL
--   (several machines: `redis://`, `rediss://` for TLS, a Cluster node's URL,
--   `redis+sentinel://`; docs/redis.md) sharing the limit; `false`: no sharing
--  - `limit_key = "access_token"`: what one rate budget covers: one practice's
--   access token, or `"consumer"` (every practice of the consumer id)
--  - `on_redis_error = "local"`: with a Redis `shared_limit`, `"local"` falls
--   back to this process's own limit, `"fail"` returns errors of kind `limiter`
--  - `redis_timeout = 0.5`: seconds, at most, for connecting to Redis and for each
--    Redis call (never more than what is left of `timeout`)
--  - `redis_cafile`, `redis_certfile`, `redis_keyfile`: with `rediss://`, the CAs
--    to verify Redis with (default: the system's) and a client certificate and
--    key for mutual TLS; `redis_insecure = true` verifies nothing (said once)
--  - `retries = 3`: further attempts after a 503 or a transport failure, where the
--    retry rule allows (coreplus.retry); a 429 is waited out until `timeout`
--    instead; 0 repeats nothing
--  - `timeout = 45`, `connect_timeout = 10`: seconds for the whole call
--    (every attempt, wait and retry together), and to connect
--  - `cafile = nil`, `capath = nil`: trust for the server's certificate (default: the system's)
--  - `insecure = false`: true skips certificate checks (never in production)
--  - `user_agent = nil`: your app's name, e.g. `"my-sync/1.2"`, sent first:
--   `my-sync/1.2 lua-coreplus/<version> (libcurl/<v>; ...)`; without one the
--   library's agent alone goes out, and the client says once that coreplus
--   may block it
--  - `concurrency = 4`: pages fetched ahead by the iterators (1 to 256)
--  - `transport = nil`: the C core (libcurl); `"curl"`, `"ngx"` (the default
--   inside OpenResty request phases), or a table with a `request` function
--   (a stub: `coreplus.testing.stub`)
--  - `on_request = nil`: a callable `hook(info)` after each attempt, with
--   `method`, `url`, `status`, `attempt`, `elapsed`, `error` (a kind) and
--   `retry` (the reason it is repeated: `rate_limited`, `unavailable`,
--   `transport`, `not_sent`, `clock_skew`), and `warnings` (a list of
--   `{key =, message =}` said since the last attempt)
--  - `allow_http = false`: true permits an `http://` base URL (the mock with `--plain`)
--  - `max_body = 16 * 1024 * 1024`: the largest response body accepted, in bytes (`too_large` beyond)
--  - `max_upload = 100 * 1024 * 1024`: the largest file or attachment sent, in bytes (checked before sending)
--  - `backoff = 0.5`, `backoff_max = 8`: a retry waits a random time of up
--   to `min(backoff_max, backoff * 2^(attempt - 1))` seconds; after a 429 at
--   least one whole `per` (a sane `Retry-After` answer says how long instead)
--  - `log = nil`: a callable `log(message, key)` for the client's warnings
--   (an unbelievable Date header, no user agent); the default writes them to
--   standard error (nginx's error log in OpenResty)
--  - `practice = "default"`: the label of this client's metrics
--   (`coreplus.metrics`): a name for the practice, e.g. `"north-clinic"`,
--   shown to whoever scrapes them (never a token or secret; 1 to 128
--   printable characters). `COREPLUS_PRACTICE`; `from_profile` gives the
--   profile's name unless the profile has `practice`
--  - `metrics = nil`: where the client counts its requests: the process's
--   registry (`coreplus.metrics.default`), a registry of one's own
--   (`coreplus.metrics.registry()`), or `false` (nothing is counted)
--  - `clock_offset = nil`: seconds the server's clock is ahead of this
--   machine's, to start from (one learnt before, e.g. `cp.clock_offset` of an
--   earlier run; the `coreplus` tool keeps its own): the first response's
--   `Date` corrects it
--  - `sleep`, `random`, `now`: callables replacing how the client sleeps
--   (the transport's), draws jitter in [0, 1) (`math.random`) and reads the
--   clock (the transport's), for tests; a luassert spy will do
-- @return a client (`coreplus.client`)
-- @usage local cp = coreplus.new{ base_url = "https://sandbox.coreplus.com.au",
--   consumer_id = id, consumer_secret = secret, access_token = token }
function _M.new(opts)
  return require("coreplus.client").new(opts)
end

--- Environment variable -> option name, for every variable `from_env` reads
-- (coreplus.settings: `COREPLUS_X` for the setting `x`).
-- @table ENV
_M.ENV = settings.env_options()

--- Makes a client from the `COREPLUS_*` environment variables, read as the
-- CLI and profiles read them (coreplus.settings): the setting `x` is the
-- variable `COREPLUS_X`. `COREPLUS_BASE_URL`, `COREPLUS_CONSUMER_ID`,
-- `COREPLUS_CONSUMER_SECRET` and `COREPLUS_ACCESS_TOKEN` are required;
-- `COREPLUS_ISSUER`, `COREPLUS_AUDIENCE`, `COREPLUS_API_VERSION` (or
-- `COREPLUS_VERSION`), `COREPLUS_CAFILE`, `COREPLUS_CAPATH`,
-- `COREPLUS_USER_AGENT`, `COREPLUS_SHARED_LIMIT` (`off` or `false`: not
-- shared), `COREPLUS_LIMIT_KEY`, `COREPLUS_TIMEOUT`, ... are read when set.
-- An `http://127.0.0.1` or `http://localhost` base URL gets `allow_http`. A
-- required variable that is not set, or a value of the wrong type, raises,
-- naming the variable.
-- @tparam[opt] table overrides options that win over the environment (as `new`)
-- @tparam[opt] function getenv reads a variable (default `os.getenv`; for tests)
-- @return a client (`coreplus.client`)
-- @usage -- after eval "$(coreplus-mock start)" in the shell:
-- local cp = coreplus.from_env{ retries = 0 }
function _M.from_env(overrides, getenv)
  local values, err_or_from = settings.read(settings.env_source(getenv or os_getenv))
  if not values then misuse.raise("coreplus.from_env: %s", err_or_from) end
  local opts = settings.options(values)
  for k, v in pairs(overrides or {}) do
    opts[k] = v
    local row = settings.row(k)
    if row then err_or_from[row.name] = nil end   -- the caller's, not a variable's
  end
  for _, row in ipairs(settings.required()) do
    if opts[row.option] == nil then
      -- nginx hands its workers only the variables its `env` directives name
      misuse.raise("coreplus.from_env: %s is not set (option '%s')%s", row.env, row.option,
        rawget(_G, "ngx") and ("; inside nginx, name it in nginx.conf's main context: env " .. row.env .. ";") or "")
    end
  end
  return require("coreplus.client").new_from(opts, err_or_from)
end

--- A client from a section of the config file: `coreplus.from_profile("sandbox")`.
-- The file is `$XDG_CONFIG_HOME/coreplus/config` (default
-- `~/.config/coreplus/config`), INI style; its keys are the settings' names
-- (`base_url`, `consumer_id`, ...: `COREPLUS_X` is the key `x`), read as
-- `from_env` reads the variables.
-- `overrides` win over the file; environment variables are not read (that
-- is `from_env`, and the CLI's layering). A file holding a secret that others
-- can read is refused. The client's `practice` (its metrics' label) is the
-- section's name unless the section or `overrides` give one.
-- @tparam[opt] string name the section (default `COREPLUS_PROFILE`, else `default`)
-- @tparam[opt] table overrides options that win
-- @return a client (`coreplus.client`)
-- @function from_profile
_M.from_profile = require("coreplus.profile").from_profile

return _M
