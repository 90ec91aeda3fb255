--- What the API's callers change while the server lives (bookings, new
-- clients, appointment types, family members, payments), kept in a shared
-- dict so every worker sees the same state. Values are JSON; ids created
-- through the API are numbered keys (new:<kind>:<n>) in creation order.
local json = require "coreplus.testing.mock.json"

local ngx = ngx
local type, tostring = type, tostring
local random, format = math.random, string.format

local _M = {}

local function dict() return ngx.shared.mock_data end

function _M.get(kind, id)
  if type(id) ~= "string" then return nil end
  local v = dict():get(kind .. ":" .. id:lower())
  return v and json.decode(v) or nil
end

--- put(kind, id, record, new): stores a record; `new` also appends its id
-- to the kind's creation list.
function _M.put(kind, id, record, new)
  local ok, err = dict():set(kind .. ":" .. id:lower(), json.encode(record))
  if not ok then error("mock store full: " .. tostring(err)) end
  if new then
    local n = dict():incr("n:" .. kind, 1, 0)
    dict():set("new:" .. kind .. ":" .. n, id)
  end
end

--- ids(kind) -> list of the ids created through the API, oldest first.
function _M.ids(kind)
  local d, out = dict(), {}
  for i = 1, d:get("n:" .. kind) or 0 do out[#out + 1] = d:get("new:" .. kind .. ":" .. i) end
  return out
end

function _M.count(kind)
  return dict():get("n:" .. kind) or 0
end

--- A random-looking GUID for a new record: random per server instance
-- (new records are not fixtures, so they need not be reproducible).
function _M.new_id()
  local n = dict():incr("seq", 1, 0)
  local r = function() return random(0, 0xffff) end
  return format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(), r(), n % 0x10000,
    r() % 4096, 0x8000 + r() % 0x4000, r(), r(), n % 0x10000)
end

function _M.flush()
  dict():flush_all()
  dict():flush_expired()
end

return _M
