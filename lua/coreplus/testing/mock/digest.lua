--- The mock's crypto, from OpenSSL's libcrypto through LuaJIT's FFI (one
-- home for its declarations): HMAC-SHA256 for token signatures and SHA-256
-- over a stream, so the mock can say which bytes an upload carried without
-- keeping them. Not the project's C core: the mock is meant to be an
-- independent check of the client's signing.
local ffi = require "ffi"

local format, byte, gsub = string.format, string.byte, string.gsub

ffi.cdef [[
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct engine_st ENGINE;
const EVP_MD *EVP_sha256(void);
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl);
int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);
int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]
local ok, crypto = pcall(ffi.load, "libcrypto.so.3")
if not ok then crypto = ffi.load("crypto") end

local _M = {}

local md_buf = ffi.new("unsigned char[32]")
local md_len = ffi.new("unsigned int[1]")

--- hmac_sha256(key, msg) -> the 32 raw bytes
function _M.hmac_sha256(key, msg)
  crypto.HMAC(crypto.EVP_sha256(), key, #key, msg, #msg, md_buf, md_len)
  return ffi.string(md_buf, md_len[0])
end

--- sha256() -> {update = function(chunk), hex = function() -> 64 hex digits}
function _M.sha256()
  local ctx = ffi.gc(crypto.EVP_MD_CTX_new(), crypto.EVP_MD_CTX_free)
  assert(crypto.EVP_DigestInit_ex(ctx, crypto.EVP_sha256(), nil) == 1)
  local d = {}
  function d.update(s)
    assert(crypto.EVP_DigestUpdate(ctx, s, #s) == 1)
  end
  function d.hex()
    local md, n = ffi.new("unsigned char[32]"), ffi.new("unsigned int[1]")
    assert(crypto.EVP_DigestFinal_ex(ctx, md, n) == 1)
    return (gsub(ffi.string(md, n[0]), ".", function(c) return format("%02x", byte(c)) end))
  end
  return d
end

return _M
