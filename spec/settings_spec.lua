-- One home for settings (coreplus.settings): the same settings given through
-- the environment (coreplus.from_env), a profile (coreplus.from_profile) and
-- the command line (flags, variables, a profile) reach coreplus.new as the
-- same options. The options are caught where every path ends:
-- coreplus.client.new.
local settings = require "coreplus.settings"
local coreplus = require "coreplus"
local client = require "coreplus.client"
local stub_of = require("coreplus.testing").stub
local H = dofile("spec/support/cli.lua")
local F = dofile("spec/support/files.lua")

-- A text for every setting: the ones with a meaning of their own by hand,
-- the rest by type, so that a new row is covered without touching this spec.
local SPECIAL = { base_url = "https://sandbox.example.com", limit_key = "consumer", on_redis_error = "fail",
  api_version = "v2", shared_limit = "off" }
local BY_TYPE = { number = { "7", 7 }, boolean = { "yes", true }, limit = { "false", false } }

local function text_of(row)
  if SPECIAL[row.name] then return SPECIAL[row.name] end
  local t = BY_TYPE[row.type]
  return t and t[1] or (row.name .. "-value")
end

local function expected()
  local o = {}
  for _, row in ipairs(settings.ROWS) do
    if row.option then
      local t = BY_TYPE[row.type]
      local v = t and t[2] or text_of(row)
      if row.name == "shared_limit" then v = false end
      o[row.option] = v
    end
  end
  return o
end

-- Runs fn while coreplus.client.new records the options it is given; returns them.
local function caught(fn)
  local seen
  local real = client.new
  client.new = function(opts)
    seen = {}
    for k, v in pairs(opts) do seen[k] = v end
    return real(opts)
  end
  local ok, err = pcall(fn)
  client.new = real
  assert(ok, err)
  return seen
end

-- The setting options only, out of what a path passed to coreplus.new.
local function setting_options(opts)
  local o = {}
  for _, row in ipairs(settings.ROWS) do
    if row.option then o[row.option] = opts[row.option] end
  end
  return o
end

local function env_table()
  local e = {}
  for _, row in ipairs(settings.ROWS) do e[row.env] = text_of(row) end
  return e
end

local function getenv_of(t)
  return function(name) local v = t[name]; if v == false then return nil end; return v end
end

local function profile_text(name)
  local lines = { "[" .. name .. "]" }
  for _, row in ipairs(settings.ROWS) do lines[#lines + 1] = row.key .. " = " .. text_of(row) end
  return table.concat(lines, "\n") .. "\n"
end

local function flags()
  local argv = {}
  for _, row in ipairs(settings.ROWS) do
    if row.flag then
      if row.type == "boolean" then
        argv[#argv + 1] = "--" .. row.flag
      else
        argv[#argv + 1] = "--" .. row.flag
        argv[#argv + 1] = text_of(row)
      end
    end
  end
  return argv
end

describe("settings: one set of names for every source", function()
  local dir
  local stub = stub_of{ consumer_secret = "consumer_secret-value" }

  setup(function()
    dir = F.tmpdir()
    os.execute("mkdir -p " .. F.q(dir .. "/coreplus"))
    F.write(dir .. "/coreplus/config", profile_text("every"), "600")
  end)
  teardown(function() os.execute("rm -rf " .. F.q(dir)) end)

  it("names each setting x as option x, COREPLUS_X, key x and --x", function()
    for _, row in ipairs(settings.ROWS) do
      assert.equal("COREPLUS_" .. row.name:upper(), row.env)
      assert.equal(row.name, row.key)
      if row.flag then assert.equal(row.name:gsub("_", "-"), row.flag) end
    end
    local r = settings.row("api_version")
    assert.same({ "version", "COREPLUS_API_VERSION", "api-version" }, { r.option, r.env, r.flag })
    for _, name in ipairs{ "limit_key", "user_agent", "shared_limit", "api_version" } do
      assert.truthy(require("coreplus.cli.args").GLOBAL[settings.row(name).flag], name)
    end
  end)

  it("from_env, from_profile and the CLI (variables, profile, flags) give coreplus.new the same options",
    function()
      local want = expected()
      -- the hand-written core of `want`, so that the spec does not only agree with itself
      assert.same({ "v2", false, "consumer", 7 }, { want.version, want.shared_limit, want.limit_key, want.timeout })

      local by_env = caught(function() coreplus.from_env({ transport = stub }, getenv_of(env_table())) end)
      assert.same(want, setting_options(by_env))

      local xdg = getenv_of{ XDG_CONFIG_HOME = dir }
      local by_profile = caught(function()
        require("coreplus.profile").from_profile("every", { transport = stub }, xdg)
      end)
      assert.same(want, setting_options(by_profile))

      local quiet = { XDG_CONFIG_HOME = dir .. "/none", COREPLUS_PROFILE = false }
      local cli_env = env_table()
      for k, v in pairs(quiet) do cli_env[k] = v end
      local by_cli_env = caught(function() H.main(cli_env, { "locations" }, { transport = stub }) end)
      assert.same(want, setting_options(by_cli_env))

      local by_cli_profile = caught(function()
        H.main({ XDG_CONFIG_HOME = dir }, { "--profile", "every", "locations" }, { transport = stub })
      end)
      assert.same(want, setting_options(by_cli_profile))

      local argv = flags()
      argv[#argv + 1] = "locations"
      local by_cli_flags = caught(function() H.main(quiet, argv, { transport = stub }) end)
      assert.same(want, setting_options(by_cli_flags))
    end)

  it("off and false turn sharing off in every source", function()
    for _, word in ipairs{ "off", "false", "OFF" } do
      local e = { COREPLUS_BASE_URL = "https://a.example", COREPLUS_CONSUMER_ID = "c",
        COREPLUS_CONSUMER_SECRET = "s", COREPLUS_ACCESS_TOKEN = "t", COREPLUS_SHARED_LIMIT = word }
      local o = caught(function() coreplus.from_env({ transport = stub }, getenv_of(e)) end)
      assert.is_false(o.shared_limit, word)
      F.write(dir .. "/coreplus/config", "[p]\nbase_url = https://a.example\nconsumer_id = c\n"
        .. "consumer_secret = s\naccess_token = t\nshared_limit = " .. word .. "\n", "600")
      o = caught(function()
        require("coreplus.profile").from_profile("p", { transport = stub }, getenv_of{ XDG_CONFIG_HOME = dir })
      end)
      assert.is_false(o.shared_limit, word)
      o = caught(function()
        H.main({ XDG_CONFIG_HOME = dir }, { "--profile", "p", "locations" }, { transport = stub })
      end)
      assert.is_false(o.shared_limit, word)
    end
    F.write(dir .. "/coreplus/config", profile_text("every"), "600")
  end)

  it("in the CLI a variable wins over the profile, and a flag over both", function()
    local e = { XDG_CONFIG_HOME = dir, COREPLUS_TIMEOUT = "8", COREPLUS_USER_AGENT = "from-env/1" }
    local o = caught(function()
      H.main(e, { "--profile", "every", "--user-agent", "from-flag/1", "locations" }, { transport = stub })
    end)
    assert.equal(8, o.timeout)
    assert.equal("from-flag/1", o.user_agent)
    assert.equal("issuer-value", o.issuer)
  end)

  it("reads the older names COREPLUS_VERSION and the key version; the new name wins", function()
    local e = { COREPLUS_BASE_URL = "https://a.example", COREPLUS_CONSUMER_ID = "c",
      COREPLUS_CONSUMER_SECRET = "s", COREPLUS_ACCESS_TOKEN = "t", COREPLUS_VERSION = "v3" }
    assert.equal("v3", coreplus.from_env({ transport = stub }, getenv_of(e)).version)
    e.COREPLUS_API_VERSION = "v4"
    assert.equal("v4", coreplus.from_env({ transport = stub }, getenv_of(e)).version)
    assert.equal("version", coreplus.ENV.COREPLUS_API_VERSION)
    assert.equal("version", coreplus.ENV.COREPLUS_VERSION)
    assert.equal("user_agent", coreplus.ENV.COREPLUS_USER_AGENT)
    assert.is_nil(coreplus.ENV.COREPLUS_NEED)
  end)

  it("coreplus.new takes api_version as version, and refuses the two when they differ", function()
    local base = { base_url = "https://a.example", consumer_id = "c", consumer_secret = "s",
      access_token = "t", transport = stub }
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    o.api_version = "v2"
    assert.equal("v2", coreplus.new(o).version)
    o.version = "v2"
    assert.equal("v2", coreplus.new(o).version)
    o.version = "v3"
    assert.has_error(function() coreplus.new(o) end,
      "coreplus.new: options 'version' and 'api_version' are one setting and differ")
  end)

  it("a value of the wrong type is refused, naming where it was given", function()
    local e = { COREPLUS_BASE_URL = "https://a.example", COREPLUS_CONSUMER_ID = "c",
      COREPLUS_CONSUMER_SECRET = "s", COREPLUS_ACCESS_TOKEN = "t", COREPLUS_TIMEOUT = "soon" }
    local ok, err = pcall(coreplus.from_env, { transport = stub }, getenv_of(e))
    assert.is_false(ok)
    assert.matches("COREPLUS_TIMEOUT must be a number (got 'soon')", tostring(err), 1, true)
    local r = H.main({ XDG_CONFIG_HOME = dir }, { "--retries", "many", "locations" }, { transport = stub })
    assert.equal(2, r.code)
    assert.matches("--retries must be a number (got 'many')", r.err, 1, true)
    F.write(dir .. "/coreplus/config", "[p]\nbase_url = https://a.example\nconsumer_id = c\n"
      .. "consumer_secret = s\naccess_token = t\nredis_timeout = long\n", "600")
    ok, err = pcall(require("coreplus.profile").from_profile, "p", nil, getenv_of{ XDG_CONFIG_HOME = dir })
    assert.is_false(ok)
    assert.matches("redis_timeout in profile p must be a number", tostring(err), 1, true)
    F.write(dir .. "/coreplus/config", profile_text("every"), "600")
  end)

  it("a value coreplus.new refuses is named with where it was given, in every source", function()
    local base = { COREPLUS_BASE_URL = "https://a.example", COREPLUS_CONSUMER_ID = "c",
      COREPLUS_CONSUMER_SECRET = "s", COREPLUS_ACCESS_TOKEN = "t", COREPLUS_LIMIT_KEY = "bogus" }
    local ok, err = pcall(coreplus.from_env, { transport = stub }, getenv_of(base))
    assert.is_false(ok)
    assert.matches("option 'limit_key' must be .* %(set by COREPLUS_LIMIT_KEY%)$", tostring(err))
    assert.matches("^spec/settings_spec.lua:%d+: coreplus.new: ", tostring(err))   -- the caller's line, once
    -- an override is the caller's own: no variable to name
    ok, err = pcall(coreplus.from_env, { transport = stub, limit_key = "other" }, getenv_of(base))
    assert.is_false(ok)
    assert.is_nil(tostring(err):find("set by", 1, true), tostring(err))
    F.write(dir .. "/coreplus/config", "[p]\nbase_url = https://a.example\nconsumer_id = c\n"
      .. "consumer_secret = s\naccess_token = t\ntimeout = -1\n\n" .. profile_text("every"), "600")
    ok, err = pcall(require("coreplus.profile").from_profile, "p", { transport = stub },
      getenv_of{ XDG_CONFIG_HOME = dir })
    assert.is_false(ok)
    assert.matches("(set by timeout in profile p)", tostring(err), 1, true)
    local r = H.main({ XDG_CONFIG_HOME = dir }, { "--profile", "every", "--limit-key", "bogus", "locations" },
      { transport = stub })
    assert.equal(2, r.code)
    assert.matches("(set by --limit-key)", r.err, 1, true)
  end)

  it("knows booleans by the usual words", function()
    local row = { type = "boolean" }
    for _, w in ipairs{ "true", "YES", "on", "1" } do assert.is_true(settings.parse(row, w, "x")) end
    for _, w in ipairs{ "false", "no", "Off", "0" } do assert.is_false(settings.parse(row, w, "x")) end
    assert.same({ nil, "X must be true or false (got 'maybe')" }, { settings.parse(row, "maybe", "X") })
  end)

  it("is plain data: it requires nothing", function()
    local f = assert(io.open("lua/coreplus/settings.lua"))
    local text = f:read("a")
    f:close()
    assert.is_nil(text:find("require%s*[%(\"']"))
  end)
end)
