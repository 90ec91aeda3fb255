-- scripts/require-graph.lua, the lint step that keeps calls going downward:
-- it finds require cycles and upward requires in a tree, ignores requires
-- in comments and strings, and fails (exit 1) when it finds either.
local F = dofile("spec/support/files.lua")

local function tree(files)
  local dir = F.tmpdir()
  for path, text in pairs(files) do
    F.sh("mkdir -p " .. F.q((dir .. "/" .. path):match("^(.*)/[^/]*$")))
    F.write(dir .. "/" .. path, text)
  end
  return dir
end

local function run(dir)
  local out = F.capture("lua5.4 scripts/require-graph.lua " .. F.q(dir) .. " 2>&1; echo \"exit=$?\"")
  F.sh("rm -rf " .. F.q(dir))
  return out
end

describe("scripts/require-graph.lua", function()
  it("passes a tree whose requires go down the floors", function()
    local out = run(tree{
      ["coreplus/client.lua"] = 'local e = require "coreplus.engine"\n',
      ["coreplus/engine.lua"] = 'local errors = require("coreplus.errors")\n',
      ["coreplus/errors.lua"] = "return {}\n",
    })
    assert.matches("ok 1 %- no require cycle", out)
    assert.matches("ok 2 %- no upward require", out)
    assert.matches("exit=0", out)
  end)

  it("fails on a cycle, naming its modules, even through a require inside a function", function()
    local out = run(tree{
      ["coreplus/pager.lua"] = 'local r = require "coreplus.resource"\n',
      ["coreplus/resource.lua"] = 'local function f() return require("coreplus.pager") end\nreturn f\n',
    })
    assert.matches("not ok 1 %- no require cycle", out)
    assert.matches("cycle: coreplus.pager <%-> coreplus.resource", out)
    assert.matches("exit=1", out)
  end)

  it("fails on an upward require (a floor below requiring one above)", function()
    local out = run(tree{
      ["coreplus/transport/ngx.lua"] = 'local engine = require "coreplus.engine"\n',
      ["coreplus/engine.lua"] = "return {}\n",
    })
    assert.matches("ok 1 %- no require cycle", out)
    assert.matches("not ok 2 %- no upward require", out)
    assert.matches("upward: coreplus.transport.ngx %-> coreplus.engine", out)
    assert.matches("exit=1", out)
  end)

  it("does not count requires in comments or strings", function()
    local out = run(tree{
      ["coreplus/engine.lua"] = '-- local c = require "coreplus.client"\n--[[ require("coreplus.client") ]]\n'
        .. 'local s = "require(\'coreplus.client\')"\nlocal l = [[require "coreplus.client"]]\nreturn s, l\n',
      ["coreplus/client.lua"] = 'return require "coreplus.engine"\n',
    })
    assert.matches("exit=0", out)
  end)

  it("names a module no floor covers, without failing for it", function()
    local out = run(tree{ ["coreplus/newthing.lua"] = 'return require "coreplus.errors"\n',
      ["coreplus/errors.lua"] = "return {}\n" })
    assert.matches("unplaced .-: coreplus.newthing", out)
    assert.matches("exit=0", out)
  end)
end)
