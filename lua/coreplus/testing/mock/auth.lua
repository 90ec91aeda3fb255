--- Token and header checks, done the way the real API documents them.
-- HMAC goes through LuaJIT's FFI to OpenSSL's libcrypto, not through the
-- project's C core: the mock is meant to be an independent check of the
-- client's signing, so it must not share the code under test.
local ffi = require "ffi"
local json = require "coreplus.testing.mock.json"

local ngx = ngx
local type, ipairs, tostring = type, ipairs, tostring
local floor = math.floor
local sub, find, gsub, lower = string.sub, string.find, string.gsub, string.lower

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]
local ok_crypto, crypto = pcall(ffi.load, "libcrypto.so.3")
if not ok_crypto then crypto = ffi.load("crypto") end

local md_buf = ffi.new("unsigned char[32]")
local md_len = ffi.new("unsigned int[1]")

local _M = {}

local function hmac_sha256(key, msg)
  crypto.HMAC(crypto.EVP_sha256(), key, #key, msg, #msg, md_buf, md_len)
  return ffi.string(md_buf, md_len[0])
end
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

--- ua_refusal(ua) -> nil | reason: missing or generic User-Agent.
function _M.ua_refusal(ua)
  if type(ua) ~= "string" or gsub(ua, "%s", "") == "" then
    return "missing User-Agent"
  end
  local l = lower(ua)
  for _, p in ipairs(_M.generic_user_agents) do
    if sub(l, 1, #p) == p then return "generic User-Agent '" .. ua .. "'" end
  end
  return nil
end

local CLAIMS = { iss = "string", aud = "string", nbf = "number", exp = "number",
  consumerId = "string", accessToken = "string", url = "string", httpMethod = "string" }
local CLAIM_ORDER = { "iss", "aud", "nbf", "exp", "consumerId", "accessToken", "url", "httpMethod" }

local function is_integer(n)
  return n == floor(n)
end

--- check(req, cfg, now) -> claims | nil, detail
-- req: {authorization=, content_type=, url=, method=}
-- cfg: {consumers = {[id] = secret}, tokens = {[token] = {...}}, leeway = s}
-- now: the (skewed) server clock.
function _M.check(req, cfg, now)
  local ct = req.content_type
  if type(ct) ~= "string" or not find(lower(ct), "^%s*application/json%s*;?") then
    return nil, "content-type application/json header missing"
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
  return claims
end

_M.claim_names = CLAIM_ORDER
return _M
