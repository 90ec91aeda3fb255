--- JSON text that is the same for the same value: object keys sorted,
-- "/" left alone, integers without ".0", an empty table as `[]` (Lua cannot
-- tell an empty list from an empty object; the API's empty containers are
-- lists). The command line prints with it, and `coreplus.sync` stores each
-- record's `data` with it, so that an unchanged record is recognised as
-- unchanged whatever order its table's keys come in.
local cjson = require "cjson.safe"

local type, next, pairs, ipairs, tostring, tonumber = type, next, pairs, ipairs, tostring, tonumber
local format, concat, sort, floor, tointeger = string.format, table.concat, table.sort, math.floor, math.tointeger

local _M = {}

local null = cjson.null

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or format("\\u%04x", c:byte())
  end) .. '"'
end

local function number_json(n)
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  local i = tointeger and tointeger(n) or (n == floor(n) and n >= -2^53 and n <= 2^53 and n)
  if i then return format("%d", i) end
  local s = format("%.14g", n)
  if tonumber(s) ~= n then s = format("%.17g", n) end
  return s
end

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

--- encode(value) -> JSON text: object keys sorted (stable output that diffs
-- well), "/" left alone, integers without ".0", an empty table as [].
local function encode(v, out)
  local t = type(v)
  if v == nil or v == null then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then out[#out + 1] = number_json(v)
  elseif t == "string" then out[#out + 1] = quote(v)
  elseif t == "table" then
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = quote(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = quote(tostring(v))
  end
  return out
end

--- encode(value) -> the JSON text.
function _M.encode(v)
  return concat(encode(v, {}))
end

--- A number as JSON: integers without ".0", the shortest text that reads back.
_M.number = number_json


return _M
