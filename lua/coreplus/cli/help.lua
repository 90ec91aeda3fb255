--- Help texts and shell completion. Every command has a summary, its
-- flags, and examples (shown under "examples:").
local args = require "coreplus.cli.args"
local settings = require "coreplus.settings"

local type = type
local next = next
local tostring = tostring
local ipairs = ipairs
local format = string.format
local concat = table.concat

local _M = {}

local function flag_lines(lines, flags)
  for _, n in ipairs(args.sorted(flags)) do
    local f = flags[n]
    local value = f.kind == "bool" and "" or (f.kind == "number" and " N" or " VALUE")
    local names = (f.short and ("-" .. f.short .. ", ") or "") .. "--" .. n
    for _, a in ipairs(f.aliases or {}) do names = names .. ", --" .. a end
    local text = f.help or ""
    if f.choices then text = text .. " (" .. concat(f.choices, ", ") .. ")" end
    lines[#lines + 1] = format("  %-30s %s", names .. value, text)
  end
end

-- Words into lines of at most 96 columns, indented by two.
local function wrap(lines, text)
  local line = " "
  for word in text:gmatch("%S+") do
    if #line + 1 + #word > 96 then
      lines[#lines + 1] = line
      line = " "
    end
    line = line .. " " .. word
  end
  lines[#lines + 1] = line
end

local function usage_line(cmd)
  local parts = { "usage: coreplus " .. cmd.name }
  for _, a in ipairs(cmd.args or {}) do
    local n = a.name:upper() .. (a.many and "..." or "")
    parts[#parts + 1] = a.required and n or ("[" .. n .. "]")
  end
  for _, r in ipairs(cmd.required or {}) do
    if type(r) == "table" then
      local alt = {}
      for i, x in ipairs(r) do alt[i] = "--" .. x .. " ..." end
      parts[#parts + 1] = "(" .. concat(alt, " | ") .. ")"
    else
      parts[#parts + 1] = "--" .. r .. " ..."
    end
  end
  parts[#parts + 1] = "[flags]"
  return concat(parts, " ")
end

--- The help of one command.
function _M.command(cmd)
  local lines = { usage_line(cmd), "", cmd.summary .. "." }
  if cmd.description then lines[#lines + 1] = cmd.description end
  for _, a in ipairs(cmd.args or {}) do
    if a.help then lines[#lines + 1] = format("  %-26s %s", a.name:upper(), a.help) end
  end
  if next(cmd.flags or {}) then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "flags:"
    flag_lines(lines, cmd.flags)
  end
  if cmd.examples then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "examples:"
    for _, e in ipairs(cmd.examples) do lines[#lines + 1] = "  " .. e end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "global flags (before or after the command):"
  flag_lines(lines, args.GLOBAL)
  return concat(lines, "\n") .. "\n"
end

local TOP_EXAMPLES = {
  "coreplus doctor                          # is this configuration right? names the cause if not",
  "coreplus --profile sandbox locations     # a profile from ~/.config/coreplus/config",
  "coreplus clients --all > clients.jsonl   # every client, one JSON object per line",
  "coreplus appointments update ID --start 2025-05-20T10:00:00+10:00 --duration 30 --dry-run",
  "source <(coreplus completion bash)       # tab completion",
}

--- The overview: every command in `order`.
function _M.top(commands, order)
  local lines = { "usage: coreplus [global flags] <command> [arguments] [flags]", "", "commands:" }
  for _, n in ipairs(order) do
    lines[#lines + 1] = format("  %-26s %s", n, commands[n].summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Settings come from a profile (--profile NAME or COREPLUS_PROFILE: a [NAME] section of"
  lines[#lines + 1] = "$XDG_CONFIG_HOME/coreplus/config, else [default]), then COREPLUS_* variables, then flags;"
  lines[#lines + 1] = "each wins over the one before. The setting x is the key x, COREPLUS_X and --x:"
  local names = {}
  for _, row in ipairs(settings.ROWS) do names[#names + 1] = row.name end
  wrap(lines, concat(names, ", ") .. ".")
  lines[#lines + 1] = "Output: a table on a terminal, JSON lines when piped; --table, --json, --jsonl choose."
  lines[#lines + 1] = "Exit status: 0 ok, 1 API error, 2 usage error.  `coreplus help COMMAND` for its flags."
  lines[#lines + 1] = ""
  lines[#lines + 1] = "examples:"
  for _, e in ipairs(TOP_EXAMPLES) do lines[#lines + 1] = "  " .. e end
  return concat(lines, "\n") .. "\n"
end

--- `coreplus completion bash|zsh|fish`: the script, from the command tree.
function _M.completion_command(commands)
  return {
    name = "completion", summary = "print a shell completion script: completion bash|zsh|fish",
    args = { { name = "shell", required = true, choices = { "bash", "zsh", "fish" },
      help = "bash, zsh or fish" } },
    examples = { "source <(coreplus completion bash)            # this shell",
      "coreplus completion bash > ~/.local/share/bash-completion/completions/coreplus",
      "coreplus completion zsh > ~/.zfunc/_coreplus      # with fpath=(~/.zfunc $fpath)" },
    run = function(ctx)
      local shell = ctx.positional[1]
      local tree = args.tree(commands)
      local script = shell == "bash" and tree:get_bash_complete() or shell == "zsh" and tree:get_zsh_complete()
        or shell == "fish" and tree:get_fish_complete()
      if not script then args.usage("completion: no shell '" .. tostring(shell) .. "' (bash, zsh or fish)") end
      ctx.sys.stdout(script)
      return 0
    end,
  }
end

return _M
