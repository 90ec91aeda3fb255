-- core.defaults: the C core's defaults in one table, the same values that the
-- C functions apply when an option is left out.
local core = require "coreplus.core"
local cjson = require "cjson"

local function claims(token)
  local p = token:match("^[^.]*%.([^.]*)%.")
  return cjson.decode(core.base64url_decode(p))
end

describe("core.defaults", function()
  local d = core.defaults

  it("has exactly the documented fields", function()
    local names = {}
    for k in pairs(d) do names[#names + 1] = k end
    table.sort(names)
    assert.same({ "audience", "concurrency", "connect_timeout", "idempotent", "issuer", "learn_ease",
      "learn_max", "learn_step", "lease", "limit_file_keys", "margin", "max_body", "max_concurrency", "max_head",
      "max_rate", "per", "rate", "redis_timeout", "timeout", "token_ttl", "user_agent" }, names)
  end)

  -- coreplus.new checks its options against these (one home: the C core's
  -- own limits), so an option the core would refuse is refused by name first.
  it("gives the largest rate and concurrency the core takes, which coreplus.new checks", function()
    assert.truthy(core.limiter{ rate = d.max_rate })
    assert.has_error(function() core.limiter{ rate = d.max_rate + 1 } end)
    core.pipeline{ concurrency = d.max_concurrency }:close()
    assert.has_error(function() core.pipeline{ concurrency = d.max_concurrency + 1 } end)
    local base = { base_url = "https://127.0.0.1:1", consumer_id = "c", consumer_secret = "s",
      access_token = "t", user_agent = "defaults-spec/1.0", issuer = "https://spec.example", shared_limit = false }
    local function new(extra)
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      for k, v in pairs(extra) do o[k] = v end
      return require("coreplus").new(o)
    end
    assert.truthy(new{ rate = d.max_rate, per = 1 })
    assert.has_error(function() new{ rate = d.max_rate + 1 } end,
      "coreplus.new: option 'rate' must be a whole number from 1 to " .. d.max_rate)
    assert.has_error(function() new{ concurrency = d.max_concurrency + 1 } end,
      "coreplus.new: option 'concurrency' must be a number from 1 to " .. d.max_concurrency)
  end)

  it("gives the values of docs/decisions.md#core-interface-additions", function()
    assert.equal("lua-coreplus", d.issuer)
    assert.equal("https://coreplus.com.au", d.audience)
    assert.equal(60, d.token_ttl)
    assert.equal(45, d.timeout)
    assert.equal(10, d.connect_timeout)
    assert.equal(16 * 1024 * 1024, d.max_body)
    assert.equal(4, d.concurrency)
    assert.equal(10, d.rate)
    assert.equal(1, d.per)
    assert.equal(0.025, d.margin)
    assert.same({ GET = true, HEAD = true, DELETE = true, OPTIONS = true }, d.idempotent)
    assert.matches("^lua%-coreplus/" .. core.version:gsub("%.", "%%.") .. " %(libcurl/", d.user_agent)
  end)

  it("are what core.sign applies when issuer, audience and ttl are left out", function()
    local c = claims(core.sign{ consumer_id = "c", consumer_secret = "s", access_token = "a",
      url = "https://127.0.0.1/x", now = 1000 })
    assert.equal(d.issuer, c.iss)
    assert.equal(d.audience, c.aud)
    assert.equal(d.token_ttl, c.exp - c.nbf)
  end)

  it("are what core.limiter applies", function()
    local l = core.limiter{}
    local st = l:stats()
    l:close()
    assert.equal(d.rate, st.rate)
    assert.equal(d.per, st.per)
    assert.equal(d.margin, st.margin)
  end)

  it("are what core.pipeline applies", function()
    local p = core.pipeline()
    assert.equal(d.concurrency, p:capacity())
    p:close()
  end)

  it("is a copy: changing it changes nothing in C", function()
    local fresh = package.loadlib(package.searchpath("coreplus.core", package.cpath),
      "luaopen_coreplus_core")()
    fresh.defaults.issuer = "changed"
    local c = claims(fresh.sign{ consumer_id = "c", consumer_secret = "s", access_token = "a",
      url = "https://127.0.0.1/x", now = 1000 })
    assert.equal("lua-coreplus", c.iss)
  end)
end)
