--- Token and header checks, done the way the real API documents them.
-- HMAC is OpenSSL's (coreplus.testing.mock.digest), not the project's C
-- core: the mock is meant to be an independent check of the client's
-- signing, so it must not share the code under test.
local json = require "coreplus.testing.mock.json"
local digest = require "coreplus.testing.mock.digest"

local ngx = ngx
local type, ipairs, tostring = type, ipairs, tostring
local floor = math.floor
local sub, find, gsub, lower = string.sub, string.find, string.gsub, string.lower

local _M = {}

local hmac_sha256 = digest.hmac_sha256
_M.hmac_sha256 = hmac_sha256

local function b64url_encode(raw)
  local s = ngx.encode_base64(raw, true)
  return (gsub(gsub(s, "+", "-"), "/", "_"))
end

-- Strict base64url: the JWT alphabet only, no padding.
local function b64url_decode(s)
  if s == "" or find(s, "[^%w%-_]") then return nil end
  local t = gsub(gsub(s, "-", "+"), "_", "/")
  local rem = #t % 4
  if rem == 1 then return nil end
  if rem > 0 then t = t .. string.rep("=", 4 - rem) end
  return ngx.decode_base64(t)
end
_M.b64url_decode = b64url_decode

-- User agents a WAF would treat as generic: tool and library defaults,
-- browsers and CMS defaults (the FAQ's example). Matched as prefixes,
-- case-insensitively.
_M.generic_user_agents = {
  "curl/", "wget/", "python-requests/", "python-urllib/", "python/", "aiohttp/", "httpx/",
  "go-http-client/", "java/", "okhttp/", "apache-httpclient/", "axios/", "node-fetch/", "node/",
  "undici", "got ", "postmanruntime/", "insomnia/", "httpie/", "guzzlehttp/", "wordpress/",
  "mozilla/", "lua-resty-http/", "luasocket", "libcurl/", "ruby", "faraday", "dart:io", "-",
}

-- The library's own default, when no app name stands before it
-- ("lua-coreplus/0.1.0 (libcurl/...)"; an app's is "app/1.2 lua-coreplus/...").
local LIBRARY_DEFAULT = "lua-coreplus/"

--- ua_refusal(ua, block_default) -> nil | reason: missing or generic
-- User-Agent; with block_default, also the library's bare default.
function _M.ua_refusal(ua, block_default)
  if type(ua) ~= "string" or gsub(ua, "%s", "") == "" then
    return "missing User-Agent"
  end
  local l = lower(ua)
  for _, p in ipairs(_M.generic_user_agents) do
    if sub(l, 1, #p) == p then return "generic User-Agent '" .. ua .. "'" end
  end
  if block_default and (sub(l, 1, #LIBRARY_DEFAULT) == LIBRARY_DEFAULT or l == "lua-coreplus") then
    return "the library's default User-Agent '" .. ua .. "' names no app (block_default_user_agent)"
  end
  return nil
end

local CLAIMS = { iss = "string", aud = "string", nbf = "number", exp = "number",
  consumerId = "string", accessToken = "string", url = "string", httpMethod = "string" }
local CLAIM_ORDER = { "iss", "aud", "nbf", "exp", "consumerId", "accessToken", "url", "httpMethod" }

local function is_integer(n)
  return n == floor(n)
end

-- The docs: exp is set one minute after nbf.
_M.max_lifetime = 60

--- check(req, cfg, now) -> claims | nil, detail
-- req: {authorization=, content_type=, url=, method=, multipart=}
--   (multipart: the operation takes multipart/form-data, which then stands
--   in for application/json, the developer docs' headers)
-- cfg: {consumers = {[id] = secret}, tokens = {[token] = {...}}, leeway = s}
-- now: the (skewed) server clock.
function _M.check(req, cfg, now)
  local ct = type(req.content_type) == "string" and lower(req.content_type) or ""
  if not find(ct, "^%s*application/json%s*;?") and not (req.multipart and find(ct, "^%s*multipart/form%-data%s*;")) then
    return nil, req.multipart and "content-type multipart/form-data (or application/json) header missing"
      or "content-type application/json header missing"
  end
  local authz = req.authorization
  if type(authz) ~= "string" or authz == "" then
    return nil, "Authorization header missing"
  end
  if sub(authz, 1, 8) ~= "JwToken " then
    return nil, "Authorization must be 'JwToken <token>'"
  end
  local token = sub(authz, 9)
  local h64, p64, s64 = token:match("^([^.]+)%.([^.]+)%.([^.]*)$")
  if not h64 then return nil, "token is not a JWS compact serialisation" end
  local header = json.decode(b64url_decode(h64) or "")
  if type(header) ~= "table" then return nil, "token header is not base64url JSON" end
  if header.alg ~= "HS256" then
    return nil, "token alg must be HS256, got " .. tostring(header.alg)
  end
  local claims = json.decode(b64url_decode(p64) or "")
  if type(claims) ~= "table" then return nil, "token payload is not base64url JSON" end
  for _, name in ipairs(CLAIM_ORDER) do
    local v = claims[name]
    if v == nil then return nil, "claim " .. name .. " missing" end
    if type(v) ~= CLAIMS[name] then return nil, "claim " .. name .. " must be a " .. CLAIMS[name] end
  end
  local secret = cfg.consumers[claims.consumerId]
  if not secret then return nil, "unknown consumerId" end
  if s64 == "" or b64url_encode(hmac_sha256(secret, h64 .. "." .. p64)) ~= s64 then
    return nil, "signature does not verify with the consumer secret"
  end
  local tok = cfg.tokens[claims.accessToken]
  if not tok then return nil, "unknown accessToken" end
  if claims.url ~= req.url then
    return nil, "url claim does not match the requested URL " .. req.url
  end
  if claims.httpMethod ~= req.method then
    return nil, "httpMethod claim does not match the request method " .. req.method
  end
  if not is_integer(claims.nbf) or not is_integer(claims.exp) then
    return nil, "nbf and exp must be integer Unix seconds"
  end
  local leeway = cfg.leeway or 0
  if claims.nbf > now + leeway then return nil, "token not valid yet (nbf is in the future)" end
  if claims.exp <= now - leeway then return nil, "token expired (exp is in the past)" end
  if claims.exp <= claims.nbf then return nil, "exp must be after nbf" end
  if claims.exp - claims.nbf > _M.max_lifetime + leeway then
    return nil, ("token lives %d s (exp - nbf); at most %d s"):format(claims.exp - claims.nbf, _M.max_lifetime)
  end
  return claims
end

_M.claim_names = CLAIM_ORDER
return _M
