--- Command-line parsing: `coreplus <command> [positional...] [--flag value]...`.
-- Each command declares its flags; anything undeclared is a usage error
-- (exit status 2) that names the flag.
local type = type
local pairs = pairs
local ipairs = ipairs
local tonumber = tonumber
local error = error
local setmetatable = setmetatable

local _M = {}

--- A usage error: raised as a table so main() can tell it from a bug.
local usage_mt = { __tostring = function(e) return e.message end }

function _M.usage(message)
  error(setmetatable({ usage = true, message = message }, usage_mt), 0)
end

function _M.is_usage(e)
  return type(e) == "table" and getmetatable(e) == usage_mt
end

-- Flags every command accepts: output, connection settings (each overrides
-- its COREPLUS_* variable) and help.
_M.GLOBAL = {
  json = { kind = "bool", help = "print JSON (an array for lists)" },
  jsonl = { kind = "bool", help = "print JSON lines: one object per line (the default when piped)" },
  table = { kind = "bool", help = "print an aligned table (the default on a terminal)" },
  wide = { kind = "bool", help = "do not shorten long table cells" },
  columns = { kind = "string", short = "c", help = "table columns, comma-separated (dotted paths reach inside)" },
  progress = { kind = "bool", help = "show the --all progress bar even when stderr is not a terminal" },
  ["no-progress"] = { kind = "bool", help = "never show the progress bar" },
  ["base-url"] = { kind = "string", option = "base_url", help = "overrides COREPLUS_BASE_URL" },
  ["consumer-id"] = { kind = "string", option = "consumer_id", help = "overrides COREPLUS_CONSUMER_ID" },
  ["consumer-secret"] = { kind = "string", option = "consumer_secret",
    help = "overrides COREPLUS_CONSUMER_SECRET (prefer the variable: flags show in `ps`)" },
  ["access-token"] = { kind = "string", option = "access_token", help = "overrides COREPLUS_ACCESS_TOKEN" },
  issuer = { kind = "string", option = "issuer", help = "overrides COREPLUS_ISSUER" },
  audience = { kind = "string", option = "audience", help = "overrides COREPLUS_AUDIENCE" },
  ["api-version"] = { kind = "string", option = "version", help = "overrides COREPLUS_VERSION (v2.1)" },
  cafile = { kind = "string", option = "cafile", help = "overrides COREPLUS_CAFILE" },
  ["shared-limit"] = { kind = "string", help = "file sharing the 10/s limit between runs"
    .. " (default: COREPLUS_SHARED_LIMIT, else a per-user file; off disables)" },
  help = { kind = "bool", short = "h", help = "this help" },
}

--- parse(argv, spec) -> {flags = {name = value}, positional = {...}}
-- spec: {flags = {name = {kind = "string"|"number"|"bool"|"list", short = "x"}},
--        positional = max count}
-- "--name value", "--name=value", "-x value"; "list" flags repeat; "--"
-- ends the flags.
function _M.parse(argv, spec, first)
  local flags, positional = {}, {}
  local short = {}
  local function lookup(name)
    return (spec.flags and spec.flags[name]) or _M.GLOBAL[name]
  end
  for _, set in ipairs({ _M.GLOBAL, spec.flags or {} }) do
    for name, f in pairs(set) do
      if f.short then short[f.short] = name end
    end
  end
  local i = first or 1
  local only_positional = false
  while argv[i] ~= nil do
    local a = argv[i]
    local name, inline
    if not only_positional and a == "--" then
      only_positional = true
    elseif not only_positional and a:sub(1, 2) == "--" and #a > 2 then
      name, inline = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
    elseif not only_positional and a:match("^%-%a$") then
      name = short[a:sub(2)]
      if not name then _M.usage("unknown option " .. a) end
    else
      positional[#positional + 1] = a
    end
    if name then
      local f = lookup(name)
      if not f then _M.usage("unknown option --" .. name) end
      if f.kind == "bool" then
        if inline ~= nil then _M.usage("option --" .. name .. " takes no value") end
        flags[name] = true
      else
        local v = inline
        if v == nil then
          i = i + 1
          v = argv[i]
          if v == nil then _M.usage("option --" .. name .. " needs a value") end
        end
        if f.kind == "number" then
          local n = tonumber(v)
          if not n then _M.usage("option --" .. name .. " needs a number, got '" .. v .. "'") end
          v = n
        end
        if f.kind == "list" then
          local list = flags[name] or {}
          list[#list + 1] = v
          flags[name] = list
        else
          flags[name] = v
        end
      end
    end
    i = i + 1
  end
  local limit = spec.positional or 0
  if #positional > limit then
    _M.usage(("unexpected argument '%s'"):format(positional[limit + 1]))
  end
  return { flags = flags, positional = positional }
end

--- key=value pairs (-q) into a query table; a key given twice becomes a list.
function _M.query_pairs(list, into)
  local q = into or {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then _M.usage("-q expects key=value, got '" .. kv .. "'") end
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
