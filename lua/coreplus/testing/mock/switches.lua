--- Switches that make the mock behave like a server that differs from the
-- docs in ways a client must survive (issue 27):
--
--   ignore_filters  true: the query filters the docs do not document
--                   (resources.lua names them per operation) are ignored,
--                   and every row comes back, as such a server would
--   v2_only         resources (path names, any case: "Location") answered
--                   only under v2: under any other version they are a
--                   route-not-found 404
--   jitter          seconds: each API request waits a random time in
--                   [0, jitter) before the rate limit counts it (the network
--                   and the server's front between the client and the count)
--
-- Their values at start come from the launcher's options; POST
-- /__mock/switches changes them while the server runs (every worker sees
-- the change), and POST /__mock/reset returns them to the start values.
local json = require "coreplus.testing.mock.json"

local ngx = ngx
local type, tonumber, tostring, ipairs, pairs = type, tonumber, tostring, ipairs, pairs
local lower = string.lower

local _M = {}

local KEY = "switches"   -- in mock_data: the overrides, as JSON
local start = { ignore_filters = false, v2_only = {}, jitter = 0 }

-- A list of resource names -> a set of lower-case names, or nil, why.
local function name_set(v)
  if v == nil or json.is_null(v) then return {} end
  if type(v) == "string" then v = { v } end
  if type(v) ~= "table" then return nil, "v2_only must be a list of resource names" end
  local set = {}
  for _, name in ipairs(v) do
    if type(name) ~= "string" or not name:match("^%a+/?$") then
      return nil, "v2_only: not a resource name: " .. tostring(name)
    end
    set[lower((name:gsub("/$", "")))] = true
  end
  return set
end

-- conf -> the switches it sets ({name = value} for those present), or nil, why.
local function checked(conf)
  local out = {}
  for k in pairs(conf) do
    if start[k] == nil then return nil, "unknown switch " .. tostring(k) end
  end
  if conf.ignore_filters ~= nil then
    if type(conf.ignore_filters) ~= "boolean" then return nil, "ignore_filters must be true or false" end
    out.ignore_filters = conf.ignore_filters
  end
  if conf.v2_only ~= nil then
    local set, why = name_set(conf.v2_only)
    if not set then return nil, why end
    out.v2_only = set
  end
  if conf.jitter ~= nil then
    local j = tonumber(conf.jitter)
    if not j or j < 0 or j > 60 then return nil, "jitter must be seconds from 0 to 60" end
    out.jitter = j
  end
  return out
end

--- init(cfg): the launch values (the instance's config); raises on a bad one.
function _M.init(cfg)
  local c, why = checked{ ignore_filters = cfg.ignore_filters, v2_only = cfg.v2_only, jitter = cfg.jitter }
  if not c then error("mock: " .. why, 0) end
  for k, v in pairs(c) do start[k] = v end
end

--- get() -> {ignore_filters =, v2_only = {name = true}, jitter =}: the values now.
function _M.get()
  local text = ngx.shared.mock_data:get(KEY)
  if not text then return start end
  local over = json.decode(text) or {}
  local now = { ignore_filters = start.ignore_filters, v2_only = start.v2_only, jitter = start.jitter }
  for k, v in pairs(over) do now[k] = v end
  return now
end

--- set(conf) for POST /__mock/switches: changes the switches conf names;
-- returns an error string or nil.
function _M.set(conf)
  local c, why = checked(conf)
  if not c then return why end
  local d = ngx.shared.mock_data
  local over = json.decode(d:get(KEY) or "{}") or {}
  for k, v in pairs(c) do over[k] = v end
  d:set(KEY, json.encode(over))
  return nil
end

--- The values now, for GET /__mock/switches (v2_only as a sorted list).
function _M.current()
  local s = _M.get()
  local names = {}
  for name in pairs(s.v2_only) do names[#names + 1] = name end
  table.sort(names)
  return { ignore_filters = s.ignore_filters, v2_only = json.arr(names), jitter = s.jitter }
end

return _M
