--- Helpers for your own test suites: `require "coreplus.testing"`.
--
-- Two ways to test code that uses coreplus, neither touching the real API:
--
--  - the stub transport (`coreplus.testing.stub`): no network, no server;
--   answers what you register, records every request and checks each one
--   as coreplus would. For unit tests.
--  - the mock server (`coreplus.testing.launcher`): a faithful fake coreplus
--   over HTTPS on 127.0.0.1 (nginx with Lua). For integration tests.
--
-- Loading `coreplus.testing.busted` as well adds `assert.coreplus_requested`.
--
--     local testing = require "coreplus.testing"
--     local stub = testing.stub{ consumer_secret = "s" }
--     local mock = testing.server{ seed = 1 }
--
-- Setting `testing.nginx = "/opt/openresty/bin/openresty"` chooses the nginx
-- the mock runs (`coreplus.testing.nginx` says how one is found otherwise).
-- The mock's request handlers (`coreplus.testing.mock.*`) run only inside
-- the mock's nginx; nothing here loads them into the caller's process.
-- @module coreplus.testing
local launcher = require "coreplus.testing.launcher"

--- Makes a stub transport (`coreplus.testing.stub`, loaded only when used).
-- @function stub
-- @tparam[opt] table opts the stub's options (`coreplus.testing.stub.new`)
-- @return a stub
-- @usage local cp = coreplus.new{ ..., transport = testing.stub{ consumer_secret = "s" } }

--- Starts a mock server: `coreplus.testing.launcher.server`.
-- @function server
-- @tparam[opt] table opts the mock's options
-- @return a running mock

--- A free TCP port on 127.0.0.1: `coreplus.testing.launcher.free_port`.
-- @function free_port
-- @treturn integer

--- Stops a mock by pid and prefix (`coreplus-mock stop` uses it):
-- `coreplus.testing.launcher.stop_instance`.
-- @function stop_instance
-- @tparam table o `{pid =, prefix =}`

--- A test CA and server certificate: `coreplus.testing.launcher.make_certs`.
-- @function make_certs
-- @tparam string dir
-- @tparam[opt] string variant

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
