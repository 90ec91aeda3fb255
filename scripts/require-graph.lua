#!/usr/bin/env lua5.4
--- require-graph.lua [DIR]: checks that calls in the Lua tree (default lua/)
-- only go downward. Prints TAP (run by scripts/run-tests' lint step):
--
--   ok 1 - no require cycle             (modules that require each other,
--                                         directly or through others)
--   ok 2 - no upward require            (a module requiring one on a
--                                         higher floor than its own)
--
-- A require counts wherever it is in the code (inside a function too), but
-- not in a comment or a string: the mock's nginx.conf names its handler in
-- a string, and doc comments show `require "coreplus"` to users.
-- Exits 1 when either check fails.
local root = arg[1] or "lua"

-- The floors, top first. A module sits on the floor of the entry that names
-- it or the nearest package above it ("coreplus.cli" covers
-- coreplus.cli.lists; "coreplus" is only coreplus/init.lua); it may require
-- modules on its own floor or below.
-- A module no entry covers is listed as unplaced (a new module: give it a
-- floor here), and its edges are not judged.
local FLOORS = {
  -- the tools and test helpers, which use the library
  { "coreplus.cli" },
  { "coreplus.testing" },
  { "coreplus.sync" },
  -- the library's face: coreplus.new, from_env, from_profile; the metrics'
  -- faces (coreplus.metrics, its nginx and sync ends)
  { "coreplus", "coreplus.profile", "coreplus.metrics" },
  { "coreplus.client" },
  -- a catalogue row bound to the engine, and the operations it hands on
  { "coreplus.resource" },
  { "coreplus.uploads", "coreplus.slots", "coreplus.client_match" },
  { "coreplus.pager" },
  { "coreplus.filters" },
  { "coreplus.engine" },
  { "coreplus.retry", "coreplus.transport", "coreplus.scheduler" },
  -- values and rules with no I/O of their own
  { "coreplus.errors", "coreplus.fields", "coreplus.url", "coreplus.config", "coreplus.catalogue",
    "coreplus.jwt", "coreplus.metrics.registry", "coreplus.metrics.exposition", "coreplus.metrics.families" },
  { "coreplus.dates", "coreplus.misuse", "coreplus.defaults", "coreplus.settings", "coreplus.json",
    "coreplus.core" },
}

local floor_of = {}
for i, names in ipairs(FLOORS) do
  for _, n in ipairs(names) do floor_of[n] = i end
end

local function floor(module)
  if floor_of[module] then return floor_of[module] end
  -- packages below the root: "coreplus" itself places only coreplus/init.lua
  local m = module:match("^(.*)%.[^.]+$")
  while m and m:find(".", 1, true) do
    if floor_of[m] then return floor_of[m] end
    m = m:match("^(.*)%.[^.]+$")
  end
  return nil
end

-- ===== reading the requires =====

-- The code of a Lua source with comments and string contents removed
-- (strings become ""), so that only real calls are seen. Long brackets of
-- any level, escapes in short strings.
local function code_only(src)
  local out, i, n = {}, 1, #src
  local tail = ""   -- the last code emitted: is a string a require's argument?
  local function emit(s)
    out[#out + 1] = s
    tail = (tail .. s):sub(-32)
  end
  while i <= n do
    local c = src:sub(i, i)
    if c == "-" and src:sub(i, i + 1) == "--" then
      local eq = src:match("^%[(=*)%[", i + 2)
      if eq then
        local _, e = src:find("]" .. eq .. "]", i + 4 + #eq, true)
        i = (e or n) + 1
      else
        local e = src:find("\n", i, true)
        i = e or n + 1
      end
    elseif c == "[" and src:match("^%[=*%[", i) then
      local eq = src:match("^%[(=*)%[", i)
      local _, e = src:find("]" .. eq .. "]", i + 2 + #eq, true)
      emit('""')
      i = (e or n) + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      local buf = {}
      while j <= n do
        local d = src:sub(j, j)
        if d == "\\" then
          buf[#buf + 1] = src:sub(j, j + 1)
          j = j + 2
        elseif d == c or d == "\n" then
          break
        else
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      -- Keep the text of a string that is a require's argument.
      emit(tail:match("require%s*%(?%s*$") and (c .. table.concat(buf) .. c) or '""')
      i = j + 1
    else
      emit(c)
      i = i + 1
    end
  end
  return table.concat(out)
end

local function modules(dir)
  local list = {}
  local p = assert(io.popen("find '" .. dir:gsub("'", "'\\''") .. "' -name '*.lua' -type f | sort"))
  for path in p:lines() do
    local m = path:sub(#dir + 2, -5):gsub("/", ".")
    m = m:gsub("%.init$", "")
    list[#list + 1] = { name = m, path = path }
  end
  p:close()
  return list
end

local mods = modules(root)
local known, graph, names = {}, {}, {}
for _, m in ipairs(mods) do known[m.name] = true end
for _, m in ipairs(mods) do
  local f = assert(io.open(m.path, "rb"))
  local code = code_only(f:read("a"))
  f:close()
  local targets, seen = {}, {}
  for t in code:gmatch("require%s*%(?%s*[\"']([%w_.]+)[\"']") do
    if known[t] and t ~= m.name and not seen[t] then
      seen[t] = true
      targets[#targets + 1] = t
    end
  end
  table.sort(targets)
  graph[m.name] = targets
  names[#names + 1] = m.name
end
table.sort(names)

-- ===== cycles: strongly connected components (Tarjan) =====

local index, low, stack, on, cycles, counter = {}, {}, {}, {}, {}, 0
local function connect(v)
  index[v], low[v] = counter, counter
  counter = counter + 1
  stack[#stack + 1], on[v] = v, true
  for _, w in ipairs(graph[v]) do
    if not index[w] then
      connect(w)
      low[v] = math.min(low[v], low[w])
    elseif on[w] then
      low[v] = math.min(low[v], index[w])
    end
  end
  if low[v] == index[v] then
    local comp = {}
    repeat
      local w = table.remove(stack)
      on[w] = nil
      comp[#comp + 1] = w
    until w == v
    if #comp > 1 then
      table.sort(comp)
      cycles[#cycles + 1] = comp
    end
  end
end
for _, v in ipairs(names) do
  if not index[v] then connect(v) end
end

-- ===== upward edges =====

local upward, unplaced, edges = {}, {}, 0
for _, v in ipairs(names) do
  local fv = floor(v)
  if not fv then unplaced[#unplaced + 1] = v end
  for _, w in ipairs(graph[v]) do
    edges = edges + 1
    local fw = floor(w)
    if fv and fw and fw < fv then
      upward[#upward + 1] = ("%s -> %s (floor %d requires floor %d)"):format(v, w, fv, fw)
    end
  end
end

print("1..2")
print(("# %d modules, %d require edges under %s"):format(#names, edges, root))
if #cycles == 0 then
  print("ok 1 - no require cycle")
else
  print(("not ok 1 - no require cycle (%d found)"):format(#cycles))
  for _, c in ipairs(cycles) do print("# cycle: " .. table.concat(c, " <-> ")) end
end
if #upward == 0 then
  print("ok 2 - no upward require")
else
  print(("not ok 2 - no upward require (%d found)"):format(#upward))
  for _, u in ipairs(upward) do print("# upward: " .. u) end
end
for _, u in ipairs(unplaced) do
  print("# unplaced (give it a floor in scripts/require-graph.lua): " .. u)
end
os.exit((#cycles == 0 and #upward == 0) and 0 or 1)
