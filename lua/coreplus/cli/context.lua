--- One run of the `coreplus` tool: the outside world (`sys`), the parsed
-- command line, the settings (COREPLUS_* variables, then flags), the client
-- built from them, and the output conventions every command shares.
--
-- `sys` carries the outside world so the spec can drive it: stdout(s),
-- stderr(s), getenv(name), isatty(fd), now(), read_stdin(), and
-- client_options (merged into every client's options: a spec's transport),
-- clock_file (where the server's clock offset is kept; default
-- coreplus.cli.clock's).
local coreplus = require "coreplus"
local config = require "coreplus.config"
local settings = require "coreplus.settings"
local args = require "coreplus.cli.args"
local output = require "coreplus.cli.output"
local profile = require "coreplus.profile"
local clock = require "coreplus.cli.clock"

local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local format, concat = string.format, table.concat
local usage = args.usage

local _M = {}
local mt = { __index = _M }

-- The library's defaults (issuer, audience, version, ...), read rather than
-- repeated; the token's lifetime is the C core's.
_M.defaults = setmetatable({ token_ttl = config.core.token_ttl }, { __index = config.DEFAULTS })

--- Settings a command that talks to coreplus cannot do without: {option,
-- variable, flag} each.
_M.REQUIRED = {}
for i, row in ipairs(settings.required()) do _M.REQUIRED[i] = { row.option, row.env, "--" .. row.flag } end

local CELL_WIDTH = 40
local RECORD_WIDTH = 72

function _M.default_sys()
  return {
    stdout = function(s) io.stdout:write(s) end,
    stderr = function(s) io.stderr:write(s) end,
    getenv = os.getenv,
    isatty = function(fd)
      local ok = os.execute("test -t " .. fd)
      return ok == true or ok == 0
    end,
    now = coreplus.now,
    read_stdin = function() return io.stdin:read("a") end,
  }
end

function _M.new(sys)
  return setmetatable({ sys = sys, flags = {}, positional = {} }, mt)
end

_M.mask = output.mask
_M.strip_position = output.strip_position

--- The client's learnt clock offset (server minus local, seconds; up to
-- 1 s low because Date has whole seconds), or nil before any response.
-- TODO(lead): only cp:clock_offset() once the method lands.
function _M.clock_offset(cp)
  local v = cp.clock_offset
  if type(v) == "function" then return v(cp) end
  return v
end

--- A learnt offset as a person would say it: the true offset lies in
-- [learnt, learnt + 1), so its whole second is the ceiling (0 s, not -1 s,
-- for clocks in step).
function _M.whole_seconds(learnt)
  return math.ceil(learnt)
end

-- ===== settings =====

--- The profile in use: its section and name, or nil (none selected and no
-- [default]). A broken or unsafe config file is a usage error.
function _M:profile()
  if self.profile_done then return self.profile_section, self.profile_name end
  local section, name = profile.select(self.flags.profile, self.sys.getenv)
  if not section and name then usage(name) end
  self.profile_done, self.profile_section, self.profile_name = true, section, section and name
  return self.profile_section, self.profile_name
end

--- The settings: the profile, then COREPLUS_* variables, then flags (each
-- wins over the one before), all read through coreplus.settings. Returns
-- the client options; `self.from[option]` says where each came from. A value
-- of the wrong type is a usage error naming its source.
function _M:options()
  if self.opts then return self.opts end
  local section, name = self:profile()
  local values, from = {}, {}
  local ok, err = settings.read(settings.section_source(section, "profile " .. tostring(name)), values, from)
  if ok then ok, err = settings.read(settings.env_source(self.sys.getenv), values, from) end
  if ok then ok, err = settings.read(settings.flag_source(self.flags), values, from) end
  if not ok then usage(err) end
  self.from = {}
  for key, where in pairs(from) do self.from[settings.row(key).option or key] = where end
  self.values, self.opts, self.given_by = values, settings.options(values), from
  return self.opts
end

--- A setting only the tool reads (`need`): the command's flag, else the
-- variable, else the profile's key.
function _M:setting(key)
  local v = self.flags[key]
  if v == nil then
    self:options()
    v = self.values[key]
  end
  return v
end

local function missing_text(missing)
  local vars, flags = {}, {}
  for i, r in ipairs(missing) do vars[i], flags[i] = r[2], r[3] end
  local list = #vars == 1 and vars[1] or (concat(vars, ", ", 1, #vars - 1) .. " and " .. vars[#vars])
  return format("%s %s not set (or give %s, or the keys in a profile: coreplus help profiles);"
    .. " `eval \"$(coreplus-mock start)\"` configures the bundled mock",
    list, #vars == 1 and "is" or "are", concat(flags, ", "))
end

--- Raises one usage error naming every wanted setting that is missing
-- (`only`: a set of option names; nil = all of REQUIRED).
function _M:require_settings(only)
  local o = self:options()
  local missing = {}
  for _, r in ipairs(_M.REQUIRED) do
    if (not only or only[r[1]]) and (o[r[1]] == nil or o[r[1]] == "") then missing[#missing + 1] = r end
  end
  if #missing > 0 then usage(missing_text(missing)) end
  return o
end

--- The file that shares the rate limit between successive and parallel
-- runs of the tool (a script calling `coreplus` in a loop would otherwise
-- start each process with a fresh budget and meet 429s): nil, the library's
-- default (the user's own file, shared with every other client of this user
-- on the machine); COREPLUS_SHARED_LIMIT (or the flag, or the profile) names
-- another file; `off` or `false` disables sharing (coreplus.settings).
function _M:shared_limit_path()
  return self:options().shared_limit
end

--- The library's warnings, on stderr, but for the missing user agent and
-- issuer: doctor reports those, and every other command would repeat them
-- on each run. (A client's `log` option.)
function _M:log_function()
  return function(message, key)
    if key ~= "default_user_agent" and key ~= "default_issuer" then
      self.sys.stderr("coreplus: warning: " .. message .. "\n")
    end
  end
end

--- The client for this run (built once); `extra` options win.
function _M:client(extra)
  if self.cp then return self.cp end
  local o = {}
  for k, v in pairs(self:require_settings()) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  -- The spec's hook: options for every client of the run (a transport).
  for k, v in pairs(self.sys.client_options or {}) do o[k] = v end
  o.shared_limit = self:shared_limit_path()
  if o.clock_offset == nil then o.clock_offset = self:recalled_clock(o.base_url) end
  o.log = o.log or self:log_function()
  if self.flags["dry-run"] then
    self.dry_seen = {}
    o.transport = require("coreplus.cli.dryrun").transport(self.dry_seen)
  end
  local ok, cp = pcall(coreplus.new, o)
  if not ok and o.shared_limit and tostring(cp):find(o.shared_limit, 1, true) then
    -- An unusable limit file costs the sharing, not the command.
    o.shared_limit = nil
    ok, cp = pcall(coreplus.new, o)
  end
  if not ok then usage(settings.blame(_M.strip_position(cp), self.given_by)) end
  _M.attach_versions(cp)
  self.cp = cp
  return cp
end

--- The server's clock offset as an earlier run learnt it (coreplus.cli.clock),
-- for a client's `clock_offset` option; nil when none is known (or in a dry run).
function _M:recalled_clock(base_url)
  if self.flags["dry-run"] then return nil end
  return clock.recall((tostring(base_url):gsub("/+$", "")), self.sys.now(), self.sys.clock_file)
end

--- Gives a client the API versions earlier runs found, and keeps the ones it
-- finds for later runs (coreplus.cli.versions).
function _M.attach_versions(cp)
  require("coreplus.cli.versions").attach(cp)
end

--- Keeps what a client (default: this run's) learnt of the server's clock
-- for the next run (coreplus.cli.clock); never fails.
function _M:remember_clock(cp)
  cp = cp or self.cp
  local offset = cp and not self.flags["dry-run"] and _M.clock_offset(cp)
  if offset then pcall(clock.remember, cp.base_url, offset, self.sys.now(), self.sys.clock_file) end
end

--- The absolute URL of a path under /API/Core/<version>/.
function _M:api_url(path)
  local o = self:require_settings{ base_url = true }
  return require("coreplus.url").api_base((o.base_url:gsub("/+$", "")), o.version or _M.defaults.version)
    .. path:gsub("^/+", "")
end

-- ===== output =====

--- One line on stderr for a failed request; returns the exit status (1).
function _M:fail(err)
  -- tostring(err) already starts "coreplus <kind>"; keep one prefix.
  local text = tostring(err):gsub("%c+", " "):gsub("^coreplus ", "")
  self.sys.stderr("coreplus: " .. text .. "\n")
  return 1
end

function _M:format()
  local f = self.flags
  if f.json then return "json" end
  if f.jsonl then return "jsonl" end
  if f.table then return "table" end
  return self.sys.isatty(1) and "table" or "jsonl"
end

--- The table columns: --columns, else the command's default.
function _M:columns(default)
  local c = self.flags.columns
  if c then
    local list = {}
    for name in c:gmatch("[^,%s]+") do list[#list + 1] = name end
    return list
  end
  return default
end

function _M:want_progress()
  if self.flags["no-progress"] then return false end
  if self.flags.progress then return true end
  return self.sys.isatty(2)
end

function _M:cell_width()
  return not self.flags.wide and CELL_WIDTH or nil
end

function _M:record_width()
  return not self.flags.wide and RECORD_WIDTH or nil
end

function _M:print(text)
  self.sys.stdout(text .. "\n")
end

function _M:lines(list)
  for _, l in ipairs(list) do self.sys.stdout(l .. "\n") end
end


return _M
