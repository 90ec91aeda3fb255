-- core.json_decode (libyajl): the values lua-cjson builds, integers kept as
-- integers under Lua 5.4. lua-cjson is the independent check.
local core = require "coreplus.core"
local cjson = require "cjson"

local decode = core.json_decode
local HAS_INTEGERS = math.type ~= nil

-- Equal as Lua values, numbers compared by value (cjson's are floats).
local function same(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. " missing" end
  end
  return true
end

local DOCUMENTS = {
  '{"clients":[{"clientId":"a","n":1},{"clientId":"b","n":2,"extra":[1,2,3]}],"paging":{"totalRows":2}}',
  '[1, -0, 2.5, -3e2, 1E-3, 0.1, 123456789012]',
  '{"a":null,"b":true,"c":false,"d":"","e":{},"f":[]}',
  '"just a string"',
  '42',
  '{"esc":"tab\\t nl\\n quote\\" slash\\/ back\\\\ \\u00e9 \\ud83d\\ude00"}',
  '{"dup":1,"dup":2}',
  '  \n\t[ { "spaced" : [ 1 , { } , [ ] ] } ]  \n',
  -- rows of different shapes at one depth: each table still gets all its keys
  '[{"a":1,"b":2,"c":3,"d":4,"e":5},{"a":1},{},{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7}]',
  '[[1,2,3,4,5,6,7,8],[1],[],[1,2,3,4,5,6,7,8,9,10]]',
}

describe("core.json_decode", function()
  it("builds the same values as cjson.decode", function()
    for _, text in ipairs(DOCUMENTS) do
      local ok, why = same(decode(text), cjson.decode(text))
      assert.is_true(ok, text .. ": " .. tostring(why))
    end
  end)

  it("keeps integers as integers and the rest as floats (Lua 5.4)", function()
    if not HAS_INTEGERS then return pending("LuaJIT has no integer subtype: json_decode gives floats there") end
    local v = decode('{"id":60,"neg":-7,"big":9223372036854775807,"f":2.5,"e":1e2,"z":0.0,'
      .. '"over":9223372036854775808}')
    assert.equal("integer", math.type(v.id))
    assert.equal("integer", math.type(v.neg))
    assert.equal("integer", math.type(v.big))
    assert.equal(math.maxinteger, v.big)
    assert.equal("float", math.type(v.f))
    assert.equal("float", math.type(v.e))
    assert.equal("float", math.type(v.z))
    -- past the integers: a float, as Lua reads the literal
    assert.equal("float", math.type(v.over))
    assert.equal(2^63, v.over)
    assert.equal("60", tostring(v.id))
  end)

  it("reads a number longer than its buffer", function()
    local long = "0." .. ("1"):rep(100)
    assert.equal(tonumber(long), decode("[" .. long .. "]")[1])
  end)

  it("decodes null as cjson.null", function()
    local v = decode('{"a":null,"list":[null]}')
    assert.equal(cjson.null, v.a)
    assert.equal(cjson.null, v.list[1])
  end)

  it("returns nil and a message naming the byte for malformed text", function()
    for _, text in ipairs{ "", "[", "{", '{"a":}', "[1,]", '{"a" 1}', "tru", "[1] x", "{'a':1}",
      "[01]", "[1.]", "[NaN]", '"unterminated', "/* c */ 1" } do
      local v, err = decode(text)
      assert.is_nil(v, text)
      assert.is_string(err)
      assert.truthy(err:match("^invalid JSON at byte %d+: %S"), err)
    end
    -- (where yajl's lexer stopped: after the value, within the text)
    local text = '{"a":1} trailing'
    local _, err = decode(text)
    local at = tonumber(err:match("at byte (%d+)"))
    assert.is_true(at >= 7 and at <= #text, err)
  end)

  it("never puts the text into its message", function()
    local _, err = decode('{"secret":"hunter2", oops}')
    assert.falsy(err:find("hunter2", 1, true), err)
  end)

  it("refuses nesting deeper than 1000 (cjson's limit), and takes 1000", function()
    local v, err = decode(("["):rep(1001) .. ("]"):rep(1001))
    assert.is_nil(v)
    assert.truthy(err:find("nested", 1, true), err)
    assert.is_table(decode(("["):rep(1000) .. ("]"):rep(1000)))
    assert.is_table(decode(('{"a":'):rep(1000) .. "1" .. ("}"):rep(1000)))
  end)

  it("passes bytes through as cjson does (no UTF-8 check)", function()
    local text = '["\255\254 latin-1 \233"]'
    assert.equal(cjson.decode(text)[1], decode(text)[1])
  end)

  it("raises, naming the argument, for a non-string", function()
    assert.has_error(function() decode(nil) end)
    assert.has_error(function() decode({}) end)
    local ok, err = pcall(decode, {})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("bad argument #1", 1, true), err)
  end)

  it("decodes many documents in a row without leaking into the next", function()
    for i = 1, 200 do
      local rows = (('{"k":1},'):rep(i % 7):gsub(",$", ""))
      local v = decode(('{"i":%d,"rows":[%s]}'):format(i, rows))
      assert.equal(i, v.i)
      assert.equal(i % 7, #v.rows)
    end
  end)
end)
