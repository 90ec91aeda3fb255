--- The `coreplus` command-line tool. `main(argv, sys)` runs one command and
-- returns the exit status: 0 ok, 1 an API (or verification) failure, 2 a
-- usage or configuration error. Errors go to stderr as one line.
--
-- The commands live in families (lists, writes, tokens, doctor); this file
-- gathers them, parses the command line and turns failures into statuses.
local coreplus = require "coreplus"
local errors = require "coreplus.errors"
local args = require "coreplus.cli.args"
local context = require "coreplus.cli.context"

local type = type
local next = next
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local format = string.format
local concat = table.concat
local sort = table.sort
local usage = args.usage

local _M = {}

local FAMILIES = { "coreplus.cli.doctor", "coreplus.cli.lists", "coreplus.cli.writes", "coreplus.cli.tokens" }

local COMMANDS, ORDER = {}, {}
for _, family in ipairs(FAMILIES) do
  local names = {}
  for _, cmd in ipairs(require(family).commands()) do
    COMMANDS[cmd.name] = cmd
    names[#names + 1] = cmd.name
  end
  if family ~= "coreplus.cli.doctor" then sort(names) end
  for _, n in ipairs(names) do ORDER[#ORDER + 1] = n end
end
_M.COMMANDS = COMMANDS

local function flag_lines(lines, flags)
  local names = {}
  for n in pairs(flags) do names[#names + 1] = n end
  sort(names)
  for _, n in ipairs(names) do
    local f = flags[n]
    local value = f.kind == "bool" and "" or (f.kind == "number" and " N" or " VALUE")
    lines[#lines + 1] = format("  %-26s %s", (f.short and ("-" .. f.short .. ", ") or "") .. "--" .. n .. value,
      f.help or "")
  end
end

local function help_text(name)
  local lines = {}
  if not name then
    lines[#lines + 1] = "usage: coreplus <command> [arguments] [flags]"
    lines[#lines + 1] = ""
    lines[#lines + 1] = "commands:"
    for _, n in ipairs(ORDER) do
      lines[#lines + 1] = format("  %-18s %s", n, COMMANDS[n].summary)
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Settings come from COREPLUS_BASE_URL, COREPLUS_CONSUMER_ID, COREPLUS_CONSUMER_SECRET,"
    lines[#lines + 1] = "COREPLUS_ACCESS_TOKEN (and COREPLUS_ISSUER, _AUDIENCE, _VERSION, _CAFILE) or flags."
    lines[#lines + 1] = "Output: a table on a terminal, JSON lines when piped; --table, --json, --jsonl choose."
    lines[#lines + 1] = "Exit status: 0 ok, 1 API error, 2 usage error.  `coreplus help COMMAND` for its flags."
  else
    local def = COMMANDS[name]
    lines[#lines + 1] = "coreplus " .. name .. ": " .. def.summary
    if next(def.flags or {}) then lines[#lines + 1] = "flags:" end
    flag_lines(lines, def.flags or {})
    lines[#lines + 1] = "global flags:"
    flag_lines(lines, args.GLOBAL)
  end
  return concat(lines, "\n") .. "\n"
end

local function run(ctx, argv)
  local sys = ctx.sys
  local name = argv[1]
  if name == nil or name == "help" or name == "-h" or name == "--help" then
    local topic = name == "help" and argv[2] or nil
    if topic and not COMMANDS[topic] then usage("no command '" .. topic .. "'") end
    sys.stdout(help_text(topic))
    return 0
  end
  if name == "version" or name == "--version" then
    sys.stdout("coreplus " .. coreplus.version .. "\n")
    return 0
  end
  local def = COMMANDS[name]
  if not def then usage("no command '" .. name .. "' (coreplus help lists them)") end
  local parsed = args.parse(argv, def, 2)
  if parsed.flags.help then
    sys.stdout(help_text(name))
    return 0
  end
  ctx.name, ctx.flags, ctx.positional = name, parsed.flags, parsed.positional
  return def.run(ctx)
end

--- main(argv, sys) -> exit status
function _M.main(argv, sys)
  sys = sys or context.default_sys()
  local ctx = context.new(sys)
  local ok, status = xpcall(run, function(e)
    if args.is_usage(e) or errors.is_error(e) then return e end
    if sys.getenv("COREPLUS_DEBUG") then return debug.traceback(tostring(e), 2) end
    return { library = true, message = context.strip_position(e) }
  end, ctx, argv)
  if ok then return status end
  local e = status
  if args.is_usage(e) then
    sys.stderr("coreplus: " .. (e.message:gsub("%c+", " ")) .. "\n")
    return 2
  end
  if errors.is_error(e) then return ctx:fail(e) end
  if type(e) == "table" and e.library then
    -- The library refused an argument before any request (a missing
    -- required parameter, a bad id): the command line was wrong.
    sys.stderr("coreplus: " .. (tostring(e.message):gsub("%c+", " ")) .. "\n")
    return 2
  end
  sys.stderr("coreplus: " .. tostring(e) .. "\n")
  return 1
end

return _M
