-- fuzz target: core.json_decode (libyajl building Lua values) over arbitrary
-- bytes. It must never raise for a string; it returns a value, or nil and
-- "invalid JSON at byte N: ..." with N within the text and no piece of the
-- text in the message. lua-cjson is the oracle: when both accept the text,
-- the values must be equal (numbers by value; an integer past 2^53 equals
-- the float cjson reads).
local core = require "coreplus.core"
local cjson = require("cjson").new()

local function fail(fmt, ...)
  error("FUZZ: " .. fmt:format(...), 2)
end

local function same(a, b, depth)
  if depth > 1100 then fail("deeper than the limit") end
  if type(a) == "number" and type(b) == "number" then
    return a == b or (a ~= a and b ~= b) or (math.type(a) == "integer" and a + 0.0 == b)
  end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

return function(data)
  local ok, v, err = pcall(core.json_decode, data)
  if not ok then fail("raised: %s", tostring(v)) end
  if v == nil then
    if type(err) ~= "string" then fail("refused without a message") end
    local at = err:match("^invalid JSON at byte (%d+): .+$")
    if not at then fail("message %q has the wrong form", err) end
    if tonumber(at) > #data then fail("byte %s is past the text's %d", at, #data) end
    -- (yajl's fixed messages hold no double quote: a text with one that
    -- shows up in the message was echoed)
    if #data >= 8 and data:find('"', 1, true) and err:find(data, 1, true) then
      fail("message shows the text")
    end
    return
  end
  -- cjson reads hex, nan and inf as numbers; yajl (and JSON) do not, so
  -- only texts both accept are compared.
  local cok, cv = pcall(cjson.decode, data)
  if cok and not data:find("\\u", 1, true) and not same(v, cv, 0) then
    fail("differs from cjson for %q", data:sub(1, 200))
  end
end
