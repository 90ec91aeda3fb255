-- A client on the stub transport, for specs without network:
--   local S = dofile("spec/support/stub_client.lua")
--   local stub = S.new_stub([stub options])   local cp = S.client(stub, [client options])
-- Both use the same credentials (S.CREDS), so the stub's checks pass; the
-- client's jitter is fixed at 0.5 so waits are predictable.
local coreplus = require "coreplus"
local stub_mod = require "coreplus.testing.stub"

local _M = {}

_M.CREDS = { consumer_id = "cid-1", consumer_secret = "secret-1", access_token = "tok-1" }

function _M.new_stub(extra)
  local o = {}
  for k, v in pairs(_M.CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return stub_mod.new(o)
end

function _M.client(stub, extra)
  local o = { base_url = "https://coreplus.test", transport = stub, random = function() return 0.5 end }
  for k, v in pairs(_M.CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return coreplus.new(o)
end

return _M
