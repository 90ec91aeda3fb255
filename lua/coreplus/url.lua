--- URL building: one deterministic string per request, because the same bytes
-- are signed (the `url` claim) and sent.
local raise = require("coreplus.misuse").raise
local number_json = require("coreplus.json").number

local type, tostring, pairs = type, tostring, pairs
local sort, concat, format = table.sort, table.concat, string.format

local _M = {}

-- RFC 3986 unreserved characters stay; everything else is %XX (upper case).
local RESERVED = "[^A-Za-z0-9%-%._~]"
local function escape(s)
  if not s:find(RESERVED) then return s end   -- the usual case: nothing to do
  return (s:gsub(RESERVED, function(c)
    return format("%%%02X", c:byte())
  end))
end
_M.escape = escape

-- Integers are sent as integers ("2", never "2.0"); other numbers in the
-- shortest form that reads back the same (coreplus.json's number text).
local function number_text(n)
  if n ~= n or n == math.huge or n == -math.huge then
    return nil, "not a finite number"
  end
  return number_json(n)
end

local function value_text(key, v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    local s, err = number_text(v)
    if not s then raise("bad query parameter '%s' (%s)", key, err) end
    return s
  end
  if t == "boolean" then return tostring(v) end
  raise("bad query parameter '%s' (string, number or boolean expected, got %s)", key, t)
end

--- Encodes a query table: keys sorted, list values as repeated keys in list
-- order, nil/false-free. Returns "" for an empty table.
function _M.query(params)
  if params == nil then return "" end
  if type(params) ~= "table" then
    raise("%s", "bad argument 'query' (table expected, got " .. type(params) .. ")")
  end
  local keys = {}
  for k in pairs(params) do
    if type(k) ~= "string" then
      raise("%s", "bad query parameter name (string expected, got " .. type(k) .. ")")
    end
    keys[#keys + 1] = k
  end
  sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = params[k]
    if type(v) == "table" then
      for i = 1, #v do
        parts[#parts + 1] = escape(k) .. "=" .. escape(value_text(k, v[i]))
      end
    else
      parts[#parts + 1] = escape(k) .. "=" .. escape(value_text(k, v))
    end
  end
  return concat(parts, "&")
end

--- Escapes one path segment (an id): "/", "?", "#", ".." and spaces can never
-- change which resource is addressed.
function _M.segment(id, name)
  local t = type(id)
  if t == "number" then
    local err
    id, err = number_text(id)
    if not id then raise("bad argument '%s' (%s)", name or "id", err) end
  elseif t ~= "string" then
    raise("bad argument '%s' (string id expected, got %s)", name or "id", t)
  end
  if id == "" or id == "." or id == ".." then
    raise("bad argument '%s' (a non-empty id other than '.' or '..' expected)", name or "id")
  end
  if #id > 200 then
    raise("bad argument '%s' (id longer than 200 bytes)", name or "id")
  end
  return escape(id)
end

--- Whether `version` can stand in the path as one segment of its own
-- (`v2.1`): letters, digits, '.', '_' and '-', starting with a letter or
-- digit, never `..` (which would climb out of /API/Core/).
function _M.version_ok(version)
  return type(version) == "string" and version:match("^%w[%w._-]*$") ~= nil and not version:find("..", 1, true)
end

--- The API's base for a version: <base_url>/API/Core/<version>/ (the one
-- spelling, see docs/decisions.md#url-spelling). base_url has no trailing slash.
function _M.api_base(base_url, version)
  if not _M.version_ok(version) then
    raise("bad version %s (one path segment such as \"v2.1\" expected)", format("%q", tostring(version)))
  end
  return base_url .. "/API/Core/" .. version .. "/"
end

--- base .. path .. "?" .. query, where base ends with "/".
function _M.build(base, path, params)
  local q = _M.query(params)
  if q == "" then return base .. path end
  return base .. path .. "?" .. q
end

return _M
