--- Error objects: what went wrong (`kind`), what the server said (`reasons`)
-- and what to do about it (`hint`). `tostring(err)` is one readable line.
local setmetatable = setmetatable
local concat = table.concat
local type = type
local tostring = tostring

local _M = {}

local mt = {}
mt.__index = mt

function mt.__tostring(e)
  local parts = { "coreplus: " .. tostring(e.kind) }
  if e.status then parts[#parts + 1] = "(HTTP " .. tostring(e.status) .. ")" end
  if e.method and e.url then parts[#parts + 1] = e.method .. " " .. e.url end
  local text = parts[1] .. (parts[2] and (" " .. parts[2]) or "") .. (parts[3] and (" " .. parts[3]) or "")
  if e.message then text = text .. ": " .. tostring(e.message) end
  if type(e.reasons) == "table" and #e.reasons > 0 then
    local r = {}
    for i = 1, #e.reasons do r[i] = tostring(e.reasons[i]) end
    text = text .. " [" .. concat(r, "; ") .. "]"
  end
  if e.hint then text = text .. " -- hint: " .. tostring(e.hint) end
  return (text:gsub("[\r\n]+", " "))
end

--- Makes an error object from a table of fields (kind is required).
function _M.new(fields)
  return setmetatable(fields, mt)
end

function _M.is_error(v)
  return type(v) == "table" and getmetatable(v) == mt
end

_M.metatable = mt

return _M
