--- Settings: the client options a person gives as text, and their names in
-- every source. One row per setting; from the row's name `x` follow
--
--   option `x` (coreplus.new) <=> environment `COREPLUS_X` <=> profile key `x`
--   <=> CLI flag `--x` (dashes for underscores)
--
-- `coreplus.from_env`, `coreplus.from_profile` and the `coreplus` tool all
-- read through `read` here, so a value means the same wherever it is given.
-- Adding a setting is one row. Fields of a row (all but the first two
-- optional):
--
--   [1] name, [2] type: "string", "number", "boolean" (true/yes/on/1,
--       false/no/off/0), or "limit" (a path or URL; `off` or `false` = false:
--       no sharing)
--   option   the coreplus.new option it sets, when not `name`; false: none
--            (a setting only the tool reads)
--   aliases  older names, read in every source but the flag (a profile or
--            variable written for an earlier release keeps working)
--   required the client cannot do without it
--   secret   never shown whole (profiles, doctor) and a file holding it must
--            be private
--   flag     false: no global flag (a command defines its own)
--   help     one line for `coreplus help`
--
-- Option names, types, ranges and defaults of `coreplus.new` are checked by
-- coreplus.config, which takes the types of these options from here.
-- Plain data and plain Lua: it requires nothing, so any module may read it.
-- @module coreplus.settings
local type = type
local pairs = pairs
local ipairs = ipairs
local tonumber = tonumber
local format = string.format
local upper = string.upper
local lower = string.lower

local _M = {}

local ROWS = {
  { "base_url", "string", required = true,
    help = "the API's base URL, e.g. https://sandbox.coreplus.com.au" },
  { "consumer_id", "string", required = true, help = "the add-on's consumer id" },
  { "consumer_secret", "string", required = true, secret = true,
    help = "the add-on's consumer secret (prefer the variable or a profile: flags show in `ps`)" },
  { "access_token", "string", required = true, secret = true, help = "the practice's access token" },
  { "issuer", "string", help = "the iss claim: your company's URL, e.g. https://myapp.example" },
  { "audience", "string", help = "the aud claim (default https://coreplus.com.au)" },
  { "api_version", "string", option = "version", aliases = { "version" },
    help = "the API version in /API/Core/<version>/ (default v2.1)" },
  { "cafile", "string", help = "a PEM file of CA certificates trusted for the server" },
  { "capath", "string", help = "a directory of CA certificates trusted for the server" },
  { "user_agent", "string", help = "your app's name, sent before the library's User-Agent" },
  { "shared_limit", "limit", help = "a file or Redis URL (redis://, rediss://, redis+sentinel://)"
    .. " sharing the 10/s limit"
    .. " (default: a per-user file; off: not shared)" },
  { "limit_key", "string", help = "what one rate budget covers: access_token (default) or consumer" },
  { "on_redis_error", "string", help = "with a Redis shared_limit: local (default) or fail" },
  { "redis_timeout", "number", help = "seconds, at most, for connecting to Redis and for each Redis call" },
  { "redis_cafile", "string", help = "with rediss://: a PEM file of the CAs that vouch for Redis"
    .. " (default: the system's)" },
  { "redis_certfile", "string", help = "with rediss://: a client certificate (PEM) for mutual TLS" },
  { "redis_keyfile", "string", help = "with rediss://: the client certificate's key (PEM, no passphrase)" },
  { "redis_insecure", "boolean", help = "with rediss://: do not verify Redis's certificate (said once)" },
  { "timeout", "number", help = "seconds for a whole call, every attempt and wait included" },
  { "connect_timeout", "number", help = "seconds to connect" },
  { "retries", "number", help = "further attempts after a 503 or a transport failure (0: none)" },
  { "practice", "string",
    help = "the practice's label: in metrics, and on coreplus sync's rows (default: the profile's name)" },
  { "need", "string", option = false, flag = false,
    help = "doctor: the endpoints this app needs (catalogue names, commands or paths)" },
}

--- The rows, each completed with `option`, `env`, `key`, `flag` and `names`
-- (the name, then its aliases).
-- @table ROWS
_M.ROWS = ROWS

local BY_NAME = {}   -- a name or alias -> its row

local function env_of(name) return "COREPLUS_" .. upper(name) end

for _, row in ipairs(ROWS) do
  local name = row[1]
  row.name, row.type = name, row[2]
  if row.option == nil then row.option = name end
  row.env, row.key = env_of(name), name
  if row.flag ~= false then row.flag = (name:gsub("_", "-")) end
  row.names = { name }
  for _, a in ipairs(row.aliases or {}) do row.names[#row.names + 1] = a end
  for _, n in ipairs(row.names) do
    assert(not BY_NAME[n], "settings: " .. n .. " twice")
    BY_NAME[n] = row
  end
end

--- The row of a name or alias, or nil.
function _M.row(name) return BY_NAME[name] end

--- environment variable -> option name, for every setting that is a client
-- option (aliases included): what `coreplus.ENV` shows.
function _M.env_options()
  local out = {}
  for _, row in ipairs(ROWS) do
    if row.option then
      for _, n in ipairs(row.names) do out[env_of(n)] = row.option end
    end
  end
  return out
end

--- The names a profile may hold (a set).
function _M.profile_keys()
  local out = {}
  for n in pairs(BY_NAME) do out[n] = true end
  return out
end

--- The settings that are secrets (a set of names and aliases).
function _M.secrets()
  local out = {}
  for n, row in pairs(BY_NAME) do if row.secret then out[n] = true end end
  return out
end

--- The required settings' rows, in order.
function _M.required()
  local out = {}
  for _, row in ipairs(ROWS) do if row.required then out[#out + 1] = row end end
  return out
end

local TRUE = { ["true"] = true, yes = true, on = true, ["1"] = true }
local FALSE = { ["false"] = true, no = true, off = true, ["0"] = true }

--- A value given as text (or already a value: a boolean flag) as the
-- setting's type. Returns the value, nil for "not set" (the empty string),
-- or nil and what is wrong (naming `where`: the variable, key or flag).
function _M.parse(row, text, where)
  if type(text) ~= "string" then return text end
  if text == "" then return nil end
  local t = row.type
  if t == "string" then return text end
  if t == "number" then
    local n = tonumber(text)
    if n then return n end
    return nil, format("%s must be a number (got '%s')", where, text)
  end
  if t == "boolean" then
    local word = lower(text)
    if TRUE[word] then return true end
    if FALSE[word] then return false end
    return nil, format("%s must be true or false (got '%s')", where, text)
  end
  -- "limit": the words off and false turn sharing off, in any source
  local word = lower(text)
  if word == "off" or word == "false" then return false end
  return text
end

--- The environment: `getenv` (default os.getenv).
function _M.env_source(getenv)
  getenv = getenv or os.getenv
  return function(name)
    local var = env_of(name)
    return getenv(var), var
  end
end

--- A profile's section (name -> text); `label` names it ("profile
-- sandbox"): a value read is from "x in profile sandbox".
function _M.section_source(section, label)
  return function(name)
    return section and section[name], name .. " in " .. label
  end
end

--- Flags by flag name (`--base-url` is `flags["base-url"]`).
function _M.flag_source(flags)
  return function(name, row)
    if not row.flag or name ~= row.name then return nil end
    return flags[row.flag], "--" .. row.flag
  end
end

--- read(source, into, from) -> into, from | nil, err: every setting the
-- source gives, parsed, into `into` by setting name (a later source read
-- into the same table wins); `from[name]` says where each came from. Within
-- one source the name wins over its aliases.
function _M.read(source, into, from)
  into, from = into or {}, from or {}
  for _, row in ipairs(ROWS) do
    for _, n in ipairs(row.names) do
      local text, where = source(n, row)
      if text ~= nil and text ~= "" then
        local v, err = _M.parse(row, text, where)
        if err then return nil, err end
        into[row.name], from[row.name] = v, where
        break
      end
    end
  end
  return into, from
end

--- A message of coreplus.new's that names an option ("option 'timeout'
-- must be ..."), with where that setting was given, from `read`'s `from`:
-- "... (set by COREPLUS_TIMEOUT)". Unchanged when `from` does not say.
function _M.blame(message, from)
  local name = type(message) == "string" and message:match("option '([%w_]+)'")
  local row = name and BY_NAME[name]
  local where = row and from and from[row.name]
  if not where then return message end
  return message .. " (set by " .. where .. ")"
end

--- Plain HTTP is allowed only toward this machine (the bundled mock).
function _M.local_http(base_url)
  local host = type(base_url) == "string" and base_url:match("^http://([^/:]+)")
  return host == "127.0.0.1" or host == "localhost"
end

--- The client options of settings read by `read`: option names, settings
-- only the tool reads left out, and `allow_http` for a local plain-HTTP
-- base URL.
function _M.options(values)
  local o = {}
  for _, row in ipairs(ROWS) do
    local v = values[row.name]
    if row.option and v ~= nil then o[row.option] = v end
  end
  if _M.local_http(o.base_url) then o.allow_http = true end
  return o
end

return _M
