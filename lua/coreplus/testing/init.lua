--- Helpers for users' test suites: `require "coreplus.testing"`.
--
--   testing.server{...}  the mock coreplus server (nginx + Lua on 127.0.0.1);
--                        see coreplus.testing.launcher
--   testing.stub{...}    a transport without network that checks requests as
--                        coreplus would; see coreplus.testing.stub
--   testing.free_port()  a free TCP port on 127.0.0.1
--
-- The mock's request handlers (coreplus.testing.mock.*) run only inside the
-- mock's nginx; nothing here loads them into the caller's process.
local launcher = require "coreplus.testing.launcher"

--- The stub transport (coreplus.testing.stub), loaded only when used.
local function stub(...)
  return require("coreplus.testing.stub").new(...)
end

local _M = {
  stub = stub,
  _VERSION = launcher._VERSION,
  server = launcher.server,
  free_port = launcher.free_port,
  stop_instance = launcher.stop_instance,
  make_certs = launcher.make_certs,
}

-- Launcher settings (such as `nginx`) are read from the launcher itself, so
-- setting them here must reach it.
setmetatable(_M, { __index = launcher, __newindex = launcher })

return _M
