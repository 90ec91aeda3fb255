--- What keeps the booking page's forms and links honest, with OpenSSL (the
-- one nginx itself links) through LuaJIT's FFI:
--   * a session cookie (random, HttpOnly, SameSite=Lax) and a CSRF token
--     that is an HMAC of it: every POST must carry the token that matches its
--     cookie, and an Origin header, when sent, must be this site;
--   * signed links: an appointment id travels with an HMAC of it, so the
--     confirmation and cancel pages open only from the link the booker got;
--   * one-time form ids, so a double submit books once.
-- Nothing here is a coreplus secret: those stay in the nginx master's
-- environment and never reach a page. The HMAC key is BOOKING_PAGE_SECRET
-- when set (links then survive a restart and work across servers), else a
-- random key made once per nginx and kept in the page's shared dict.
local ffi = require "ffi"

local ngx = ngx
local type, tostring, pcall = type, tostring, pcall
local format, byte, gsub, sub = string.format, string.byte, string.gsub, string.sub

pcall(ffi.cdef, [[
int RAND_bytes(unsigned char *buf, int num);
const void *EVP_sha256(void);
unsigned char *HMAC(const void *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
]])
local C = ffi.C

local _M = {}

_M.dict_name = "booking_page"          -- lua_shared_dict of the page (nginx.conf.in)
_M.cookie = "booking_session"
local SESSION_AGE = 2 * 3600           -- seconds a session cookie lives

local function dict()
  local d = ngx.shared[_M.dict_name]
  if not d then error("booking page: `lua_shared_dict " .. _M.dict_name .. " 4m;` is missing from nginx.conf", 0) end
  return d
end
_M.dict = dict

local function hex(s)
  return (gsub(s, ".", function(c) return format("%02x", byte(c)) end))
end

--- n random bytes as 2n hex digits (OpenSSL's RAND_bytes).
function _M.random_hex(n)
  local buf = ffi.new("unsigned char[?]", n)
  if C.RAND_bytes(buf, n) ~= 1 then error("booking page: RAND_bytes failed", 0) end
  return hex(ffi.string(buf, n))
end

local key_cache
local function key()
  if key_cache then return key_cache end
  local k = os.getenv("BOOKING_PAGE_SECRET")
  if type(k) == "string" and #k >= 32 then
    key_cache = k
  else
    if k and k ~= "" then
      ngx.log(ngx.WARN, "booking page: BOOKING_PAGE_SECRET is shorter than 32 characters; using a random key")
    end
    local d = dict()
    d:add("hmac_key", _M.random_hex(32))   -- the first worker's wins
    key_cache = d:get("hmac_key")
  end
  return key_cache
end

local function b64url(s)
  return (gsub(ngx.encode_base64(s), "[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end

--- HMAC-SHA256 of `purpose|value` under the page's key, base64url (43 chars).
function _M.mac(purpose, value)
  local k, msg = key(), purpose .. "|" .. tostring(value)
  local md = ffi.new("unsigned char[32]")
  local len = ffi.new("unsigned int[1]")
  if C.HMAC(C.EVP_sha256(), k, #k, msg, #msg, md, len) == nil then
    error("booking page: HMAC failed", 0)
  end
  return b64url(ffi.string(md, len[0]))
end

-- Comparison whose time does not depend on where the strings differ.
local function same(a, b)
  if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if byte(a, i) ~= byte(b, i) then diff = diff + 1 end
  end
  return diff == 0
end

local function https()
  return ngx.var.scheme == "https" or ngx.var.http_x_forwarded_proto == "https"
end

--- The visitor's session id; a new one (and its cookie) when there is none.
function _M.session()
  local sid = ngx.var["cookie_" .. _M.cookie]
  if type(sid) == "string" and sid:match("^%x+$") and #sid == 32 then return sid end
  sid = _M.random_hex(16)
  ngx.header["Set-Cookie"] = format("%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s",
    _M.cookie, sid, SESSION_AGE, https() and "; Secure" or "")
  return sid
end

--- The CSRF token of this session, for a hidden form field.
function _M.csrf_token(sid)
  return _M.mac("csrf", sid)
end

--- check_post(args) -> sid | nil, why: the session cookie, the form's token
-- and the Origin header (when sent) must all agree.
function _M.check_post(args)
  local sid = ngx.var["cookie_" .. _M.cookie]
  if type(sid) ~= "string" or #sid ~= 32 then return nil, "no session cookie" end
  if not same(args.csrf, _M.csrf_token(sid)) then return nil, "CSRF token does not match the session" end
  local origin = ngx.var.http_origin
  if origin and origin ~= "null" then
    local here = (https() and "https://" or "http://") .. tostring(ngx.var.http_host)
    if origin ~= here then return nil, "cross-site Origin " .. origin end
  elseif origin == "null" then
    return nil, "opaque Origin"
  end
  return sid
end

--- A link's signature for an appointment id, and its check.
function _M.sign_appointment(id)
  return sub(_M.mac("appointment", id), 1, 32)
end

function _M.check_appointment(id, sig)
  return type(id) == "string" and id:match("^[%w%-]+$") ~= nil and #id <= 64
    and same(sig, _M.sign_appointment(id))
end

------------------------------------------------------------------------
-- One-time form ids: the first submission claims the id; a second one
-- (a double click, a reload) waits for the first and shares its outcome.
------------------------------------------------------------------------

local ONCE_TTL = 3600
local WAIT_STEP, WAIT_MAX = 0.05, 60

--- claim(sid, once) -> true | false, outcome. outcome is "booked:<id>" or
-- "unknown" when another submission of this form finished that way; false
-- with nil when it is still running after WAIT_MAX seconds.
function _M.claim(sid, once)
  local d = dict()
  local k = "once:" .. sid .. ":" .. once
  local waited = 0
  while true do
    if d:add(k, "busy", ONCE_TTL) then return true end
    local v = d:get(k)
    if v and v ~= "busy" then return false, v end
    if waited >= WAIT_MAX then return false, nil end
    ngx.sleep(WAIT_STEP)
    waited = waited + WAIT_STEP
    -- v == nil: the other submission failed and let go; claim it again.
  end
end

--- settle(sid, once, outcome): outcome "booked:<id>" or "unknown" is kept for
-- later submissions; nil lets go (a definite failure: trying again is safe).
function _M.settle(sid, once, outcome)
  local k = "once:" .. sid .. ":" .. once
  if outcome then dict():set(k, outcome, ONCE_TTL) else dict():delete(k) end
end

--- with_lock(name, fn, ...) -> fn's results: one holder at a time across
-- workers (find-or-create of one person runs once at a time). A holder that
-- died is given up on after `ttl` seconds.
function _M.with_lock(name, ttl, fn, ...)
  local d = dict()
  local k = "lock:" .. name
  local waited = 0
  while not d:add(k, true, ttl) and waited < ttl do
    ngx.sleep(WAIT_STEP)
    waited = waited + WAIT_STEP
  end
  local ok, a, b = pcall(fn, ...)
  d:delete(k)
  if not ok then error(a, 0) end
  return a, b
end

return _M
