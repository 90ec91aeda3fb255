--- JSON for the mock: decoding through cjson, encoding by hand.
-- The encoder exists because the real API's bodies have a fixed key order
-- (`paging` is totalRows, pageNumber, pageSize) and empty arrays must stay
-- `[]`; Debian's cjson 2.1.0 can do neither. Objects built with `obj` keep
-- their key order; tables built with `arr` are always arrays.
local cjson = require "cjson.safe"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local setmetatable, getmetatable = setmetatable, getmetatable
local concat, sort = table.concat, table.sort
local format, gsub, byte = string.format, string.gsub, string.byte
local floor, huge = math.floor, math.huge

local _M = {}

local OBJ = {}     -- metatable tag: ordered object; keys listed in mt.keys
local ARR = {}     -- metatable tag: array, even when empty
local RAW = {}     -- metatable tag: already-encoded JSON text
_M.null = setmetatable({}, { __tojson = "null" })

--- obj{"k1", v1, "k2", v2, ...}: an object whose keys keep this order.
-- nil values are skipped (so optional fields can be written inline).
function _M.obj(list)
  local t, keys = {}, {}
  for i = 1, #list, 2 do
    local k = list[i]
    keys[#keys + 1] = k
    t[k] = list[i + 1]
  end
  return setmetatable(t, { tag = OBJ, keys = keys })
end

--- Adds or replaces a key of an ordered object, appending new keys.
function _M.set(o, k, v)
  local mt = getmetatable(o)
  if mt and mt.tag == OBJ and o[k] == nil then
    mt.keys[#mt.keys + 1] = k
  end
  o[k] = v
  return o
end

function _M.arr(t)
  return setmetatable(t or {}, { tag = ARR })
end

--- raw("50.0"): emitted verbatim (money amounts are shown as 50.0 in the docs).
function _M.raw(text)
  return setmetatable({ text = text }, { tag = RAW })
end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function escape_char(c)
  return escapes[c] or format("\\u%04x", byte(c))
end

local function encode_string(s)
  return '"' .. gsub(s, '[%c"\\]', escape_char) .. '"'
end

local encode_value

local function encode_number(n)
  if n ~= n or n == huge or n == -huge then return "null" end
  if floor(n) == n and n > -1e15 and n < 1e15 then return format("%d", n) end
  return format("%.14g", n)
end

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or floor(k) ~= k then return false end
  end
  return true
end

encode_value = function(v, out)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = encode_string(v)
  elseif tv == "number" then
    out[#out + 1] = encode_number(v)
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif tv == "nil" or v == cjson.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    local mt = getmetatable(v)
    local tag = mt and mt.tag
    if mt and mt.__tojson then
      out[#out + 1] = mt.__tojson
    elseif tag == RAW then
      out[#out + 1] = v.text
    elseif tag == ARR or (tag == nil and is_sequence(v)) then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(x, out)
      end
      out[#out + 1] = "]"
    else
      local keys = tag == OBJ and mt.keys
      if not keys then
        keys = {}
        for k in pairs(v) do keys[#keys + 1] = tostring(k) end
        sort(keys)
      end
      out[#out + 1] = "{"
      local first = true
      for _, k in ipairs(keys) do
        local x = v[k]
        if x ~= nil then
          if not first then out[#out + 1] = "," end
          first = false
          out[#out + 1] = encode_string(k)
          out[#out + 1] = ":"
          encode_value(x, out)
        end
      end
      out[#out + 1] = "}"
    end
  else
    error("cannot encode a " .. tv .. " as JSON")
  end
end

function _M.encode(v)
  local out = {}
  encode_value(v, out)
  return concat(out)
end

--- is_null(v): nil, JSON null as decoded by cjson, or json.null.
function _M.is_null(v)
  return v == nil or v == cjson.null or v == _M.null
end

--- decode(text) -> value | nil, err (never raises). JSON null decodes to
-- cjson.null (see is_null).
function _M.decode(text)
  return cjson.decode(text)
end

return _M
