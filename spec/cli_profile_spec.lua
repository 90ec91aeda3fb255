-- Profiles: the config file's sections, chosen with --profile or
-- COREPLUS_PROFILE, under the COREPLUS_* variables and the flags.
local testing = require "coreplus.testing"
local cjson = require "cjson.safe"
local profile = require "coreplus.profile"
local H = dofile("spec/support/cli.lua")

describe("coreplus profiles", function()
  local mock, dir, config

  local function section(name, fields)
    local lines = { "[" .. name .. "]" }
    for _, k in ipairs({ "base_url", "consumer_id", "consumer_secret", "access_token", "cafile", "user_agent",
      "issuer", "need", "shared_limit" }) do
      if fields[k] then lines[#lines + 1] = k .. " = " .. fields[k] end
    end
    return table.concat(lines, "\n") .. "\n"
  end

  local function good(extra)
    local t = { base_url = mock.base_url, consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token, cafile = mock.cafile, shared_limit = mock.prefix .. "/cli.limit",
      user_agent = "profile-spec/1.0", issuer = "https://spec.example" }
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end

  -- Only XDG_CONFIG_HOME: every setting comes from the file.
  local function bare_env(extra)
    local e = H.env_of(mock, { COREPLUS_BASE_URL = false, COREPLUS_CONSUMER_ID = false,
      COREPLUS_CONSUMER_SECRET = false, COREPLUS_ACCESS_TOKEN = false, COREPLUS_CAFILE = false,
      COREPLUS_SHARED_LIMIT = false, XDG_CONFIG_HOME = dir })
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  setup(function()
    mock = testing.server{ tls = true }
    dir = mock.prefix .. "/config-home"
    os.execute("mkdir -p " .. H.q(dir .. "/coreplus"))
    config = dir .. "/coreplus/config"
  end)

  teardown(function()
    if mock then mock:stop() end
  end)

  before_each(function()
    H.write(config, "# two practices\n" .. section("sandbox", good())
      .. "\n" .. section("broken", good{ consumer_secret = "wrong-secret-123" })
      .. "\n" .. section("restricted", good{ access_token = mock.restricted_access_token }), "600")
  end)

  describe("selection", function()
    it("--profile picks a section, before or after the command", function()
      for _, argv in ipairs({ { "--profile", "sandbox", "locations", "--jsonl" },
        { "locations", "--profile", "sandbox", "--jsonl" }, { "locations", "--jsonl", "--profile=sandbox" } }) do
        local r = H.run(bare_env(), table.unpack(argv))
        assert.equal(0, r.code, table.concat(argv, " ") .. ": " .. r.err)
        assert.equal(3, #H.lines(r.out))
      end
    end)

    it("COREPLUS_PROFILE picks a section; --profile wins over it", function()
      local r = H.run(bare_env{ COREPLUS_PROFILE = "broken" }, "locations")
      assert.equal(1, r.code)
      assert.truthy(r.err:find("invalid_token", 1, true))
      local ok = H.run(bare_env{ COREPLUS_PROFILE = "broken" }, "locations", "--profile", "sandbox")
      assert.equal(0, ok.code, ok.err)
    end)

    it("uses [default] when no profile is named, and nothing when there is none", function()
      local none = H.run(bare_env(), "locations")
      assert.equal(2, none.code)
      assert.truthy(none.err:find("COREPLUS_BASE_URL", 1, true))
      H.write(config, section("default", good()), "600")
      local r = H.run(bare_env(), "locations")
      assert.equal(0, r.code, r.err)
    end)

    it("names the sections it has when the one asked for is missing (2)", function()
      local r = H.run(bare_env(), "--profile", "sandbx", "locations")
      assert.equal(2, r.code)
      H.one_line_error(r)
      assert.truthy(r.err:find("no profile [sandbx]", 1, true))
      assert.truthy(r.err:find("sandbox, broken, restricted", 1, true))
    end)

    it("refuses an unknown key, naming the file and line (2)", function()
      H.write(config, "[sandbox]\nbase_url = " .. mock.base_url .. "\nconsumer_secrt = x\n", "600")
      local r = H.run(bare_env(), "--profile", "sandbox", "locations")
      assert.equal(2, r.code)
      assert.truthy(r.err:find(config .. ":3: unknown key 'consumer_secrt'", 1, true), r.err)
    end)
  end)

  describe("precedence", function()
    it("COREPLUS_* variables win over the profile, and flags over both", function()
      -- The profile's secret is wrong; the variable's is right.
      local e = bare_env{ COREPLUS_CONSUMER_SECRET = mock.consumer_secret }
      local r = H.run(e, "--profile", "broken", "locations")
      assert.equal(0, r.code, r.err)
      -- The flag's secret is wrong again.
      local f = H.run(e, "--profile", "broken", "locations", "--consumer-secret", "wrong-again-456")
      assert.equal(1, f.code)
      assert.truthy(f.err:find("invalid_token", 1, true))
    end)

    it("doctor says where the settings came from when they come from two places", function()
      local r = H.run(bare_env{ COREPLUS_BASE_URL = mock.base_url }, "--profile", "sandbox", "doctor", "--json")
      assert.equal(0, r.code, r.err)
      local warned
      for _, c in ipairs(cjson.decode(r.out)) do
        if c.check == "sources" then warned = c end
      end
      assert.equal("warn", warned.status)
      assert.truthy(warned.detail:find("environment variables", 1, true))
      assert.truthy(warned.detail:find("profile sandbox", 1, true))
    end)
  end)

  describe("the file's permissions", function()
    it("refuses a file holding a secret that others can read (2), saying chmod 600", function()
      for _, mode in ipairs({ "644", "640", "604" }) do
        os.execute("chmod " .. mode .. " " .. H.q(config))
        local r = H.run(bare_env(), "--profile", "sandbox", "locations")
        assert.equal(2, r.code, mode)
        assert.equal("", r.out)
        H.one_line_error(r)
        assert.truthy(r.err:find("can be read by others", 1, true), r.err)
        assert.truthy(r.err:find("chmod 600 " .. config, 1, true))
        assert.falsy(r.err:find(mock.consumer_secret, 1, true))
      end
    end)

    it("accepts a readable file without secrets; refuses any file others can write", function()
      H.write(config, section("shared", { base_url = mock.base_url, cafile = mock.cafile }), "644")
      local r = H.run(bare_env{ COREPLUS_CONSUMER_ID = mock.consumer_id,
        COREPLUS_CONSUMER_SECRET = mock.consumer_secret, COREPLUS_ACCESS_TOKEN = mock.access_token },
        "--profile", "shared", "locations")
      assert.equal(0, r.code, r.err)
      os.execute("chmod 664 " .. H.q(config))
      local w = H.run(bare_env(), "--profile", "shared", "locations")
      assert.equal(2, w.code)
      assert.truthy(w.err:find("can be changed by others", 1, true), w.err)
    end)
  end)

  describe("coreplus profiles", function()
    it("lists every section with the secrets masked", function()
      local r = H.run(bare_env{ COREPLUS_PROFILE = "restricted" }, "profiles", "--jsonl")
      assert.equal(0, r.code, r.err)
      local rows = {}
      for _, l in ipairs(H.lines(r.out)) do local v = cjson.decode(l); rows[v.profile] = v end
      assert.truthy(rows.sandbox and rows.broken and rows.restricted)
      assert.is_true(rows.restricted.selected)
      assert.equal(mock.base_url, rows.sandbox.base_url)
      assert.falsy(r.out:find(mock.consumer_secret, 1, true))
      assert.falsy(r.out:find(mock.access_token, 1, true))
      assert.equal(mock.access_token:sub(1, 4) .. "..." .. mock.access_token:sub(-4), rows.sandbox.access_token)
    end)
  end)

  describe("coreplus.from_profile", function()
    local function getenv(extra)
      return function(name)
        if extra and extra[name] ~= nil then return extra[name] end
        if name == "XDG_CONFIG_HOME" then return dir end
        return nil
      end
    end

    it("builds a client from a section", function()
      local cp = profile.from_profile("sandbox", nil, getenv())
      local page = assert(cp.locations:list{ pageSize = 1 })
      assert.equal(1, #page.items)
      assert.is_function(require("coreplus").from_profile)
    end)

    it("takes COREPLUS_PROFILE (or [default]) when no name is given; overrides win", function()
      local cp = profile.from_profile(nil, { consumer_secret = mock.consumer_secret },
        getenv{ COREPLUS_PROFILE = "broken" })
      assert.truthy(cp.locations:list{ pageSize = 1 })
    end)

    it("raises for a missing profile and for a file others can read", function()
      assert.has_error(function() profile.from_profile("nope", nil, getenv()) end)
      os.execute("chmod 644 " .. H.q(config))
      local ok, err = pcall(profile.from_profile, "sandbox", nil, getenv())
      assert.is_false(ok)
      assert.truthy(tostring(err):find("can be read by others", 1, true))
    end)
  end)
end)
