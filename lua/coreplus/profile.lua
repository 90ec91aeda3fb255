--- Profiles: named configurations in one INI file, so that switching between
-- sandbox and production, or between practices, is one word.
--
--   $XDG_CONFIG_HOME/coreplus/config   (default ~/.config/coreplus/config)
--
--   [sandbox]
--   base_url = https://sandbox.coreplus.com.au
--   consumer_id = ...
--   consumer_secret = ...
--
-- Keys are the settings' names (coreplus.settings): the COREPLUS_* variable
-- names in lower case without the prefix.
-- Values are taken byte for byte after trimming the spaces around them (no
-- quotes, no inline comments: a secret may contain '#' or ';'). A file that
-- holds a secret is refused when others can read it, and any file others
-- can write is refused (they could point base_url at a host of theirs and
-- collect signed tokens, which carry the access token), as ssh does.
--
-- coreplus.from_profile(name, overrides): a client from one section.
local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local format, concat, sort, os_getenv = string.format, table.concat, table.sort, os.getenv
local settings = require "coreplus.settings"

local _M = {}

--- The settings that are secrets (a set): a file holding one must be
-- private, and `coreplus profiles` masks them.
-- @table SECRETS
local SECRETS = settings.secrets()
_M.SECRETS = SECRETS

--- The config file's path.
function _M.path(getenv)
  getenv = getenv or os_getenv
  local dir = getenv("XDG_CONFIG_HOME")
  if not dir or dir == "" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    dir = home .. "/.config"
  end
  return dir .. "/coreplus/config"
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- One line of the file into cfg; returns an error text or nil.
local function parse_line(cfg, state, line, keys)
  if line == "" or line:match("^[#;]") then return nil end   -- blank or a comment
  if line:match("^%[") then
    local name = line:match("^%[%s*([%w_.-]+)%s*%]$")
    if not name then return "a section is [name] (letters, digits, '_', '.', '-')" end
    if cfg.sections[name] then return "section [" .. name .. "] appears twice" end
    state.section = {}
    cfg.sections[name] = state.section
    cfg.names[#cfg.names + 1] = name
    return nil
  end
  local key, value = line:match("^([%w_]+)%s*=(.*)$")
  if not key then return "expected key = value, [section], or a # comment" end
  local section = state.section
  if not section then return "'" .. key .. "' comes before any [section]" end
  if not keys[key] then
    local list = {}
    for k in pairs(keys) do list[#list + 1] = k end
    sort(list)
    return "unknown key '" .. key .. "' (known: " .. concat(list, ", ") .. ")"
  end
  if section[key] ~= nil then return "'" .. key .. "' is set twice in this section" end
  value = trim(value)
  if value ~= "" then section[key] = value end
  return nil
end

--- parse(text, where) -> {names = {...in file order}, sections = {name =
-- {key = value}}} | nil, "where:line: what is wrong"
function _M.parse(text, where)
  local keys = settings.profile_keys()
  local cfg, state = { names = {}, sections = {} }, {}
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local err = parse_line(cfg, state, trim(line:gsub("\r$", "")), keys)
    if err then return nil, format("%s:%d: %s", where, n, err) end
  end
  return cfg
end

local function holds_secret(cfg)
  for _, s in pairs(cfg.sections) do
    for k in pairs(SECRETS) do if s[k] then return true end end
  end
  return false
end

--- nil when the file's mode is safe for what it holds, else why not.
local function unsafe(path, cfg)
  local ok, lfs = pcall(require, "lfs")
  if not ok then return "cannot check its permissions: lua-filesystem (lfs) is not installed" end
  local perm = lfs.attributes(path, "permissions")
  if not perm then return nil end
  local fix = "; run: chmod 600 " .. path
  if perm:sub(5, 5) == "w" or perm:sub(8, 8) == "w" then
    return "can be changed by others (" .. perm .. ")" .. fix
  end
  if holds_secret(cfg) and (perm:sub(4, 4) == "r" or perm:sub(7, 7) == "r") then
    return "holds a secret and can be read by others (" .. perm .. ")" .. fix
  end
  return nil
end

--- load(path) -> config | nil (no file) | nil, err
function _M.load(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text, rerr = f:read("a")
  f:close()
  if not text then return nil, path .. ": " .. tostring(rerr) end
  local cfg, err = _M.parse(text, path)
  if not cfg then return nil, err end
  local why = unsafe(path, cfg)
  if why then return nil, path .. " is refused: it " .. why end
  cfg.path = path
  return cfg
end

--- The profile name wanted: the argument, else COREPLUS_PROFILE, else nil.
local function wanted(name, getenv)
  if name ~= nil then return name, true end
  local v = getenv("COREPLUS_PROFILE")
  if v and v ~= "" then return v, true end
  return "default", false
end

--- select(name, getenv) -> section, name, config | nil (none wanted, none
-- found) | nil, err. Without a name (and no COREPLUS_PROFILE) the [default]
-- section is used when there is one.
function _M.select(name, getenv)
  getenv = getenv or os_getenv
  local explicit
  name, explicit = wanted(name, getenv)
  local path = _M.path(getenv)
  local cfg, err
  if path then cfg, err = _M.load(path) end
  if err then return nil, err end
  if not cfg then
    if explicit then return nil, format("no config file %s (for profile '%s')", path or "(no HOME)", name) end
    return nil
  end
  local section = cfg.sections[name]
  if not section then
    if not explicit then return nil end
    return nil, format("no profile [%s] in %s (it has: %s)", name, path,
      #cfg.names > 0 and concat(cfg.names, ", ") or "none")
  end
  return section, name, cfg
end

--- The client options in a section (settings only the tool reads left
-- out), or nil and what is wrong; `name` labels it in errors.
function _M.options(section, name)
  local values, err_or_from = settings.read(settings.section_source(section, "profile " .. tostring(name)))
  if not values then return nil, err_or_from end
  return settings.options(values), err_or_from
end

--- coreplus.from_profile([name [, overrides]]): a client configured from the
-- config file's section `name` (default COREPLUS_PROFILE, else [default]);
-- `overrides` win. Environment variables are not read: use from_env for that.
function _M.from_profile(name, overrides, getenv)
  local misuse = require "coreplus.misuse"
  if name ~= nil and type(name) ~= "string" then
    misuse.raise("bad argument #1 to 'from_profile' (string expected, got %s)", type(name))
  end
  if overrides ~= nil and type(overrides) ~= "table" then
    misuse.raise("bad argument #2 to 'from_profile' (table expected, got %s)", type(overrides))
  end
  local section, found = _M.select(name, getenv)   -- found: the section's name, or what is wrong
  if not section then
    misuse.raise("coreplus.from_profile: %s", found or ("no profile given, no COREPLUS_PROFILE and no [default]"
      .. " section in " .. tostring(_M.path(getenv))))
  end
  local o, err_or_from = _M.options(section, found)
  if not o then misuse.raise("coreplus.from_profile: %s", err_or_from) end
  for k, v in pairs(overrides or {}) do
    o[k] = v
    local row = settings.row(k)
    if row then err_or_from[row.name] = nil end   -- the caller's, not the profile's
  end
  -- the metrics' label: the profile's name unless the profile or the caller gives one
  if o.practice == nil then o.practice = found end
  for _, key in ipairs(require("coreplus.config").REQUIRED) do
    if o[key] == nil then misuse.raise("coreplus.from_profile: the profile has no %s", key) end
  end
  return require("coreplus.client").new_from(o, err_or_from)
end

return _M
