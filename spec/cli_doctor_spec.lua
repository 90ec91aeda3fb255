-- coreplus doctor: each cause it names, with its exit status (1 when a check
-- FAILs, 0 with WARNs only).
local testing = require "coreplus.testing"
local cjson = require "cjson.safe"
local H = dofile("spec/support/cli.lua")

local function by_check(out)
  local t = {}
  for _, c in ipairs(assert(cjson.decode(out), out)) do t[c.check] = c end
  return t
end

describe("coreplus doctor", function()
  local mock, env
  H.use_mock(setup, teardown, { tls = true }, function(m, e) mock, env = m, e end)

  it("names a blocked User-Agent and the setting to fix it (1)", function()
    local r = H.run(env, "doctor", "--user-agent", "curl/8.5.0", "--json")
    assert.equal(1, r.code)
    H.one_line_error(r)
    local c = by_check(r.out)
    assert.equal("fail", c["GET Location/"].status)
    assert.truthy(c["GET Location/"].detail:find("blocked_user_agent", 1, true))
    assert.equal("fail", c.diagnosis.status)
    assert.truthy(c.diagnosis.cause:find("--user-agent", 1, true))
    assert.truthy(c.diagnosis.cause:find("COREPLUS_USER_AGENT", 1, true))
    assert.truthy(r.err:find("User-Agent", 1, true))
  end)

  it("warns (0) without an issuer, or with one that is not an http(s) URL", function()
    for issuer, status in pairs{ [false] = "warn", ["lua-coreplus"] = "warn", ["myapp.example"] = "warn",
      ["https://myapp.example"] = "ok", ["http://myapp.example/"] = "ok" } do
      local r = issuer and H.run(env, "doctor", "--json", "--issuer", issuer) or H.run(env, "doctor", "--json")
      assert.equal(0, r.code, r.out)
      local c = by_check(r.out).issuer
      assert.equal(status, c.status, tostring(issuer))
      if status == "warn" then assert.matches("your company's URL", c.cause, 1, true) end
    end
  end)

  it("a User-Agent of the app's own passes (0), and is shown", function()
    local r = H.run(env, "doctor", "--json", "--user-agent", "spec-practice-sync/1.0")
    assert.equal(0, r.code, r.out)
    assert.truthy(by_check(r.out).user_agent.detail:find("spec-practice-sync/1.0", 1, true))
  end)

  describe("--need", function()
    local restricted

    setup(function()
      restricted = H.env_of(mock, { COREPLUS_ACCESS_TOKEN = mock.restricted_access_token })
    end)

    it("a forbidden endpoint that is not needed only WARNs (0)", function()
      local r = H.run(restricted, "doctor", "--need", "appointments,slots,locations,practitioners", "--json")
      assert.equal(0, r.code, r.out)
      local c = by_check(r.out)
      assert.equal("warn", c["GET Client/"].status)
      assert.truthy(c["GET Client/"].cause:find("VIEW_CLIENTLIST", 1, true))
      assert.equal("ok", c["GET Appointment/"].status)
    end)

    it("a forbidden endpoint that is needed FAILs (1), by command, catalogue or path name", function()
      for _, need in ipairs({ "clients", "Client/", "clients,appointment-types" }) do
        local r = H.run(restricted, "doctor", "--need", need)
        assert.equal(1, r.code, need)
        assert.truthy(r.out:match("FAIL%s+GET Client/"), need)
      end
    end)

    it("the profile's need = does the same", function()
      local dir = mock.prefix .. "/need-home"
      os.execute("mkdir -p " .. H.q(dir .. "/coreplus"))
      H.write(dir .. "/coreplus/config", "[addon]\nneed = appointments, locations\n", "600")
      local r = H.run(H.env_of(mock, { COREPLUS_ACCESS_TOKEN = mock.restricted_access_token,
        XDG_CONFIG_HOME = dir }), "--profile", "addon", "doctor")
      assert.equal(0, r.code, r.out)
      assert.truthy(r.out:match("WARN%s+GET Client/"))
    end)

    it("an unknown name is a usage error (2) that lists the known ones", function()
      local r = H.run(env, "doctor", "--need", "clinets")
      assert.equal(2, r.code)
      H.one_line_error(r)
      assert.truthy(r.err:find("clients", 1, true))
    end)
  end)

  it("0 practitioners WARNs (0), naming Setup > Settings > User Profile > Publish", function()
    local curl = require "coreplus.transport.curl"
    local none = setmetatable({ request = function(opts)
      local res, err = curl.request(opts)
      if res and opts.url:find("/Practitioner/", 1, true) then
        res.body = '{"practitioners":[],"paging":{"totalRows":0,"pageNumber":1,"pageSize":1},"statusMessages":[]}'
      end
      return res, err
    end }, { __index = curl })
    local r = H.main(env, { "doctor", "--json" }, { transport = none })
    assert.equal(0, r.code, r.out .. r.err)
    local c = by_check(r.out)
    assert.equal("warn", c["GET Practitioner/"].status)
    assert.truthy(c["GET Practitioner/"].cause:find("Setup > Settings > User Profile > Publish", 1, true))
  end)

  it("a whole number of hours of clock offset says local time is sent as UTC (0: calls still work)", function()
    local skewed = testing.server{ tls = true, skew = 3600 }
    local ok, err = pcall(function()
      local r = H.run(H.env_of(skewed), "doctor")
      assert.equal(0, r.code, r.out)
      assert.truthy(r.out:match("WARN%s+clock"), r.out)
      assert.truthy(r.out:find("clock offset +3600 s", 1, true))
      assert.truthy(r.out:find("local time is being sent as UTC", 1, true))
    end)
    skewed:stop()
    assert(ok, err)
  end)

  it("an offset that is not whole hours gives no such hint", function()
    local skewed = testing.server{ tls = true, skew = 300 }
    local ok, err = pcall(function()
      local r = H.run(H.env_of(skewed), "doctor")
      assert.equal(0, r.code)
      assert.falsy(r.out:find("sent as UTC", 1, true))
    end)
    skewed:stop()
    assert(ok, err)
  end)

  describe("sandbox and production mix-ups", function()
    -- A server that refuses every token, as production refuses sandbox
    -- credentials; no network: the base URL only names the host.
    local function refusing()
      return { request = function()
        return { status = 401, headers = { date = os.date("!%a, %d %b %Y %H:%M:%S GMT") },
          body = '{"result":[{"reason":"Invalid token","severity":3}]}', elapsed = 0 }
      end }
    end

    local function profile_env(name, base_url)
      local dir = mock.prefix .. "/mix-" .. name
      os.execute("mkdir -p " .. H.q(dir .. "/coreplus"))
      H.write(dir .. "/coreplus/config", ("[%s]\nbase_url = %s\nconsumer_id = c-id\nconsumer_secret = s3cr3t-s3cr3t\n"
        .. "access_token = t0k3n-t0k3n-t0k3n\n"):format(name, base_url), "600")
      return { XDG_CONFIG_HOME = dir, COREPLUS_PROFILE = name }
    end

    it("sandbox credentials on production: the diagnosis says so (1)", function()
      local r = H.main(profile_env("prod", "https://api.coreplus.com.au"), { "doctor", "--json" },
        { transport = refusing() })
      assert.equal(1, r.code)
      local c = by_check(r.out)
      -- in the words of the FAQ's cause, as `coreplus explain` names it
      assert.truthy(c.diagnosis.cause:find(require("coreplus.errors").causes.environment.name, 1, true))
    end)

    it("a profile named sandbox that points at production WARNs", function()
      local r = H.main(profile_env("sandbox", "https://api.coreplus.com.au"), { "doctor", "--json" },
        { transport = refusing() })
      assert.equal(1, r.code)
      local c = by_check(r.out)
      assert.equal("warn", c.profile.status)
      assert.truthy(c.profile.detail:find("points at production", 1, true))
    end)
  end)

  it("a shared limit that fails says why and what to do, not only its kind (1)", function()
    -- nothing listens on port 1: every request fails in the limiter, unsent
    local r = H.run(env, "doctor", "--json", "--shared-limit", "redis://:pw@127.0.0.1:1/0", "--on-redis-error", "fail")
    assert.equal(1, r.code, r.err)
    local c = by_check(r.out)["GET Location/"]
    assert.equal("fail", c.status)
    assert.matches("^limiter: redis://:%*%*%*@127%.0%.0%.1:1/0", c.detail)
    assert.matches("on_redis_error", c.cause, 1, true)
    assert.is_nil(r.out:find(":pw@", 1, true))
    assert.equal("fail", by_check(r.out).shared_limit.status)
  end)

  it("names the shared limit, and WARNs (0) when Redis does not answer and each process limits alone", function()
    local r = H.run(env, "doctor", "--json", "--shared-limit", "redis://:pw@127.0.0.1:1/0")
    assert.equal(0, r.code, r.out)
    local c = by_check(r.out)
    assert.equal("ok", c["GET Location/"].status)   -- on_redis_error = "local": the calls go on
    assert.equal("warn", c.shared_limit.status)
    assert.matches("redis://:***@127.0.0.1:1/0: Redis did not answer", c.shared_limit.detail, 1, true)
    r = H.run(env, "doctor", "--json")
    c = by_check(r.out).shared_limit
    assert.equal("ok", c.status)
    assert.equal("the file " .. env.COREPLUS_SHARED_LIMIT, c.detail)
  end)

  it("--json is one array of {check, status, detail, cause} for monitoring", function()
    local r = H.run(env, "doctor", "--json")
    assert.equal(0, r.code)
    local list = cjson.decode(r.out)
    assert.truthy(#list > 10)
    for _, c in ipairs(list) do
      assert.is_string(c.check)
      assert.truthy(({ ok = true, warn = true, fail = true, skip = true })[c.status])
    end
  end)
end)
