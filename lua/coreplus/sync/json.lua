--- A record as the `data` column holds it: JSON with its keys sorted, so
-- that the same record always gives the same text and an unchanged record
-- is recognised as unchanged (Lua tables have no key order, and the order
-- pairs() gives differs between processes).
--
-- The decoder the client uses cannot tell `[]` from `{}` (both arrive as an
-- empty table); an empty table is written `[]`, because the API's empty
-- containers are lists (lineItems, relatedClients, payments).
-- docs/decisions.md#sync-json.
local cjson = require "cjson"

local type = type
local next = next
local ipairs = ipairs
local tonumber = tonumber
local pairs = pairs
local tostring = tostring
local sort = table.sort
local concat = table.concat
local encode_scalar = cjson.encode
local null = cjson.null
local math_type = math.type
local format = string.format

local _M = {}

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode

-- The shortest text that reads back as the same number.
local function number(v)
  if math_type and math_type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == math.floor(v) and v > -1e15 and v < 1e15 then return format("%.0f", v) end
  for digits = 15, 16 do
    local s = format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end

-- cjson escapes every "/" as "\/" (valid, but noise in a column people
-- read); in its output a backslash before a slash is always that escape.
local function string_text(s)
  return (encode_scalar(s):gsub("\\/", "/"))
end

function encode(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = string_text(v)
  elseif t == "number" then
    out[#out + 1] = number(v)
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
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
        out[#out + 1] = string_text(k)
        out[#out + 1] = ":"
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        encode(x, out)
      end
      out[#out + 1] = "}"
    end
  elseif v == null or v == nil then
    out[#out + 1] = "null"
  else
    error("cannot store a " .. t .. " in a record", 0)
  end
end

--- encode(value) -> JSON text with sorted keys.
function _M.encode(value)
  local out = {}
  encode(value, out)
  return concat(out)
end

return _M
