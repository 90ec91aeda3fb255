--- The `coreplus` command-line tool. `main(argv, sys)` runs one command and
-- returns the exit status: 0 ok, 1 an API (or verification) failure, 2 a
-- usage or configuration error. Errors go to stderr as one line.
--
-- The commands live in families (doctor, lists, writes, tokens, profiles);
-- this file gathers them, finds the one asked for and turns failures into
-- exit statuses.
local coreplus = require "coreplus"
local errors = require "coreplus.errors"
local args = require "coreplus.cli.args"
local context = require "coreplus.cli.context"
local help = require "coreplus.cli.help"

local type = type
local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local sort = table.sort
local usage = args.usage

local _M = {}

local FAMILIES = { "coreplus.cli.doctor", "coreplus.cli.lists", "coreplus.cli.writes", "coreplus.cli.tokens",
  "coreplus.cli.profiles", "coreplus.cli.explain", "coreplus.cli.sync" }

local COMMANDS, ORDER = {}, {}
local function register(list, keep_order)
  local names = {}
  for _, cmd in ipairs(list) do
    COMMANDS[cmd.name] = cmd
    names[#names + 1] = cmd.name
  end
  if not keep_order then sort(names) end
  for _, n in ipairs(names) do ORDER[#ORDER + 1] = n end
end
for i, family in ipairs(FAMILIES) do register(require(family).commands(), i == 1) end
register({ help.completion_command(COMMANDS) })
_M.COMMANDS = COMMANDS

--- A first word that is not a command: argparse's suggestion, or the
-- subcommands of a word that has only those (`files` -> upload).
local function unknown(name, rest)
  local words = { name }
  for _, a in ipairs(rest) do
    if a:sub(1, 1) ~= "-" then words[2] = a; break end
  end
  local subs = {}
  for _, n in ipairs(ORDER) do
    local sub = n:match("^" .. name:gsub("%p", "%%%0") .. " (%S+)$")
    if sub then subs[#subs + 1] = sub end
  end
  if #subs > 0 and not words[2] then
    usage(name .. " needs one of: " .. concat(subs, ", ") .. " (coreplus help " .. name .. " " .. subs[1] .. ")")
  end
  args.unknown_command(words, COMMANDS)
end

local function show_help(ctx, topic_words)
  local topic = #topic_words > 0 and concat(topic_words, " ") or nil
  if topic and not COMMANDS[topic] then unknown(topic_words[1], { topic_words[2] }) end
  ctx.sys.stdout(topic and help.command(COMMANDS[topic]) or help.top(COMMANDS, ORDER))
  return 0
end

local function bare_words(list)
  local out = {}
  for _, a in ipairs(list) do if a:sub(1, 1) ~= "-" then out[#out + 1] = a end end
  return out
end

local function run(ctx, argv)
  local name, rest = args.command_words(argv, COMMANDS)
  if name == "help" then return show_help(ctx, bare_words(rest)) end
  if name == "version" or (not name and rest[1] == "--version") then
    ctx.sys.stdout("coreplus " .. coreplus.version .. "\n")
    return 0
  end
  if not name then
    if #rest == 0 or rest[1] == "-h" or rest[1] == "--help" then return show_help(ctx, {}) end
    usage("a command is required (coreplus help lists them)")
  end
  local cmd = COMMANDS[name]
  if not cmd then unknown(name, rest) end
  ctx.name = name
  ctx.flags, ctx.positional = args.parse(cmd, rest)
  if ctx.flags.help then return show_help(ctx, { name }) end
  return cmd.run(ctx)
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
  ctx:remember_clock()
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
