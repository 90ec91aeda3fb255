--- `coreplus profiles`: the config file's sections, secrets masked.
local core = require "coreplus.core"
local profile = require "coreplus.profile"
local context = require "coreplus.cli.context"
local output = require "coreplus.cli.output"
local args = require "coreplus.cli.args"

local ipairs = ipairs
local pairs = pairs
local tostring = tostring

local _M = {}

local function run(ctx)
  local path = profile.path(ctx.sys.getenv)
  local cfg, err = profile.load(path or "")
  if err then args.usage(err) end
  if not cfg then
    ctx.sys.stderr("coreplus: no config file " .. tostring(path) .. " (coreplus help profiles shows one)\n")
    return 1
  end
  local _, selected = ctx:profile()
  local rows = {}
  for _, name in ipairs(cfg.names) do
    local row = { profile = name, selected = name == selected or nil }
    for k, v in pairs(cfg.sections[name]) do
      -- (a URL's password, in shared_limit or anywhere, is masked too)
      row[k] = profile.SECRETS[k] and context.mask(v) or core.mask_url(v)
    end
    rows[#rows + 1] = row
  end
  local sink = output.sink(ctx:format(), ctx.sys.stdout, { width = ctx:cell_width(),
    columns = ctx:columns({ "profile", "selected", "base_url", "consumer_id", "consumer_secret", "access_token",
      "user_agent", "need" }) })
  for _, r in ipairs(rows) do sink.item(r) end
  sink.close()
  return 0
end

function _M.commands()
  return {
    { name = "profiles", run = run, summary = "list the profiles of the config file, secrets masked",
      description = "The file is $XDG_CONFIG_HOME/coreplus/config (default ~/.config/coreplus/config), mode 600:\n"
        .. "  [sandbox]\n  base_url = https://sandbox.coreplus.com.au\n  consumer_id = ...\n"
        .. "  consumer_secret = ...\n  access_token = ...\n  user_agent = my-practice-sync/1.2\n\n"
        .. "  [production]\n  base_url = https://api.coreplus.com.au\n  ...\n  need = clients,appointments\n"
        .. "Keys are the COREPLUS_* names in lower case without the prefix; variables and flags win over them.",
      examples = { "coreplus profiles", "coreplus --profile sandbox doctor",
        "COREPLUS_PROFILE=production coreplus locations" } },
  }
end

return _M
