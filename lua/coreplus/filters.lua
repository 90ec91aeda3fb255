--- Trust, but verify: the query filters coreplus does not document (seen in
-- third-party code: `name=` on Client/, `clientId=` on Appointment/) may be
-- honoured, matched another way, or ignored by a server, which then answers
-- every row. A list operation's catalogue spec names each such filter, the
-- row fields it is about and its rule (catalogue.lua, `filters`); the pager
-- applies the same filter to the rows that come back and drops those that
-- do not match, so a caller gets the right rows either way.
--
-- Rules:
--
--  - `id`: the row's field (a path such as `clients.clientId` walks into
--    objects and lists) equals one of the values sent, ignoring case (ids
--    are GUIDs); a list value (`practitionerId = {a, b}`) is any of them
--  - `name`: the text sent, trimmed and ignoring case and runs of spaces, is
--    inside the row's name as a person would write it: first, middle, last
--    or preferred name alone, "first last", "last first", "last, first",
--    "first middle last" or "preferred last"
--
-- A row that has none of the fields cannot be judged and is kept.
local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local concat = table.concat

local _M = {}

local function fold(s)
  if type(s) ~= "string" and type(s) ~= "number" then return nil end
  return (tostring(s):lower():gsub("^%s+", ""):gsub("%s+$", ""):gsub("%s+", " "))
end

-- Every value at `path` ("a.b.c") in a row, walking into lists: out[...].
local function values_at(v, path, out)
  if type(v) ~= "table" then return out end
  if v[1] ~= nil then
    for _, x in ipairs(v) do values_at(x, path, out) end
    return out
  end
  local head, rest = path:match("^([^.]+)%.(.+)$")
  if head then return values_at(v[head], rest, out) end
  local x = v[path]
  if type(x) == "table" then
    for _, y in ipairs(x) do out[#out + 1] = y end
  elseif x ~= nil then
    out[#out + 1] = x
  end
  return out
end

-- rule(sent, row, fields) -> true (matches) | false | nil (cannot tell)
local RULES = {}

function RULES.id(sent, row, fields)
  local want = {}
  for _, v in ipairs(type(sent) == "table" and sent or { sent }) do
    local f = fold(v)
    if f and f ~= "" then want[f] = true end
  end
  if next(want) == nil then return true end
  local seen = false
  for _, field in ipairs(fields) do
    for _, v in ipairs(values_at(row, field, {})) do
      local f = fold(v)
      if f then
        seen = true
        if want[f] then return true end
      end
    end
  end
  if not seen then return nil end
  return false
end

function RULES.name(sent, row)
  local needle = fold(type(sent) == "table" and sent[1] or sent)
  if not needle or needle == "" then return true end
  local first, middle, last, preferred = fold(row.firstName), fold(row.middleName), fold(row.lastName),
    fold(row.preferredName)
  if not (first or last or preferred or middle) then return nil end
  local forms = {}
  local function form(...)
    local parts = { ... }
    for i = 1, select("#", ...) do if not parts[i] or parts[i] == "" then return end end
    forms[#forms + 1] = concat(parts, " ")
  end
  form(first); form(middle); form(last); form(preferred)
  form(first, last); form(last, first); form(last and last .. ",", first); form(first, middle, last)
  form(preferred, last)
  for _, f in ipairs(forms) do
    if f:find(needle, 1, true) then return true end
  end
  return false
end
_M.rules = RULES

--- The checks for one request: the spec's filters among `params` that are
-- set, as a list of {name =, value =, rule =, fields =}, or nil (none).
-- @tparam table spec a list operation's catalogue spec (`row.list`)
-- @tparam table params the query sent
function _M.checks(spec, params)
  local declared = type(spec) == "table" and spec.filters
  if not declared then return nil end
  local list
  for name, f in pairs(declared) do
    local v = params[name]
    if v ~= nil and v ~= "" and not (type(v) == "table" and #v == 0) then
      list = list or {}
      list[#list + 1] = { name = name, value = v, rule = RULES[f.rule], fields = f.fields or { name } }
    end
  end
  if list then table.sort(list, function(a, b) return a.name < b.name end) end
  return list
end

--- Applies checks to the items of one page: kept (the same table when
-- nothing was dropped) and, when rows were dropped, a set of the filters
-- that dropped them ({name = count}).
function _M.apply(checks, items)
  if not checks then return items end
  local kept, dropped = {}, nil
  for _, row in ipairs(items) do
    local ok = true
    if type(row) == "table" then
      for _, c in ipairs(checks) do
        if c.rule(c.value, row, c.fields) == false then
          dropped = dropped or {}
          dropped[c.name] = (dropped[c.name] or 0) + 1
          ok = false
          break
        end
      end
    end
    if ok then kept[#kept + 1] = row end
  end
  if not dropped then return items end
  return kept, dropped
end

--- How a filter value reads in a message: `name=Smith`, `practitionerId=a,b`.
function _M.show(check)
  local v = check.value
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = tostring(x) end
    v = concat(parts, ",")
  end
  return check.name .. "=" .. tostring(v)
end

return _M
