--- The token of one attempt, for the transports that sign in Lua (ngx), the
-- stub (which signs as the C core does, then verifies as coreplus would) and
-- the CLI: the one place that builds `core.sign`'s table from a request as a
-- transport receives it. The C token builder (src/jwt.c) fills what is left
-- out (issuer, audience, the 60 s lifetime), so nothing here repeats those.
-- @module coreplus.transport.token
local core = require "coreplus.core"

local floor = math.floor

local _M = {}

--- sign(req, now) -> token: `req` has `credentials` ({consumer_id,
-- consumer_secret, access_token}), `url`, `method`, and optionally `issuer`,
-- `audience` and `now_offset` (seconds the server's clock is ahead); `now`
-- is this machine's clock in Unix seconds. Raises as core.sign does (a
-- missing credential, a bad url or method).
function _M.sign(req, now)
  local c = req.credentials or {}
  return core.sign{ consumer_id = c.consumer_id, consumer_secret = c.consumer_secret,
    access_token = c.access_token, url = req.url, method = req.method, issuer = req.issuer,
    audience = req.audience, now = floor(now + (req.now_offset or 0)) }
end

return _M
