-- HS256 tokens from the C core and the Lua JWT helpers.
local core = require "coreplus.core"
local jwt = require "coreplus.jwt"
local cjson = require "cjson"

local SECRET = "s3cret-not-base64"
local BASE = { consumer_id = "cid", consumer_secret = SECRET, access_token = "tok",
  url = "https://sandbox.coreplus.com.au/API/Core/v2.1/Client/?pageNumber=1&pageSize=50",
  method = "GET", issuer = "https://myapp.example", audience = "https://coreplus.com.au",
  now = 1717200000 }

local function with(over)
  local t = {}
  for k, v in pairs(BASE) do t[k] = v end
  for k, v in pairs(over or {}) do t[k] = v end
  return t
end

local function segments(token)
  local h, p, s = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
  return h, p, s
end

local function payload(token)
  local _, p = segments(token)
  local json = assert.is_string(core.base64url_decode(p)) and core.base64url_decode(p)
  return cjson.decode(json)
end

describe("base64url", function()
  local cases = {
    { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
    { "\251\255\191", "-_-_" }, { "\0\0\0\0", "AAAAAA" },
  }
  for _, c in ipairs(cases) do
    it(("encodes %q as %q and back"):format(c[1], c[2]), function()
      assert.equal(c[2], core.base64url_encode(c[1]))
      assert.equal(c[1], core.base64url_decode(c[2]))
    end)
  end
  local bad = { "Zg=", "Z", "Zm9v!", "Zm+v", "Zm/v", "Zh", "Zm9", "A", "Zm9vYg==" }
  for _, b in ipairs(bad) do
    it(("rejects %q"):format(b), function()
      local s, err = core.base64url_decode(b)
      assert.is_nil(s)
      assert.matches("base64url", err.message)
      assert.equal("malformed", err.kind)
    end)
  end
  it("round-trips every byte value", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    local s = table.concat(all)
    for cut = 0, 3 do
      local part = s:sub(1, #s - cut)
      assert.equal(part, core.base64url_decode(core.base64url_encode(part)))
    end
  end)
end)

describe("core.sign", function()
  it("makes a three-segment token with the documented header", function()
    local h = segments(core.sign(BASE))
    assert.same({ alg = "HS256", typ = "JWT" }, cjson.decode(core.base64url_decode(h)))
  end)

  it("carries exactly the documented claims", function()
    local claims = payload(core.sign(BASE))
    assert.same({
      iss = "https://myapp.example", aud = "https://coreplus.com.au",
      nbf = 1717200000, exp = 1717200060, consumerId = "cid", accessToken = "tok",
      url = BASE.url, httpMethod = "GET",
    }, claims)
  end)

  it("writes nbf and exp as JSON integers", function()
    local _, p = segments(core.sign(BASE))
    local json = core.base64url_decode(p)
    assert.matches('"nbf":1717200000,"exp":1717200060', json, 1, true)
  end)

  it("truncates a fractional now to whole UTC seconds", function()
    local claims = payload(core.sign(with{ now = 1717200000.9 }))
    assert.equal(1717200000, claims.nbf)
  end)

  it("upper-cases the method", function()
    assert.equal("POST", payload(core.sign(with{ method = "post" })).httpMethod)
  end)

  it("honours ttl", function()
    local claims = payload(core.sign(with{ ttl = 30 }))
    assert.equal(30, claims.exp - claims.nbf)
  end)

  it("defaults now to the current time", function()
    local args = with{}
    args.now = nil
    local claims = payload(core.sign(args))
    assert.is_true(math.abs(claims.nbf - os.time()) <= 2)
  end)

  it("signs with the secret used as-is (not base64-decoded)", function()
    local token = core.sign(BASE)
    assert.truthy(core.jwt_decode(token, SECRET))
    assert.is_nil(core.jwt_decode(token, core.base64url_encode(SECRET)))
  end)

  it("is deterministic for the same input and different for another url", function()
    assert.equal(core.sign(BASE), core.sign(BASE))
    assert.not_equal(core.sign(BASE), core.sign(with{ url = BASE.url .. "&x=1" }))
  end)

  it("signs the same when the options are computed by __index", function()
    -- Strings over 40 bytes are not interned: each one computed here is
    -- referenced by nothing else. Reading "now" collects garbage and refills
    -- its memory, which must not change the strings read before it.
    local secret = ("s3cret-"):rep(8)
    local want = core.sign(with{ consumer_secret = secret })
    local opts = setmetatable({}, { __index = function(_, k)
      if k == "now" then
        collectgarbage()
        collectgarbage()
        local t = {}
        for i = 1, 20000 do
          t[#t + 1] = ("x"):rep(#secret - 6) .. ("%06d"):format(i)
          t[#t + 1] = ("y"):rep(#BASE.url - 6) .. ("%06d"):format(i)
        end
        return BASE.now
      end
      local v = k == "consumer_secret" and secret or BASE[k]
      return type(v) == "string" and (v .. "!"):sub(1, -2) or v
    end })
    assert.equal(want, core.sign(opts))
  end)

  describe("escapes claim strings", function()
    local nasty = {
      quote = 'a"b', backslash = "a\\b", newline = "a\nb", tab = "a\tb", nul = "a\0b",
      controls = "\1\2\3\31\127", utf8 = "Zoë 東京 ☃", slash = "a/b",
      ["json-injection"] = '","httpMethod":"DELETE',
    }
    for name, s in pairs(nasty) do
      it(name, function()
        local claims = payload(core.sign(with{ url = s, consumer_id = s, issuer = s }))
        assert.equal(s, claims.url)
        assert.equal(s, claims.consumerId)
        assert.equal(s, claims.iss)
        assert.equal("GET", claims.httpMethod)
      end)
    end
  end)

  describe("refuses bad arguments, naming them", function()
    local cases = {
      { "consumer_id", { consumer_id = false } },
      { "consumer_secret", { consumer_secret = 42 } },
      { "access_token", { access_token = {} } },
      { "url", { url = true } },
      { "method", { method = "GE T" } },
      { "method", { method = "" } },
      { "now", { now = "yesterday" } },
      { "ttl", { ttl = 0 } },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local over = c[2]
        local args = with{}
        for k, v in pairs(over) do args[k] = v end
        if over.consumer_id == false then args.consumer_id = nil end
        local ok, err = pcall(core.sign, args)
        assert.is_false(ok)
        assert.matches(c[1], err, 1, true)
      end)
    end
    for _, field in ipairs({ "issuer", "audience", "url", "consumer_id", "access_token" }) do
      for _, bad in ipairs({ "\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80" }) do
        it(("invalid UTF-8 in %s (%q)"):format(field, bad), function()
          local args = with{}
          args[field] = "x" .. bad
          local ok, err = pcall(core.sign, args)
          assert.is_false(ok)
          assert.matches("'" .. field .. "' (not valid UTF-8)", err, 1, true)
        end)
      end
    end
    it("invalid UTF-8 reaching core.request's claims, before anything is sent", function()
      for _, field in ipairs({ "issuer", "audience" }) do
        local ok, err = pcall(core.request, { url = "https://127.0.0.1:1/", [field] = "\xff",
          credentials = { consumer_id = "c", consumer_secret = "s", access_token = "a" } })
        assert.is_false(ok)
        assert.matches("'" .. field .. "' (not valid UTF-8)", err, 1, true)
      end
    end)
    it("a non-table", function()
      assert.has_error(function() core.sign("x") end)
    end)
  end)
end)

describe("core.jwt_decode", function()
  local good = core.sign(BASE)
  local h, p, s = segments(good)

  it("returns the payload JSON of a valid token", function()
    local json = core.jwt_decode(good, SECRET)
    assert.equal("cid", cjson.decode(json).consumerId)
  end)

  local function forge_header(header)
    local hh = core.base64url_encode(header)
    local input = hh .. "." .. p
    -- re-sign honestly so only the header is at fault
    local tok = core.jwt_encode(core.base64url_decode(p), SECRET)
    local _, _, sig = segments(tok)
    return input .. "." .. sig
  end

  local rejects = {
    { "two segments", h .. "." .. p, "segments" },
    { "four segments", good .. ".x", "segments" },
    { "empty token", "", "segments" },
    { "bad base64url header", "!!!." .. p .. "." .. s, "base64url" },
    { "non-JSON header", core.base64url_encode("not json") .. "." .. p .. "." .. s, "JSON" },
    { "JSON array header", core.base64url_encode("[1]") .. "." .. p .. "." .. s, "HS256" },
    { "alg none", core.base64url_encode('{"alg":"none","typ":"JWT"}') .. "." .. p .. ".", "HS256" },
    { "alg HS512", forge_header('{"alg":"HS512","typ":"JWT"}'), "HS256" },
    { "alg with a NUL", core.base64url_encode('{"alg":"HS256\\u0000x"}') .. "." .. p .. "." .. s, "HS256" },
    { "missing alg", core.base64url_encode('{"typ":"JWT"}') .. "." .. p .. "." .. s, "HS256" },
    { "empty signature", h .. "." .. p .. ".", "signature" },
    { "short signature", h .. "." .. p .. "." .. s:sub(1, 20), "signature" },
    { "flipped signature", h .. "." .. p .. "." .. (s:sub(1, 1) == "A" and "B" or "A") .. s:sub(2), "signature" },
    { "changed payload", h .. "." .. core.base64url_encode('{"consumerId":"evil"}') .. "." .. s, "signature" },
    { "non-canonical signature", h .. "." .. p .. "." .. s:sub(1, 42) .. "B", "signature" },
  }
  for _, c in ipairs(rejects) do
    it("rejects " .. c[1], function()
      local json, err = core.jwt_decode(c[2], SECRET)
      assert.is_nil(json)
      assert.matches(c[3], err.message, 1, true)
      assert.is_string(err.kind)
    end)
  end

  it("rejects the wrong secret", function()
    local json, err = core.jwt_decode(good, "other")
    assert.is_nil(json)
    assert.equal("bad_signature", err.kind)
    assert.matches("does not match", err.message)
  end)

  it("survives garbage of every length without crashing", function()
    local seed = 7
    for n = 0, 300 do
      local t = {}
      for i = 1, n do
        seed = (seed * 1103515245 + 12345) % 2147483648
        t[i] = string.char(seed % 256)
      end
      local junk = table.concat(t)
      assert.is_nil(core.jwt_decode(junk, SECRET))
      assert.is_nil(core.jwt_decode(junk:gsub("%.", "") .. "." .. junk .. "." .. junk, SECRET))
    end
  end)

  it("refuses as nil, {kind =, message =}, the core's one failure shape", function()
    local json, err = core.jwt_decode("a.b", SECRET)
    assert.is_nil(json)
    assert.same({ kind = "malformed", message = "token must have 3 dot-separated segments" }, err)
    assert.equal(err.message, tostring(err))
    local bytes, berr = core.base64url_decode("Z")
    assert.is_nil(bytes)
    assert.same({ kind = "malformed", message = "not valid unpadded base64url" }, berr)
  end)

  it("refuses huge tokens without decoding them", function()
    local json, err = core.jwt_decode(string.rep("a", 2 * 1024 * 1024), SECRET)
    assert.is_nil(json)
    assert.matches("too large", err.message)
  end)
end)

describe("coreplus.jwt (Lua tables, time checks)", function()
  local claims = { iss = "i", aud = "a", nbf = 1000, exp = 1060, consumerId = "c" }
  local token = jwt.encode(claims, SECRET)

  it("round-trips a claim table, integers staying integers", function()
    local got = assert(jwt.decode(token, SECRET, { now = 1030 }))
    assert.same(claims, got)
    assert.equal("1000", tostring(got.nbf))
  end)

  it("refuses an expired token", function()
    local got, err = jwt.decode(token, SECRET, { now = 1060 })
    assert.is_nil(got)
    assert.equal("invalid_token", err.kind)
    assert.equal("expired", err.reason)
    assert.matches("expired", tostring(err))
  end)

  it("refuses a token before nbf", function()
    local got, err = jwt.decode(token, SECRET, { now = 990 })
    assert.is_nil(got)
    assert.equal("not_yet_valid", err.reason)
  end)

  it("applies leeway on both ends", function()
    assert.truthy(jwt.decode(token, SECRET, { now = 1065, leeway = 10 }))
    assert.truthy(jwt.decode(token, SECRET, { now = 995, leeway = 10 }))
  end)

  it("returns a readable error for a bad signature without the secret or token", function()
    local got, err = jwt.decode(token, "wrong", { now = 1030 })
    assert.is_nil(got)
    local text = tostring(err)
    assert.matches("invalid_token", text)
    assert.not_matches(SECRET, text, 1, true)
    assert.is_nil(text:find(token, 1, true))
  end)

  it("refuses non-numeric exp", function()
    local t = jwt.encode({ exp = "soon" }, SECRET)
    local got, err = jwt.decode(t, SECRET)
    assert.is_nil(got)
    assert.matches("exp", err.message)
  end)

  it("raises on misuse, naming the argument", function()
    assert.has_error(function() jwt.encode("x", SECRET) end,
      "bad argument #1 to 'encode' (table of claims expected, got string)")
    assert.has_error(function() jwt.decode(token, nil) end,
      "bad argument #2 to 'decode' (secret string expected, got nil)")
  end)
end)

describe("require 'coreplus'", function()
  it("re-exports the core", function()
    local coreplus = require "coreplus"
    assert.equal(core.sign, coreplus.sign)
    assert.equal(core.version, coreplus._VERSION)
    assert.is_table(coreplus.jwt)
  end)
end)
