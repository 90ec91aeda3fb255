--- JSON Web Tokens on Lua tables: HS256 from the C core, plus the time
-- checks a server makes. Also reached as `coreplus.jwt`.
--
--     local claims, err = coreplus.jwt.decode(token, secret, { leeway = 2 })
--     if not claims then print(err.reason) end   -- "expired", "bad_signature", ...
--
-- To make the token coreplus wants for a request, use `coreplus.core.sign`.
-- @module coreplus.jwt
local raise = require("coreplus.misuse").raise
local core = require "coreplus.core"
local cjson = require "cjson.safe"
local errors = require "coreplus.errors"

local type = type
local floor = math.floor
local pairs = pairs
local tointeger = math.tointeger or function(x)
  if x == floor(x) and x >= -2^53 and x <= 2^53 then return x end
end

local _M = {}

-- cjson decodes every number as a float under Lua 5.4; claims such as nbf/exp
-- are integers, and 1700000000.0 would print (and compare as text) wrongly.
local function integral(claims)
  for k, v in pairs(claims) do
    if type(v) == "number" then
      claims[k] = tointeger(v) or v
    end
  end
  return claims
end

--- Encodes claims as an HS256 token.
-- @tparam table claims the payload (encoded as JSON)
-- @tparam string secret the HMAC key, used as-is
-- @treturn string the token
function _M.encode(claims, secret)
  if type(claims) ~= "table" then
    raise("%s", "bad argument #1 to 'encode' (table of claims expected, got " .. type(claims) .. ")")
  end
  if type(secret) ~= "string" then
    raise("%s", "bad argument #2 to 'encode' (secret string expected, got " .. type(secret) .. ")")
  end
  local json, err = cjson.encode(claims)
  if not json then
    raise("%s", "bad argument #1 to 'encode' (" .. tostring(err) .. ")")
  end
  return core.jwt_encode(json, secret)
end

local function invalid(message, reason)
  return nil, errors.new{ kind = "invalid_token", message = message, reason = reason }
end

--- Verifies a token and returns its claims: the structure, `alg` (HS256
-- only) and the signature (in the C core), then `exp` and `nbf` against `now`.
-- @tparam string token
-- @tparam string secret the HMAC key
-- @tparam[opt] table opts `now` (Unix seconds; default the clock), `leeway`
--  (seconds of tolerance on `exp` and `nbf`, default 0)
-- @treturn table the claims (integral numbers as integers), or nil and an
--  error of kind `invalid_token` whose `reason` is `malformed`,
--  `bad_signature`, `expired`, `not_yet_valid`, ...
function _M.decode(token, secret, opts)
  if type(token) ~= "string" then
    raise("%s", "bad argument #1 to 'decode' (token string expected, got " .. type(token) .. ")")
  end
  if type(secret) ~= "string" then
    raise("%s", "bad argument #2 to 'decode' (secret string expected, got " .. type(secret) .. ")")
  end
  if opts ~= nil and type(opts) ~= "table" then
    raise("%s", "bad argument #3 to 'decode' (options table expected, got " .. type(opts) .. ")")
  end
  opts = opts or {}
  local now = opts.now or core.now()
  local leeway = opts.leeway or 0
  if type(now) ~= "number" then raise("%s", "bad option 'now' (number expected)") end
  if type(leeway) ~= "number" then raise("%s", "bad option 'leeway' (number expected)") end

  local json, derr = core.jwt_decode(token, secret)
  if not json then
    return invalid(derr.message, derr.kind)
  end
  local claims = cjson.decode(json)
  if type(claims) ~= "table" then
    return invalid("payload is not a JSON object", "malformed")
  end
  integral(claims)
  local exp, nbf = claims.exp, claims.nbf
  if exp ~= nil and type(exp) ~= "number" then
    return invalid("claim 'exp' is not a number", "malformed")
  end
  if nbf ~= nil and type(nbf) ~= "number" then
    return invalid("claim 'nbf' is not a number", "malformed")
  end
  if exp and now >= exp + leeway then
    return invalid(("token expired %.0f s ago"):format(floor(now - exp)), "expired")
  end
  if nbf and now + leeway < nbf then
    return invalid(("token not valid for another %.0f s"):format(floor(nbf - now + 0.5)), "not_yet_valid")
  end
  return claims
end

return _M
