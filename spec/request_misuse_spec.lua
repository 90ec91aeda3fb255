-- Misuse of a request's options is raised at the caller's line (issue 26
-- item 7): the transports raise on a bad header or multipart part before
-- sending, and the engine raises that again where the caller is, not at its
-- own call of the transport. A version that would climb out of /API/Core/
-- is refused, for the client and for one request.
local coreplus = require "coreplus"
local S = dofile("spec/support/stub_client.lua")

local HERE = debug.getinfo(1, "S").short_src

local function client(transport)
  local o = { base_url = "http://127.0.0.1:9", allow_http = true, user_agent = "spec/1.0",
    issuer = "https://spec.example", shared_limit = false,
    retries = 0, timeout = 1, transport = transport }
  for k, v in pairs(S.CREDS) do o[k] = v end
  return coreplus.new(o)
end

-- The error of fn(), which must raise (fn must not end in a tail call: its
-- line would be gone from the stack).
local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "no error")
  return tostring(err)
end

describe("misuse of a request's options", function()
  local cases = {
    { "a header name with a space", { headers = { ["a b"] = "x" } }, "bad field 'headers'" },
    { "a header value with CR LF", { headers = { X = "a\r\nb" } }, "bad field 'headers'" },
    { "headers that are not a table", { headers = 5 }, "bad field 'headers'" },
    { "multipart that is not a list", { multipart = 5 }, "bad field 'multipart'" },
  }
  for _, c in ipairs(cases) do
    it("is raised at the caller's line on the C core: " .. c[1], function()
      local cp = client()
      local line = debug.getinfo(1, "l").currentline + 1
      local err = raised(function() local r = cp:request("POST", "File/", c[2]); return r end)
      assert.truthy(err:find(HERE .. ":" .. line .. ": ", 1, true), err)
      assert.truthy(err:find(c[3], 1, true), err)
      assert.is_nil(err:find("coreplus/engine", 1, true), err)
    end)
  end

  it("passes an error that is not a message on as it is", function()
    local stub = S.new_stub()
    local boom = setmetatable({}, { __tostring = function() return "boom" end })
    stub:on("GET", "Client/", function() error(boom) end)
    local ok, err = pcall(function() return S.client(stub):request("GET", "Client/") end)
    assert.is_false(ok)
    assert.are.equal(boom, err)
  end)
end)

describe("an API version", function()
  for _, v in ipairs{ "..", ".", "../v2", "v2/..", "", "v2.1/x" } do
    it("that is not one path segment (" .. ("%q"):format(v) .. ") is refused", function()
      local o = { base_url = "https://coreplus.test", version = v }
      for k, x in pairs(S.CREDS) do o[k] = x end
      local err = raised(function() return coreplus.new(o) end)
      assert.truthy(err:find("option 'version'", 1, true), err)
      local stub = S.new_stub()
      err = raised(function() return S.client(stub):request("GET", "Client/", { version = v }) end)
      assert.truthy(err:find("bad version", 1, true), err)
      assert.are.equal(0, stub:calls())
    end)
  end

  it("such as v2, v2.1 or v3-beta is taken", function()
    for _, v in ipairs{ "v2", "v2.1", "v3-beta" } do
      local stub = S.new_stub()
      stub:on("GET", "Client/", { body = {} })
      assert.truthy(S.client(stub, { version = v }):request("GET", "Client/"))
      assert.truthy(stub.requests[1].url:find("/API/Core/" .. v .. "/Client/", 1, true))
    end
  end)
end)
