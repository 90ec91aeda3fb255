-- Metrics in the library (coreplus.metrics): every attempt counted by
-- practice, operation, method, status class and error kind; retries, 429s,
-- failures and unknown outcomes; the time sending and waiting for the limit;
-- the server's clock offset; rendered in the Prometheus text format, which
-- Prometheus's own promtool accepts; no secret in any label.
local coreplus = require "coreplus"
local stub_mod = require "coreplus.testing.stub"
local metrics = require "coreplus.metrics"

local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/prometheus.lua")

local CREDS = { consumer_id = "cid-1", consumer_secret = "secret-1", access_token = "tok-1" }

local function client(extra, stub)
  stub = stub or stub_mod.new(CREDS)
  local o = { base_url = "https://coreplus.test", transport = stub, log = function() end,
    random = function() return 0 end, per = 0.01, metrics = metrics.registry() }
  for k, v in pairs(CREDS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  if o.metrics == "default" then o.metrics = nil end
  return coreplus.new(o), stub, o.metrics
end

-- The value of one sample line of a text, by its name and labels as written.
local function sample(text, series)
  local v = text:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)\n")
  return v and tonumber(v)
end

local BOOKING = { startDateTime = "2030-01-01T09:00:00+10:00", endDateTime = "2030-01-01T09:30:00+10:00",
  practitioner = { practitionerId = "p" }, locationId = "l", clients = { { clientId = "c" } } }

describe("metrics: each attempt is counted", function()
  it("by practice, operation, method, status class and error kind", function()
    local cp, stub = client{ practice = "north" }
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      return n == 1 and { status = 429 } or { body = { locations = {} } }
    end)
    stub:on("GET", "Client/c1", { status = 404, body = { result = { { reason = "not found" } } } })
    assert.truthy(cp.locations:list{})
    assert.is_nil(cp.clients:get("c1"))
    local text = cp:metrics()
    local L = 'practice="north",operation="locations:list",method="GET"'
    assert.equal(1, sample(text, 'coreplus_requests_total{' .. L .. ',status_class="4xx",error="rate_limited"}'))
    assert.equal(1, sample(text, 'coreplus_requests_total{' .. L .. ',status_class="2xx",error="none"}'))
    assert.equal(1, sample(text, 'coreplus_rate_limited_total{' .. L .. '}'))
    assert.equal(1, sample(text, 'coreplus_retries_total{' .. L .. ',reason="rate_limited"}'))
    assert.equal(2, sample(text, 'coreplus_request_duration_seconds_count{' .. L .. '}'))
    local G = 'practice="north",operation="clients:get",method="GET"'
    assert.equal(1, sample(text, 'coreplus_requests_total{' .. G .. ',status_class="4xx",error="not_found"}'))
    assert.equal(1, sample(text, 'coreplus_failures_total{' .. G .. ',error="not_found"}'))
    assert.is_nil(sample(text, 'coreplus_failures_total{' .. L .. ',error="rate_limited"}'))
  end)

  it("names the operation: <resource>:<op>, pages fetched ahead as list, cp:request as request or its own", function()
    local cp, stub = client{ concurrency = 2 }
    stub:on("GET", "Client/", function(req)
      local page = tonumber(req.query.pageNumber) or 1
      return { body = { clients = { { clientId = "c" .. page } }, paging = { totalRows = 3, pageSize = 1 } } }
    end)
    stub:on("POST", "Appointment/", { body = { appointment = { appointmentId = "a1" } } })
    stub:on("GET", "Payment/", { body = { lineItems = {} } })
    local seen = 0
    for _ in cp.clients:each{ pageSize = 1 } do seen = seen + 1 end
    assert.equal(3, seen)
    assert.truthy(cp.appointments:book(BOOKING))
    assert.truthy(cp:request("GET", "Payment/", { query = { invoiceId = "i" } }))
    assert.truthy(cp:request("GET", "Payment/", { query = { invoiceId = "i" }, operation = "payments:by_invoice" }))
    local text = cp:metrics()
    local function count(op, method)
      return sample(text, ('coreplus_requests_total{practice="default",operation="%s",method="%s",'
        .. 'status_class="2xx",error="none"}'):format(op, method))
    end
    assert.equal(3, count("clients:list", "GET"))
    assert.equal(1, count("appointments:book", "POST"))
    assert.equal(1, count("request", "GET"))
    assert.equal(1, count("payments:by_invoice", "GET"))
    assert.has_error(function() cp:request("GET", "Payment/", { operation = "a\tb" }) end)
  end)

  it("counts an unknown outcome once, as a failure of its kind, and never a retry", function()
    local cp, stub = client{ practice = "p1" }
    stub:on("POST", "Appointment/", { error = { kind = "network", sent = true, message = "connection reset" } })
    local appt, err = cp.appointments:book(BOOKING)
    assert.is_nil(appt)
    assert.equal("unknown", err.outcome)
    local text = cp:metrics()
    local B = 'practice="p1",operation="appointments:book",method="POST"'
    assert.equal(1, sample(text, 'coreplus_unknown_outcomes_total{' .. B .. '}'))
    assert.equal(1, sample(text, 'coreplus_failures_total{' .. B .. ',error="network"}'))
    assert.equal(1, sample(text, 'coreplus_requests_total{' .. B .. ',status_class="none",error="network"}'))
    assert.is_nil(text:find("coreplus_retries_total{", 1, true))
  end)

  it("takes the limiter's wait out of the duration and counts it on its own", function()
    local t = 1000
    local transport = { name = "fake", request = function()
      t = t + 0.4   -- 0.3 s waiting for the limit, then 0.1 s on the wire
      return { status = 200, headers = {}, body = '{"locations": []}', waited = 0.3 }
    end }
    local cp = client{ transport = transport, now = function() return t end, sleep = function() end }
    assert.truthy(cp.locations:list{})
    local text = cp:metrics()
    local L = 'practice="default",operation="locations:list",method="GET"'
    assert.equal(0, sample(text, 'coreplus_request_duration_seconds_bucket{' .. L .. ',le="0.05"}'))
    assert.equal(1, sample(text, 'coreplus_request_duration_seconds_bucket{' .. L .. ',le="0.25"}'))
    assert.near(0.1, sample(text, 'coreplus_request_duration_seconds_sum{' .. L .. '}'), 1e-9)
    assert.equal(0, sample(text, 'coreplus_limiter_wait_seconds_bucket{practice="default",le="0.25"}'))
    assert.equal(1, sample(text, 'coreplus_limiter_wait_seconds_bucket{practice="default",le="0.5"}'))
    assert.near(0.3, sample(text, 'coreplus_limiter_wait_seconds_sum{practice="default"}'), 1e-9)
  end)

  it("shows the server's clock offset learnt from Date", function()
    local stub = stub_mod.new{ consumer_id = CREDS.consumer_id, consumer_secret = CREDS.consumer_secret,
      access_token = CREDS.access_token, skew = 120 }
    local cp = client({ practice = "skewed" }, stub)
    stub:on("GET", "Location/", { body = { locations = {} } })
    assert.truthy(cp.locations:list{})
    local offset = sample(cp:metrics(), 'coreplus_server_clock_offset_seconds{practice="skewed"}')
    assert.is_true(offset > 118 and offset <= 120, tostring(offset))
  end)
end)

describe("metrics: where counts are kept", function()
  it("adds up clients of one practice in one registry, and keeps practices apart", function()
    local reg = metrics.registry()
    local a, sa = client{ practice = "a", metrics = reg }
    local a2, sa2 = client{ practice = "a", metrics = reg }
    local b, sb = client{ practice = "b", metrics = reg }
    for _, s in ipairs{ sa, sa2, sb } do s:on("GET", "Location/", { body = { locations = {} } }) end
    for _, cp in ipairs{ a, a2, b, b } do assert.truthy(cp.locations:list{}) end
    local text = metrics.render(reg)
    local S = 'coreplus_requests_total{practice="%s",operation="locations:list",method="GET",'
      .. 'status_class="2xx",error="none"}'
    assert.equal(2, sample(text, S:format("a")))
    assert.equal(2, sample(text, S:format("b")))
    assert.is_nil(a:metrics():find('practice="b"', 1, true))
    -- two registries rendered together: the same series added up, never written twice
    local reg2 = metrics.registry()
    local c, sc = client{ practice = "a", metrics = reg2 }
    sc:on("GET", "Location/", { body = { locations = {} } })
    assert.truthy(c.locations:list{})
    local both = metrics.render(reg, reg2)
    assert.equal(3, sample(both, S:format("a")))
    local _, lines = both:gsub("\ncoreplus_requests_total{practice=\"a\"", "")
    assert.equal(1, lines)
  end)

  it("records into the process's registry by default, and nothing with metrics = false", function()
    local cp, stub = client{ practice = "process-default-spec", metrics = "default" }
    stub:on("GET", "Location/", { body = { locations = {} } })
    local off, soff = client{ practice = "process-off-spec", metrics = false }
    soff:on("GET", "Location/", { body = { locations = {} } })
    assert.truthy(cp.locations:list{})
    assert.truthy(off.locations:list{})
    local text = coreplus.metrics.render()
    assert.truthy(text:find('practice="process-default-spec"', 1, true))
    assert.is_nil(text:find('practice="process-off-spec"', 1, true))
    assert.is_nil(off:metrics():find("\ncoreplus_requests_total{", 1, true))
    assert.equal(metrics.default, coreplus.metrics.default)
  end)

  it("refuses a registry that is not one, by name", function()
    assert.has_error(function() client{ metrics = {} } end,
      "coreplus.new: option 'metrics' must be a registry (coreplus.metrics.registry()) or false")
    assert.has_error(function() metrics.render({}) end)
  end)
end)

describe("metrics: labels never carry a secret", function()
  it("defaults the practice to \"default\", and refuses a token or secret as the practice", function()
    assert.equal("default", (client()).practice)
    assert.equal("north", (client{ practice = "north" }).practice)
    for _, secret in ipairs{ CREDS.access_token, CREDS.consumer_secret } do
      local ok, err = pcall(client, { practice = secret })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("must not be the access token or the consumer secret", 1, true))
      assert.is_nil(tostring(err):find(secret, 1, true))
    end
    for _, bad in ipairs{ "", "a\tb", ("x"):rep(129) } do
      assert.has_error(function() client{ practice = bad } end)
    end
  end)

  it("takes the practice from COREPLUS_PRACTICE, and from the profile's name in from_profile", function()
    local env = { COREPLUS_BASE_URL = "https://coreplus.test", COREPLUS_CONSUMER_ID = CREDS.consumer_id,
      COREPLUS_CONSUMER_SECRET = CREDS.consumer_secret, COREPLUS_ACCESS_TOKEN = CREDS.access_token }
    local function getenv(extra)
      return function(k) return (extra or {})[k] or env[k] end
    end
    assert.equal("default", coreplus.from_env({ transport = stub_mod.new(CREDS) }, getenv()).practice)
    assert.equal("east", coreplus.from_env({ transport = stub_mod.new(CREDS) },
      getenv{ COREPLUS_PRACTICE = "east" }).practice)
    local dir = F.tmpdir()
    os.execute("mkdir -p " .. F.q(dir .. "/coreplus"))
    F.write(dir .. "/coreplus/config", table.concat({ "[north-clinic]", "base_url = https://coreplus.test",
      "consumer_id = cid-1", "consumer_secret = secret-1", "access_token = tok-1",
      "[south]", "base_url = https://coreplus.test", "consumer_id = cid-1", "consumer_secret = secret-1",
      "access_token = tok-1", "practice = south-clinic", "" }, "\n"), "600")
    local xdg = getenv{ XDG_CONFIG_HOME = dir }
    local profile = require "coreplus.profile"
    local ok, north = pcall(profile.from_profile, "north-clinic", { transport = stub_mod.new(CREDS) }, xdg)
    local ok2, south = pcall(profile.from_profile, "south", { transport = stub_mod.new(CREDS) }, xdg)
    os.execute("rm -rf " .. F.q(dir))
    assert(ok, north)
    assert(ok2, south)
    assert.equal("north-clinic", north.practice)
    assert.equal("south-clinic", south.practice)
  end)

  it("shows no credential anywhere in the text, whatever happened", function()
    local cp, stub = client{ practice = "clinic" }
    stub:on("GET", "Location/", { status = 401, body = { result = { { reason = "Invalid token" } } } })
    stub:on("POST", "Appointment/", { error = { kind = "timeout", sent = true, message = "timed out" } })
    cp.locations:list{}
    cp.appointments:book(BOOKING)
    local text = cp:metrics()
    for _, v in pairs(CREDS) do assert.is_nil(text:find(v, 1, true), v) end
  end)
end)

describe("metrics: the text format", function()
  it("escapes label values as the format asks", function()
    local cp, stub = client{ practice = 'the "best" \\ clinic' }
    stub:on("GET", "Location/", { body = { locations = {} } })
    assert.truthy(cp.locations:list{})
    assert.truthy(cp:metrics():find('practice="the \\"best\\" \\\\ clinic"', 1, true))
  end)

  it("passes promtool check metrics with every family in it", function()
    if not P.available() then
      pending("promtool is not installed (Debian package prometheus: scripts/debian-packages.txt)")
      return
    end
    local reg = metrics.registry()
    local cp, stub = client{ practice = 'north "A"', metrics = reg }
    local n = 0
    stub:on("GET", "Location/", function()
      n = n + 1
      return n == 1 and { status = 429 } or n == 2 and { status = 503 } or { body = { locations = {} } }
    end)
    stub:on("POST", "Appointment/", { error = { kind = "network", sent = true, message = "reset" } })
    assert.truthy(cp.locations:list{})
    cp.appointments:book(BOOKING)
    local text = metrics.render(reg)
    for _, family in ipairs(require("coreplus.metrics.families").list) do
      if family.group == nil then
        assert.truthy(text:find("\n" .. family.name .. "[_{ ]"), family.name .. " has no series")
      end
    end
    assert.equal("rc=0\n", P.check_metrics(text))
  end)
end)
