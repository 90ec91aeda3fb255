--- Output for the command-line tool: JSON with sorted keys, JSON lines, and
-- aligned tables for people. Everything is written through a `write`
-- function so that the caller decides where it goes.
local cjson = require "cjson.safe"
local json = require "coreplus.json"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local sort = table.sort

local _M = {}

local null = cjson.null

--- "3e5c...53a3": enough to recognise a credential, not to use it.
function _M.mask(s)
  if type(s) ~= "string" then return "" end
  if #s <= 10 then return ("*"):rep(#s) end
  return s:sub(1, 4) .. "..." .. s:sub(-4)
end

--- Library argument errors arrive as "file:line: message"; keep the message.
function _M.strip_position(msg)
  msg = tostring(msg)
  return (msg:gsub("^[^%s:]+:%d+: ", ""))
end

-- ===== JSON =====

-- Sorted keys, "/" left alone, integers without ".0", an empty table as []:
-- the library's stable JSON text (coreplus.json).
_M.json = json.encode
local number_json = json.number

-- ===== cells and tables =====

--- get(record, "a.b.c"): a dotted path into nested tables.
function _M.get(record, path)
  local v = record
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    local nxt = v[part]
    if nxt == nil then nxt = v[tonumber(part)] end
    v = nxt
  end
  return v
end

--- pick(record, {"a", "b.c"}): only those fields, nested as in the record
-- ({"a": 1, "b": {"c": 2}}); a field the record lacks is left out.
function _M.pick(record, paths)
  if type(record) ~= "table" then return record end
  local out = {}
  for _, path in ipairs(paths) do
    local v = _M.get(record, path)
    if v ~= nil then
      local t = out
      local parts = {}
      for part in path:gmatch("[^.]+") do parts[#parts + 1] = part end
      for i = 1, #parts - 1 do
        if type(t[parts[i]]) ~= "table" then t[parts[i]] = {} end
        t = t[parts[i]]
      end
      t[parts[#parts]] = v
    end
  end
  return out
end

--- The text of one cell: control characters (a terminal escape in a
-- client's name, say) never reach the terminal.
function _M.cell(v, width)
  local s
  if v == nil or v == null then s = ""
  elseif type(v) == "number" then s = number_json(v)
  elseif type(v) == "table" then s = _M.json(v)
  else s = tostring(v) end
  s = s:gsub("%c", " ")
  if width and #s > width then
    -- Cut on a UTF-8 boundary so a name is never split mid-character.
    local cut = width - 1
    while cut > 0 and s:byte(cut + 1) and s:byte(cut + 1) >= 0x80 and s:byte(cut + 1) < 0xC0 do
      cut = cut - 1
    end
    s = s:sub(1, cut) .. "~"
  end
  return s
end

-- Display width: UTF-8 continuation bytes take no column.
local function width_of(s)
  local n = #s
  for _ in s:gmatch("[\128-\191]") do n = n - 1 end
  return n
end
_M.width = width_of

--- columns_for(items): every key holding a scalar, ids first, then sorted.
function _M.columns_for(items)
  local seen, cols = {}, {}
  for i = 1, math.min(#items, 20) do
    local item = items[i]
    if type(item) == "table" then
      for k, v in pairs(item) do
        if type(k) == "string" and not seen[k] and type(v) ~= "table" then
          seen[k] = true
          cols[#cols + 1] = k
        end
      end
    end
  end
  sort(cols, function(a, b)
    local ia, ib = a:match("Id$") ~= nil, b:match("Id$") ~= nil
    if ia ~= ib then return ia end
    return a < b
  end)
  return cols
end

--- table_lines(items, columns, {width=}) -> list of lines: a header row, a
-- rule, then one aligned row per item.
function _M.table_lines(items, columns, opts)
  opts = opts or {}
  local max_width = opts.width
  local rows = {}
  local widths = {}
  for c, name in ipairs(columns) do widths[c] = width_of(name) end
  for r, item in ipairs(items) do
    local row = {}
    for c, name in ipairs(columns) do
      local v = item
      if type(item) == "table" then v = _M.get(item, name) end
      local text = _M.cell(v, max_width)
      row[c] = text
      local w = width_of(text)
      if w > widths[c] then widths[c] = w end
    end
    rows[r] = row
  end
  local function line(cells)
    local parts = {}
    for c, text in ipairs(cells) do
      if c < #cells then
        parts[c] = text .. (" "):rep(widths[c] - width_of(text))
      else
        parts[c] = text
      end
    end
    return (concat(parts, "  "):gsub("%s+$", ""))
  end
  local out = { line(columns) }
  local rule = {}
  for c = 1, #columns do rule[c] = ("-"):rep(widths[c]) end
  out[2] = concat(rule, "  ")
  for _, row in ipairs(rows) do out[#out + 1] = line(row) end
  return out
end

--- record_lines(record): a single record as "field  value" lines, nested
-- tables flattened with dotted names.
function _M.record_lines(record, opts)
  local pairs_list = {}
  local function walk(prefix, v)
    if type(v) == "table" and v ~= null and next(v) ~= nil then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(keys) do
        walk(prefix and (prefix .. "." .. tostring(k)) or tostring(k), v[k])
      end
    else
      pairs_list[#pairs_list + 1] = { field = prefix or "value", value = v }
    end
  end
  walk(nil, record)
  return _M.table_lines(pairs_list, { "field", "value" }, opts)
end

--- A sink for items: "table" collects them and prints on close; "json"
-- streams an array; "jsonl" streams one object per line.
function _M.sink(format_name, write, opts)
  opts = opts or {}
  local count = 0
  local sink = {}
  local fields = opts.fields
  if format_name == "json" then
    function sink.item(v)
      if fields then v = _M.pick(v, fields) end
      count = count + 1
      write(count == 1 and "[\n" or ",\n")
      write(_M.json(v))
    end
    function sink.close()
      write(count == 0 and "[]\n" or "\n]\n")
    end
  elseif format_name == "jsonl" then
    function sink.item(v)
      if fields then v = _M.pick(v, fields) end
      count = count + 1
      write(_M.json(v) .. "\n")
    end
    function sink.close() end
  else
    local items = {}
    function sink.item(v)
      count = count + 1
      items[count] = v
    end
    function sink.close()
      if count == 0 then
        write("(no rows)\n")
        return
      end
      local cols = opts.columns or _M.columns_for(items)
      if #cols == 0 then cols = { "value" } end
      for _, l in ipairs(_M.table_lines(items, cols, { width = opts.width })) do
        write(l .. "\n")
      end
    end
  end
  function sink.count() return count end
  return sink
end

--- One record in the chosen format.
function _M.record(format_name, write, record, opts)
  opts = opts or {}
  if format_name == "json" or format_name == "jsonl" then
    write(_M.json(opts.fields and _M.pick(record, opts.fields) or record) .. "\n")
  else
    for _, l in ipairs(_M.record_lines(record, opts)) do write(l .. "\n") end
  end
end

return _M
