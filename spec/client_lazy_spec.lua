-- A client makes its resources on first use (a process with a client per
-- practice pays only for what it uses), and keeps them.
local coreplus = require "coreplus"
local catalogue = require "coreplus.catalogue"

local function client()
  return coreplus.new{ base_url = "https://127.0.0.1:1", consumer_id = "c", consumer_secret = "s",
    access_token = "t", user_agent = "spec/1.0", issuer = "https://spec.example", shared_limit = false }
end

describe("client resources", function()
  it("are made on first use, one per catalogue row, and kept", function()
    local cp = client()
    for name in pairs(catalogue) do
      assert.is_nil(rawget(cp, name), name)
      local r = cp[name]
      assert.is_table(r, name)
      assert.equal(r, cp[name])
      assert.equal(r, rawget(cp, name))
    end
    assert.is_nil(cp.no_such_resource)
  end)

  it("work the same when first reached through a method", function()
    local cp = client()
    assert.is_function(cp.clients.list)
    assert.is_function(cp.request)
  end)

  it("cost a client little until used", function()
    collectgarbage(); collectgarbage()
    local before = collectgarbage("count")
    local keep = {}
    for i = 1, 200 do keep[i] = client() end
    collectgarbage(); collectgarbage()
    -- (Lua heap only; the measured figure is in bench/RESULTS.md)
    assert.is_true((collectgarbage("count") - before) / #keep < 8)
  end)
end)
