--- The command-line grammar: `coreplus [global flags] <command> [sub]
-- [arguments] [flags]`, global flags before or after the command.
--
-- Parsing is Debian's lua-argparse (typo suggestions, `--flag=value`, `--`);
-- this module adds what it does not do: the command's words are found first
-- (so `clients ID` and `clients create` can both exist), every missing
-- required flag is reported at once, and a usage error is one line.
local argparse = require "argparse"
local settings = require "coreplus.settings"

local type = type
local pairs = pairs
local ipairs = ipairs
local tonumber = tonumber
local error = error
local setmetatable = setmetatable
local getmetatable = getmetatable
local concat = table.concat
local sort = table.sort

local _M = {}

--- A usage error: raised as a table so main() can tell it from a bug.
local usage_mt = { __tostring = function(e) return e.message end }

function _M.usage(message)
  error(setmetatable({ usage = true, message = message }, usage_mt), 0)
end

function _M.is_usage(e)
  return type(e) == "table" and getmetatable(e) == usage_mt
end

-- Flags every command accepts: output, the settings (each overrides its
-- COREPLUS_* variable and the profile's key) and help.
_M.GLOBAL = {
  json = { kind = "bool", help = "print JSON (an array for lists)" },
  jsonl = { kind = "bool", help = "print JSON lines: one object per line (the default when piped)" },
  table = { kind = "bool", help = "print an aligned table (the default on a terminal)" },
  wide = { kind = "bool", help = "do not shorten long table cells" },
  columns = { kind = "string", short = "c", aliases = { "fields" },
    help = "columns (table) or fields (JSON), comma-separated; dotted paths reach inside" },
  progress = { kind = "bool", help = "show the --all progress bar even when stderr is not a terminal" },
  ["no-progress"] = { kind = "bool", help = "never show the progress bar" },
  profile = { kind = "list",
    help = "the config file's [section] to use (default: COREPLUS_PROFILE, else [default]); sync takes several" },
  help = { kind = "bool", short = "h", help = "this help" },
}
-- One flag per setting (coreplus.settings: --x for the setting x).
for _, row in ipairs(settings.ROWS) do
  if row.flag then
    _M.GLOBAL[row.flag] = { kind = row.type == "boolean" and "bool" or "string", setting = row.name,
      help = row.help .. " [" .. row.env .. "]" }
  end
end

local function number_of(name)
  return function(v)
    local n = tonumber(v)
    if not n then return nil, "option --" .. name .. " needs a number, got '" .. v .. "'" end
    return n
  end
end

local function add_flag(p, name, f)
  local names = (f.short and ("-" .. f.short .. " ") or "") .. "--" .. name
  for _, a in ipairs(f.aliases or {}) do names = names .. " --" .. a end
  local el
  if f.kind == "bool" then
    el = p:flag(names)
  else
    el = p:option(names):args(1)
    if f.kind == "list" then el:count("*") end
    if f.kind == "number" then el:convert(number_of(name)) end
    if f.choices then el:choices(f.choices) end
  end
  el:target(name):description(f.help)
end

-- In a fixed order, so that the parser (and the completion script) does not
-- depend on table order.
local function sorted(t)
  local names = {}
  for n in pairs(t or {}) do names[#names + 1] = n end
  sort(names)
  return names
end
_M.sorted = sorted

local function add_flags(p, flags)
  for _, n in ipairs(sorted(flags)) do add_flag(p, n, flags[n]) end
end

local function leaf_parser(cmd)
  local p = argparse("coreplus " .. cmd.name):add_help(false)
  -- A command may restate a global flag to say what it means there (sync's
  -- --practice: the label its rows carry); its own words win.
  add_flags(p, cmd.flags)
  for _, n in ipairs(sorted(_M.GLOBAL)) do
    if not (cmd.flags and cmd.flags[n]) then add_flag(p, n, _M.GLOBAL[n]) end
  end
  for _, a in ipairs(cmd.args or {}) do p:argument(a.name):args(a.many and "*" or "?") end
  return p
end

--- argparse's message ("unknown option '--x'\nDid you mean '--y'?") on one line.
local function one_line(msg)
  return (msg:gsub("\nDid you mean", "; did you mean"):gsub("%c+", " "))
end

--- The parser of the whole tree: for completion scripts and for the "did
-- you mean" of an unknown command. `commands`: name -> command.
function _M.tree(commands)
  local top = argparse("coreplus"):add_help(false)
  add_flags(top, _M.GLOBAL)
  local nodes = {}
  for _, name in ipairs(sorted(commands)) do
    local first, second = name:match("^(%S+)%s*(%S*)$")
    local node = nodes[first]
    if not node then
      node = top:command(first):add_help(false):require_command(false)
      nodes[first] = node
    end
    local target = node
    if second ~= "" then target = node:command(second):add_help(false) end
    target:summary(commands[name].summary)
    add_flags(target, commands[name].flags)
    for _, a in ipairs(commands[name].args or {}) do
      if a.choices then target:argument(a.name):args("?"):choices(a.choices) end
    end
  end
  return top
end

-- Global flags that take a value (their value is not a command word).
local function takes_value(a)
  local name = a:match("^%-%-([^=]+)$")
  if not name and a:match("^%-%a$") then
    for n, f in pairs(_M.GLOBAL) do if f.short == a:sub(2) then name = n end end
  end
  local f = name and _M.GLOBAL[name]
  if not f then
    for _, g in pairs(_M.GLOBAL) do
      for _, alias in ipairs(g.aliases or {}) do if alias == name then f = g end end
    end
  end
  return f ~= nil and f.kind ~= "bool"
end

--- Finds the command's words in argv: the first bare word, and the next
-- one when it names a subcommand and only global flags stand between.
-- Returns the command name (or nil) and argv without those words.
function _M.command_words(argv, commands)
  local rest, name, sub_possible = {}, nil, false
  local i, n = 1, #argv
  while i <= n do
    local a = argv[i]
    if a == "--" then
      for j = i, n do rest[#rest + 1] = argv[j] end
      break
    elseif a:sub(1, 1) == "-" and #a > 1 then
      rest[#rest + 1] = a
      if takes_value(a) and argv[i + 1] then
        i = i + 1
        rest[#rest + 1] = argv[i]
      elseif not (_M.GLOBAL[a:match("^%-%-([^=]+)") or ""] or a == "-h") then
        sub_possible = false   -- a command's flag: no subcommand after it
      end
    elseif not name then
      name, sub_possible = a, true
    elseif sub_possible and commands[name .. " " .. a] then
      name, sub_possible = name .. " " .. a, false
    else
      rest[#rest + 1] = a
      sub_possible = false
    end
    i = i + 1
  end
  return name, rest
end

local function missing_list(cmd, flags, positional)
  local missing = {}
  -- With cmd.unless given (--data), the body comes from it: the library
  -- checks its fields.
  local flags_needed = not (cmd.unless and flags[cmd.unless] ~= nil)
  for _, r in ipairs(flags_needed and cmd.required or {}) do
    local alternatives, any = type(r) == "table" and r or { r }, false
    local names = {}
    for _, flag in ipairs(alternatives) do
      if flags[flag] ~= nil then any = true end
      names[#names + 1] = "--" .. flag
    end
    if not any then missing[#missing + 1] = concat(names, " or ") end
  end
  for i, a in ipairs(cmd.args or {}) do
    if a.required and positional[i] == nil then missing[#missing + 1] = a.name:upper() end
  end
  return missing
end

--- Every missing required flag and argument, in one usage error.
local function check_required(cmd, flags, positional)
  local missing = missing_list(cmd, flags, positional)
  if #missing == 0 then return end
  local text = missing[1]
  if #missing > 1 then text = concat(missing, ", ", 1, #missing - 1) .. " and " .. missing[#missing] end
  _M.usage(cmd.name .. " needs " .. text .. " (coreplus help " .. cmd.name .. ")")
end

--- parse(cmd, argv) -> flags (by flag name), positional (in order).
function _M.parse(cmd, argv)
  local ok, result = leaf_parser(cmd):pparse(argv)
  if not ok then _M.usage(one_line(result) .. " (coreplus help " .. cmd.name .. ")") end
  local flags, positional = {}, {}
  for name in pairs(_M.GLOBAL) do flags[name] = result[name] end
  -- --profile may be given several times (sync runs several practices):
  -- every value is in `profiles`, and the last one is `profile`.
  if type(flags.profile) == "table" then
    flags.profiles = #flags.profile > 0 and flags.profile or nil
    flags.profile = flags.profile[#flags.profile]
  end
  for name, f in pairs(cmd.flags or {}) do
    local v = result[name]
    if f.kind == "list" and type(v) == "table" and #v == 0 then v = nil end
    flags[name] = v
  end
  for i, a in ipairs(cmd.args or {}) do
    local v = result[a.name]
    if a.many and type(v) == "table" and #v == 0 then v = nil end
    positional[i] = v
  end
  if not flags.help then check_required(cmd, flags, positional) end
  return flags, positional
end

--- The "unknown command" error for `words` (one or two), with argparse's
-- suggestion.
function _M.unknown_command(words, commands)
  local ok, msg = _M.tree(commands):pparse(words)
  if ok then msg = "unknown command '" .. concat(words, " ") .. "'" end
  _M.usage(one_line(msg) .. " (coreplus help lists them)")
end

--- key=value pairs (-q) into a query table; a key given twice becomes a list.
function _M.query_pairs(list, into, flag)
  local q = into or {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then _M.usage((flag or "-q") .. " expects key=value, got '" .. kv .. "'") end
    local prev = q[k]
    if prev == nil then
      q[k] = v
    elseif type(prev) == "table" then
      prev[#prev + 1] = v
    else
      q[k] = { prev, v }
    end
  end
  return q
end

return _M
