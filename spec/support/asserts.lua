-- A busted helper (scripts/run-tests passes it with --helper): an `it` that
-- ends without having checked anything fails, saying so. An `it` that cannot
-- run says pending(reason) instead (docs/decisions.md#specs-that-check).
--
-- What counts as a check: any luassert assertion (assert.equals, has_error,
-- spy's was.called, ...) and a plain assert(v) (it fails on nil/false). The
-- count is per `it`, so a check made in a setup or a helper's setup does
-- not count for the its after it.
local busted = require "busted"
local luassert = require "luassert"
local namespaces = require "luassert.namespaces"

local checks = 0

-- Every assertion, registered now or later, counts when it is called.
local function counted(entry)
  if type(entry) ~= "table" or entry.counted then return entry end
  local callback = entry.callback
  entry.callback = function(...)
    checks = checks + 1
    return callback(...)
  end
  entry.counted = true
  return entry
end

namespaces.assertion = namespaces.assertion or {}
for name, entry in pairs(namespaces.assertion) do namespaces.assertion[name] = counted(entry) end
setmetatable(namespaces.assertion, {
  __newindex = function(t, name, entry) rawset(t, name, counted(entry)) end,
})

-- assert(v, ...) itself.
local mt = getmetatable(luassert)
local call = mt.__call
mt.__call = function(...)
  checks = checks + 1
  return call(...)
end

busted.subscribe({ "test", "start" }, function(element)
  checks = 0
  local run = element.run
  if type(run) ~= "function" or element.asserts_wrapped then return nil, true end
  element.asserts_wrapped = true
  element.run = function(...)
    run(...)
    if checks == 0 then
      busted.fail("this it checked nothing: assert what it shows, or say pending(reason)", 0)
    end
  end
  return nil, true
end)

return true
