-- docs/architecture.md names only what exists. The spec reads the names the
-- map cites, by their form, so a module added or renamed later is checked
-- without a list here (docs/decisions.md#architecture-cites):
--   files and folders   a word with a path's extension (.lua .c .h .md .py .ld
--                       .mk .conf .txt .supp), a word under a folder of the
--                       top (bin/coreplus, scripts/run-tests), a lower-case
--                       word ending in "/", or a glob (cli/*, *_lua.c): as
--                       written from the top, or under lua/, lua/coreplus/,
--                       src/; a bare name (or one folder) matches one of that
--                       name anywhere in the checkout
--   modules             coreplus.x.y: the longest part that is a module under
--                       lua/ (or the C core), the rest its fields
--   the C core's names  core.x.y: fields of require "coreplus.core"
--   functions           name() or x:name(...) / x.name(...): defined in lua/
--                       (function ... name) or in src/ (name( in C)
--   constants           UPPER_CASE_NAMES: in the code, or in libcurl's header
--   fields              `x.NAME` in backticks, x a module of lua/coreplus/
--   make targets        make x: a target of the Makefile or mk/*.mk
-- (references to decisions by slug: spec/docs_truth_spec.lua.)
local F = dofile("spec/support/files.lua")

local EXTENSIONS = { lua = true, c = true, h = true, md = true, py = true, ld = true, mk = true,
  conf = true, txt = true, supp = true }
local ROOTS = { "", "lua/", "lua/coreplus/", "src/" }
-- Any word under these is a path, extension or not (bin/coreplus, scripts/run-tests).
local TOPS = { bin = true, scripts = true, spec = true, src = true, lua = true, docs = true, mk = true,
  examples = true, fuzz = true, bench = true, nginx = true, rockspec = true }

-- The checkout's files, and the basenames among them.
local files, basenames = {}, {}
for path in F.capture("git ls-files --cached --others --exclude-standard"):gmatch("[^\n]+") do
  files[path] = true
  basenames[path:match("[^/]+$")] = true
end

local function exists(path)
  if files[path] then return true end
  local prefix = path:gsub("/$", "") .. "/"
  for f in pairs(files) do
    if f:sub(1, #prefix) == prefix then return true end
  end
  return false
end

-- A glob's Lua pattern (only * is used in the map).
local function glob_pattern(glob)
  return "^" .. glob:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", "[^/]*") .. "$"
end

local function path_exists(cite)
  local folder = cite:match("^([%w_%-]+)/%*?$")
  if folder then
    -- one folder (or its glob) matches a folder of that name anywhere
    for f in pairs(files) do
      if ("/" .. f):find("/" .. folder:gsub("%-", "%%-") .. "/", 1) then return true end
    end
    return false
  end
  if not cite:find("/", 1, true) then
    -- a bare name (or glob) matches a file of that name anywhere
    if cite:find("*", 1, true) then
      local pat = glob_pattern(cite)
      for b in pairs(basenames) do if b:match(pat) then return true end end
      return false
    end
    return basenames[cite] == true
  end
  for _, root in ipairs(ROOTS) do
    local p = root .. cite
    if p:find("*", 1, true) then
      local pat = glob_pattern(p)
      local dir_pat = glob_pattern(p .. "/*")
      for f in pairs(files) do
        if f:match(pat) or f:match(dir_pat) or f:match(glob_pattern(p .. "/*/*")) then return true end
      end
    elseif exists(p) then
      return true
    end
  end
  return false
end

-- ===== the cites, by form =====

local function strip(token) return (token:gsub("[.,;:]+$", "")) end

-- What keep(start, captures...) makes of each match of pattern in text (a
-- cite, or nil to pass over it).
local function collect(text, pattern, keep)
  local out = {}
  for start, a, b in text:gmatch("()" .. pattern) do
    local cite = keep(start, a, b)
    if cite then out[#out + 1] = cite end
  end
  return out
end

-- The character before position start, or a space.
local function before(text, start) return start > 1 and text:sub(start - 1, start - 1) or " " end

-- A word's file extension, when it is one the map cites.
local function extension(word)
  local ext = word:match("%.(%a+)$")
  return ext and EXTENSIONS[ext] and ext or nil
end

local function paths_in(text)
  text = text:gsub("%a+://%S+", " ")   -- URLs
  return collect(text, "([%w_%-%./%*]+)", function(start, token)
    token = strip(token:gsub("#.*$", ""))
    if before(text, start) == "/" or not token:find("%a") or token:match("^/") then return nil end
    if extension(token)
      -- under a folder of the top, without an extension
      or token:match("^[%l_][%w_%-]*/[%w_%-./]*[%w_]$") and TOPS[token:match("^[^/]+")]
      -- a folder (API paths are capitalised: Client/)
      or token:match("/$") and token:match("^[%l_]")
      -- a glob: cli/*, mk/*.mk, *_lua.c
      or token:match("^[%l_][%w_/]*%*$") or token:match("^[%l_][%w_/]*/%*%.%a+$")
      or token:match("^%*[%w_]*%.%a+$") then
      return token
    end
    return nil
  end)
end

-- Dotted names starting with `head.` that are not files, e.g. coreplus.x, core.x.
local function dotted(text, head)
  return collect(text, "(" .. head .. "%.[%w_.]+)", function(start, token)
    token = strip(token)
    if before(text, start):match("[%w_./]") or extension(token) then return nil end
    return token
  end)
end

local function calls_in(text)
  local out = collect(text, "([%a_][%w_]*)%(%)", function(_, name) return name end)
  for _, name in ipairs(collect(text, "[%a_][%w_]*[:.]([%a_][%w_]*)%(", function(_, name) return name end)) do
    out[#out + 1] = name
  end
  return out
end

local function constants_in(text)
  return collect(text, "([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])", function(start, name)
    return not before(text, start):match("[%w_]") and name or nil
  end)
end

local function fields_in(text)
  return collect(text, "`([%l_]+)%.([%w_]+)`", function(_, m, field)
    if m == "core" or m == "coreplus" or extension("." .. field) then return nil end
    return { m, field }
  end)
end

local function targets_in(text)
  return collect(text, "make ([%l][%w%-]*)", function(_, name) return name end)
end

-- ===== resolving =====

local SEARCH = "lua/?.lua;lua/?/init.lua"

local function is_module(name)
  return name == "coreplus.core" or package.searchpath(name, SEARCH) ~= nil
end

-- The value at `fields` (a list) of a module, or true when the module cannot
-- be loaded here (it runs only in nginx, say): then its file is the check.
local function field_of(module, fields)
  local ok, value = pcall(require, module)
  if not ok then return true end
  for _, f in ipairs(fields) do
    if type(value) ~= "table" then return nil end
    value = value[f]
  end
  return value
end

local function parts_of(name)
  local parts = {}
  for p in name:gmatch("[^.]+") do parts[#parts + 1] = p end
  return parts
end

local function module_name_exists(name)
  local parts = parts_of(name)
  for n = #parts, 1, -1 do
    local m = table.concat(parts, ".", 1, n)
    if is_module(m) then
      return field_of(m, { table.unpack(parts, n + 1) }) ~= nil
    end
  end
  return false
end

local function core_name_exists(name)
  return field_of("coreplus.core", { table.unpack(parts_of(name), 2) }) ~= nil
end

-- Every file's text under a folder, with the given extensions, once.
local texts = {}
local function sources(dir, exts)
  local key = dir .. " " .. table.concat(exts, " ")
  if texts[key] then return texts[key] end
  local parts = {}
  for f in pairs(files) do
    local ext = f:match("%.(%a+)$")
    if f:sub(1, #dir) == dir then
      for _, e in ipairs(exts) do
        if ext == e or e == "*" then parts[#parts + 1] = F.read(f) or "" end
      end
    end
  end
  texts[key] = table.concat(parts, "\n")
  return texts[key]
end

local function function_exists(name)
  local lua = sources("lua/", { "lua" })
  for _, pat in ipairs{ "function [%w_.:]*[.:]" .. name .. "%(", "local function " .. name .. "%(",
    "\nfunction " .. name .. "%(", "%f[%w_]" .. name .. " = function%(" } do
    if lua:find(pat) then return true end
  end
  return sources("src/", { "c", "h" }):find("%f[%w_]" .. name .. "%(") ~= nil
end

local function constant_exists(name)
  local code = table.concat({ sources("lua/", { "lua" }), sources("src/", { "c", "h" }),
    sources("scripts/", { "*" }), sources("bin/", { "*" }), sources("mk/", { "mk" }), F.read("Makefile") or "",
    F.read("/usr/include/x86_64-linux-gnu/curl/curl.h") or F.read("/usr/include/curl/curl.h") or "" }, "\n")
  return code:find("%f[%w_]" .. name .. "%f[^%w_]") ~= nil
end

local function target_exists(name)
  local text = (F.read("Makefile") or "") .. "\n" .. sources("mk/", { "mk" })
  return text:find("\n" .. name:gsub("%-", "%%-") .. ":") ~= nil
end

-- The names of `list` that `ok` refuses, as one message (nil when none).
local function missing(list, ok, show)
  local bad, seen = {}, {}
  for _, x in ipairs(list) do
    local shown = show and show(x) or x
    if not seen[shown] and not ok(x) then bad[#bad + 1] = shown end
    seen[shown] = true
  end
  return #bad > 0 and ("docs/architecture.md cites what does not exist: " .. table.concat(bad, ", ")) or nil
end

local function field_exists(pair)
  local module = "coreplus." .. pair[1]
  return is_module(module) and field_of(module, { pair[2] }) ~= nil
end

local function check_all(text)
  return {
    paths = missing(paths_in(text), path_exists),
    modules = missing(dotted(text, "coreplus"), module_name_exists),
    core = missing(dotted(text, "core"), core_name_exists),
    functions = missing(calls_in(text), function_exists),
    constants = missing(constants_in(text), constant_exists),
    fields = missing(fields_in(text), field_exists, function(p) return p[1] .. "." .. p[2] end),
    targets = missing(targets_in(text), target_exists),
  }
end

describe("docs/architecture.md", function()
  local text = assert(F.read("docs/architecture.md"))

  -- what a form is called, its cites, its key in check_all, how many at least
  local FORMS = {
    { "files and folders", paths_in, "paths", 100 },
    { "modules coreplus.x, and their fields,", function(t) return dotted(t, "coreplus") end, "modules", 5 },
    { "names of the C core (core.x)", function(t) return dotted(t, "core") end, "core", 8 },
    { "functions, defined in lua/ or src/,", calls_in, "functions", 8 },
    { "constants", constants_in, "constants", 2 },
    { "fields `module.NAME`", fields_in, "fields", 2 },
    { "make targets", targets_in, "targets", 5 },
  }
  for _, form in ipairs(FORMS) do
    local what, cites, key, least = form[1], form[2], form[3], form[4]
    it("cites " .. what .. " that exist", function()
      local n = #cites(text)
      assert.is_true(n >= least, n .. " cited")
      assert.is_nil(check_all(text)[key])
    end)
  end

  it("would see a name that does not exist, in every form", function()
    local all = check_all([[
 src/limiter/throttle.c · cli/nowhere.lua · gone/ · nothing_lua.c · ghosts/* · scripts/gone ·
 coreplus.nowhere ·
 coreplus.pager.no_such_field · core.no_such_thing · no_such_function() · engine:no_such_method(x) ·
 NO_SUCH_MACRO · `engine.NO_SUCH_FIELD` · make no-such-target]])
    assert.matches("src/limiter/throttle.c, cli/nowhere.lua, gone/, nothing_lua.c, ghosts/*, scripts/gone",
      all.paths, 1, true)
    assert.matches("coreplus.nowhere, coreplus.pager.no_such_field", all.modules, 1, true)
    assert.matches("core.no_such_thing", all.core, 1, true)
    assert.matches("no_such_function, no_such_method", all.functions, 1, true)
    assert.matches("NO_SUCH_MACRO", all.constants, 1, true)
    assert.matches("engine.NO_SUCH_FIELD", all.fields, 1, true)
    assert.matches("no-such-target", all.targets, 1, true)
  end)
end)
