-- fuzz target: the query builder (lua/coreplus/url.lua).
-- The input is cut at NUL bytes into key, value, key, value...; the first
-- byte of a value picks its type (string, integer, float, boolean, list of
-- strings, list of numbers, empty list). url.query must then produce only
-- RFC 3986 unreserved bytes, %XX (upper-case hex), '&' and '='; parsed back,
-- it must give exactly the expected key=value pairs in order (keys sorted,
-- list items in list order, integers as integers, floats that read back
-- equal, NaN/inf refused naming the key). url.segment gets the same fields
-- as ids: escaped output, never "/", "?", "#" or a dot segment.
local url = require "coreplus.url"

local unpack, tointeger, sort = string.unpack, math.tointeger, table.sort

local function fail(fmt, ...)
  error("FUZZ: " .. fmt:format(...), 2)
end

local function num(body, fmt, size)
  body = (body .. ("\0"):rep(size)):sub(1, size)
  return (unpack(fmt, body))
end

local function value_from(v)
  local sel, body = v:byte(1) or 0, v:sub(2)
  local kind = sel % 8
  if kind <= 1 then return body
  elseif kind == 2 then return num(body, "<i8", 8)
  elseif kind == 3 then return num(body, "<d", 8)
  elseif kind == 4 then return sel >= 128
  elseif kind == 5 then
    local list = {}
    for s in (body .. "\1"):gmatch("([^\1]*)\1") do list[#list + 1] = s end
    return list
  elseif kind == 6 then
    local list = {}
    for i = 1, #body - 7, 8 do
      local s = body:sub(i, i + 7)
      list[#list + 1] = (i // 8) % 2 == 0 and num(s, "<i8", 8) or num(s, "<d", 8)
    end
    return list
  end
  return {}
end

local function is_bad_number(x)
  return type(x) == "number" and (x ~= x or x == math.huge or x == -math.huge)
end

-- The text a scalar must read back as; nil when any text that reads back
-- equal is fine (non-integral floats).
local function expect_text(x)
  if type(x) == "string" then return x end
  if type(x) == "boolean" then return tostring(x) end
  local i = tointeger(x)
  if i then return ("%d"):format(i) end
  return nil
end

local function check_scalar(key, x, got)
  local want = expect_text(x)
  if want then
    if got ~= want then fail("key %q: got %q, want %q", key, got, want) end
  else
    if tonumber(got) ~= x then fail("key %q: %q does not read back as %.17g", key, got, x) end
    if not got:find("[.eEn]") then fail("key %q: float %q written as an integer", key, got) end
  end
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function check_segment(id)
  local ok, seg = pcall(url.segment, id, "fuzz_id")
  if not ok then
    if not tostring(seg):find("'fuzz_id'", 1, true) then
      fail("segment error does not name the argument: %s", tostring(seg))
    end
    if not (id == "" or id == "." or id == ".." or #id > 200) then fail("segment refused %q: %s", id, tostring(seg)) end
    return
  end
  if seg:find("[^A-Za-z0-9%-._~%%]") then fail("segment %q has a reserved byte", seg) end
  if seg == "." or seg == ".." then fail("dot segment %q", seg) end
  if unescape(seg) ~= id then fail("segment %q does not decode to the id", seg) end
end

return function(data)
  local fields = {}
  for f in (data .. "\0"):gmatch("([^%z]*)%z") do fields[#fields + 1] = f end
  check_segment(fields[1])

  local params, bad_key = {}, nil
  for i = 1, #fields - 1, 2 do
    params[fields[i]] = value_from(fields[i + 1])
  end

  -- What must come out: keys sorted, lists expanded in order.
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  sort(keys)
  local want = {}
  for _, k in ipairs(keys) do
    local v = params[k]
    local items = type(v) == "table" and v or { v }
    for _, x in ipairs(items) do
      if is_bad_number(x) then bad_key = bad_key or k end
      want[#want + 1] = { k, x }
    end
  end

  local ok, q = pcall(url.query, params)
  if bad_key then
    if ok then fail("a non-finite number was accepted: %q", q) end
    if not tostring(q):find("bad query parameter '", 1, true) then
      fail("error does not name the parameter: %s", tostring(q))
    end
    return
  end
  if not ok then fail("url.query raised: %s", tostring(q)) end
  if type(q) ~= "string" then fail("url.query returned a %s", type(q)) end

  local stripped = q:gsub("%%%x%x", "")
  if stripped:find("[^A-Za-z0-9%-._~&=]") then fail("byte outside the allowed set in %q", q) end
  if q:find("%%%x?[a-f]") then fail("lower-case %%XX in %q", q) end
  if q:find("%%[^%x]") or q:find("%%%x[^%x]") or q:find("%%%x?$") then fail("broken %%XX in %q", q) end

  local got = {}
  if q ~= "" then
    for part in (q .. "&"):gmatch("([^&]*)&") do
      local k, v = part:match("^([^=]*)=([^=]*)$")
      if not k then fail("part %q is not key=value", part) end
      got[#got + 1] = { unescape(k), unescape(v) }
    end
  end
  if #got ~= #want then fail("%d pairs out, %d expected: %q", #got, #want, q) end
  for i = 1, #want do
    if got[i][1] ~= want[i][1] then fail("pair %d key %q, expected %q", i, got[i][1], want[i][1]) end
    check_scalar(want[i][1], want[i][2], got[i][2])
  end
end
