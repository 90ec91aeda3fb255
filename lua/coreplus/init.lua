--- lua-coreplus: the coreplus appointment-booking API from Lua.
-- `require "coreplus"` gives this table: the client constructors, the JWT
-- helpers and the C core's functions re-exported.
local core = require "coreplus.core"

local _M = {
  _VERSION = core.version,
  version = core.version,
  core = core,
  jwt = require "coreplus.jwt",
  errors = require "coreplus.errors",
}

-- The C core's functions are reachable as coreplus.<name> too (design §2).
for name, fn in pairs(core) do
  if _M[name] == nil then _M[name] = fn end
end

return _M
