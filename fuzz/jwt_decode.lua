-- fuzz target: core.jwt_decode (structure, base64url, header JSON via cjson,
-- alg, signature) over arbitrary bytes, and the encode/decode round trip.
-- The first byte picks the mode:
--   even: the rest is a token; decode must return a string or nil, err with
--         err.kind a known name, never raise, and a string result must be the
--         payload of a token whose signature verifies.
--   odd:  the rest is a payload; jwt_encode(payload) must decode back to it
--         exactly when it is a JSON object, be refused otherwise, and fail
--         with a changed secret.
local core = require "coreplus.core"
local cjson = require "cjson.safe"

local SECRET = "secret"
local NAMES = { malformed = true, bad_alg = true, bad_signature = true }
-- jwt_lua.c's fixed messages: a token may be a substring of one of them by
-- chance (the fuzzer finds that), which is not an echo of the token.
local FIXED = {}
for _, m in ipairs{ "token too large", "token must have 3 dot-separated segments",
  "header is not valid base64url", "header is not a JSON object",
  "unsupported alg (only HS256 is accepted)", "signature is not 32 bytes of base64url",
  "signature does not match", "payload is not valid base64url", "payload is not a JSON object" } do
  FIXED[m] = true
end

local function fail(fmt, ...)
  error("FUZZ: " .. fmt:format(...), 2)
end

-- core.jwt_decode as ok, message, kind (its refusal is nil, {kind=, message=}).
local function decode(token, secret)
  local ok, err = core.jwt_decode(token, secret)
  if ok == nil and type(err) ~= "table" then fail("refused without an error table") end
  return ok, err and err.message, err and err.kind
end

local function check_refusal(ok, msg, name, token)
  if ok ~= nil then fail("decode returned %s for a refused token", type(ok)) end
  if type(msg) ~= "string" or msg == "" then fail("no message") end
  if not NAMES[name] then fail("unknown error name %s", tostring(name)) end
  if msg:find(SECRET, 1, true) then fail("message shows the secret") end
  if #token > 8 and msg:find(token, 1, true) and not FIXED[msg] then fail("message shows the token") end
end

return function(data)
  local mode = data:byte(1) or 0
  local rest = data:sub(2)
  if mode % 2 == 0 then
    local ok, msg, name = decode(rest, SECRET)
    if ok == nil then
      check_refusal(ok, msg, name, rest)
    elseif type(ok) ~= "string" then
      fail("decode returned a %s", type(ok))
    else
      -- Accepted: must really be header.payload.sig signed with SECRET.
      local h, p = rest:match("^([^.]*)%.([^.]*)%.[^.]*$")
      if not h then fail("accepted a token without three segments") end
      local again = core.jwt_encode(ok, SECRET)
      local ah, ap = again:match("^([^.]*)%.([^.]*)%.")
      if ap ~= p then fail("payload segment does not round-trip") end
      if ah ~= h then
        -- A different but valid header is fine; its alg must be HS256.
        local hdr = cjson.decode(core.base64url_decode(h) or "")
        if type(hdr) ~= "table" or hdr.alg ~= "HS256" then fail("accepted alg %s", tostring(hdr and hdr.alg)) end
      end
      if core.jwt_decode(rest, SECRET .. "x") ~= nil then fail("accepted with another secret") end
    end
  else
    local token = core.jwt_encode(rest, SECRET)
    if token:find("[^%w%-_.]") then fail("token has a byte outside base64url and '.'") end
    local ok, msg, name = decode(token, SECRET)
    local obj = cjson.decode(rest)
    if type(obj) == "table" then
      if ok ~= rest then fail("round trip lost the payload: %s %s", tostring(msg), tostring(name)) end
      if core.jwt_decode(token, "other") ~= nil then fail("accepted with another secret") end
    elseif ok ~= nil then
      check_refusal(ok, msg, name, token)
    else
      check_refusal(ok, msg, name, token)
      if name ~= "malformed" then fail("non-object payload refused as %s", name) end
    end
  end
end
