-- Misuse raises at the caller's line, however deep in lua/coreplus/ the check
-- sits (as luaL_argerror does for C functions).
local coreplus = require "coreplus"
local stub_mod = require "coreplus.testing.stub"

local THIS = "misuse_spec.lua"

local function client()
  return coreplus.new{ base_url = "https://coreplus.test", consumer_id = "c", consumer_secret = "s",
    access_token = "t", transport = stub_mod.new{} }
end

-- (The calls below are never tail calls: a tail call leaves no frame to name.)
-- The message of fn's error, and the line it names in this file (or nil).
local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  local line = tostring(err):match(THIS .. ":(%d+):")
  return tostring(err), tonumber(line)
end

describe("misuse errors", function()
  it("name the caller's line for an unknown option of coreplus.new, called inside a function", function()
    local function make() local x = coreplus.new{ bogus = 1 }; return x end
    local line = debug.getinfo(1, "l").currentline - 1
    local msg, at = raised(make)
    assert.matches("coreplus.new: unknown option 'bogus'", msg, 1, true)
    assert.equal(line, at)
  end)

  it("name the caller's line for a missing required option", function()
    local msg, at = raised(function() local r = coreplus.new{ base_url = "https://x.test" }; return r end)
    assert.matches("option 'consumer_id' is required", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for create with a number instead of fields", function()
    local cp = client()
    local msg, at = raised(function() local r = cp.clients:create(42); return r end)
    assert.matches("table of fields expected", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for cp:request with a function body", function()
    local cp = client()
    local msg, at = raised(function() local r = cp:request("POST", "Client/", { body = print }); return r end)
    assert.matches("bad argument 'body'", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for cp:request with an option it does not know (a misspelt query)", function()
    local cp = client()
    local msg, at = raised(function() local r = cp:request("GET", "Client/", { querry = { name = "x" } }); return r end)
    assert.matches("bad argument #3 to 'request' (unknown option 'querry'", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for a bad query parameter of list", function()
    local cp = client()
    local msg, at = raised(function() local r = cp.clients:list{ pageNumber = 1, x = print }; return r end)
    assert.matches("bad query parameter 'x'", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for a bad id of get", function()
    local cp = client()
    local msg, at = raised(function() local r = cp.clients:get(".."); return r end)
    assert.matches("bad argument 'id'", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for an operation the resource lacks", function()
    local cp = client()
    local msg, at = raised(function() local r = cp.locations:create{}; return r end)
    assert.matches("locations has no operation 'create'", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("name the caller's line for a missing required parameter of an iterator", function()
    local cp = client()
    local msg, at = raised(function() for _ in cp.appointments:each{} do end end)
    assert.matches("missing required parameter 'startDate'", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)

  it("from_env without its variables inside nginx names the env directive it needs", function()
    local outside = select(2, pcall(coreplus.from_env, nil, function() return nil end))
    assert.is_nil(tostring(outside):find("env COREPLUS", 1, true))
    rawset(_G, "ngx", {})   -- as inside nginx: the only sign from_env reads
    local ok, err = pcall(coreplus.from_env, nil, function() return nil end)
    rawset(_G, "ngx", nil)
    assert.is_false(ok)
    assert.matches("env COREPLUS_BASE_URL;", tostring(err), 1, true)
  end)

  it("name the caller's line for from_env without its variables", function()
    local msg, at = raised(function() local r = coreplus.from_env(nil, function() return nil end); return r end)
    assert.matches("COREPLUS_BASE_URL is not set", msg, 1, true)
    assert.equal(debug.getinfo(1, "l").currentline - 2, at)
  end)
end)
