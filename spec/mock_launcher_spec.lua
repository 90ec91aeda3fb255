-- Starting and stopping the mock: fast, isolated, clean; skew; TLS; CLI.
local testing = require "coreplus.testing"
local core = require "coreplus.core"
local H = dofile("spec/support/mock_http.lua")

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return not stat:match("^%d+ %b() [ZX]")
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function parse_http_date(s)
  local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
    Nov = 11, Dec = 12 }
  local d, mon, y, hh, mm, ss = s:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  assert(d, "not an RFC 1123 date: " .. tostring(s))
  -- Days from civil (UTC) without os.time's local zone.
  y, mon, d = tonumber(y), months[mon], tonumber(d)
  local yy = mon <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local doy = (153 * ((mon + 9) % 12) + 2) // 5 + d - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  return days * 86400 + hh * 3600 + mm * 60 + ss
end

describe("mock server launcher", function()
  it("starts in under 2 seconds and answers over HTTPS with its own CA", function()
    local t = core.now()
    local mock = testing.server{}
    local took = core.now() - t
    local res = H.get(mock, "Location/")
    mock:stop()
    assert.is_true(took < 2, "took " .. took)
    assert.are.equal(200, res.status)
    assert.truthy(mock.base_url:match("^https://127%.0%.0%.1:%d+$"))
  end)

  it("gives fresh credentials per instance and runs two instances at once", function()
    local a = testing.server{ tls = false }
    local b = testing.server{}
    assert.are_not.equal(a.port, b.port)
    assert.are_not.equal(a.consumer_secret, b.consumer_secret)
    assert.are_not.equal(a.access_token, b.access_token)
    assert.are.equal(200, H.get(a, "Location/").status)
    assert.are.equal(200, H.get(b, "Location/").status)
    -- One instance's credentials mean nothing to the other.
    local url = b:url("Location/")
    local res = H.get(b, "Location/", { token = H.sign(a, "GET", url) })
    a:stop()
    b:stop()
    assert.are.equal(401, res.status)
  end)

  it("stop leaves no process and no file behind", function()
    local mock = testing.server{ workers = 2 }
    local pid, prefix = mock.pid, mock.prefix
    assert.is_true(alive(pid))
    assert.is_true(exists(prefix .. "/nginx.conf"))
    mock:stop()
    assert.is_false(alive(pid))
    assert.is_false(exists(prefix))
    mock:stop()   -- idempotent
  end)

  it("listens on 127.0.0.1 only", function()
    local mock = testing.server{ tls = false }
    local conf = io.open(mock.prefix .. "/nginx.conf"):read("a")
    mock:stop()
    local listens = 0
    for addr in conf:gmatch("listen ([^;]+);") do
      listens = listens + 1
      assert.truthy(addr:match("^127%.0%.0%.1:%d+"), addr)
    end
    assert.are.equal(1, listens)
  end)

  it("sends a correct Date header, shifted by skew, and checks tokens against that clock", function()
    local plain = testing.server{ tls = false }
    local skewed = testing.server{ tls = false, skew = 3600 }
    local r1 = H.get(plain, "Location/")
    local r2 = H.get(skewed, "Location/")
    local url = skewed:url("Location/")
    local r3 = H.get(skewed, "Location/", { token = H.sign(skewed, "GET", url, { now = os.time() + 3600 }) })
    plain:stop()
    skewed:stop()
    assert.is_true(math.abs(parse_http_date(r1.headers["date"]) - os.time()) <= 2)
    assert.is_true(math.abs(parse_http_date(r2.headers["date"]) - (os.time() + 3600)) <= 2)
    -- Signed with the local clock, the token is an hour old for the server.
    assert.are.equal(401, r2.status)
    assert.are.equal(200, r3.status)
  end)

  it("serves an expired certificate or one for another host name on request", function()
    for variant, pattern in pairs{ expired = "expired", wrong_host = "certificate" } do
      local mock = testing.server{ tls_variant = variant }
      local p = io.popen(H.CLEAN .. "curl -sS --max-time 5 --cacert " .. H.q(mock.cafile) .. " " ..
        H.q(mock.base_url .. "/__mock/health") .. " 2>&1; echo \" rc=$?\"")
      local out = p:read("a")
      p:close()
      mock:stop()
      assert.truthy(out:find(pattern, 1, true), variant .. ": " .. out)
      assert.truthy(out:match("rc=(%d+)") == "60", out)
    end
  end)

  it("fails fast on a port in use and leaves nothing behind", function()
    local a = testing.server{ tls = false }
    local before = io.popen("ls -d /tmp/coreplus-mock.* 2>/dev/null | wc -l"):read("a")
    local t = core.now()
    local ok, err = pcall(testing.server, { tls = false, port = a.port })
    local took = core.now() - t
    local after = io.popen("ls -d /tmp/coreplus-mock.* 2>/dev/null | wc -l"):read("a")
    a:stop()
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Address already in use", 1, true))
    assert.is_true(took < 2, "took " .. took)
    assert.are.equal(before, after)
  end)

  it("refuses unknown options by name", function()
    assert.has_error(function() testing.server{ colour = "blue" } end,
      "coreplus.testing.server: unknown option 'colour'")
  end)

  it("builds a coreplus client for itself", function()
    local mock = testing.server{}
    local seen
    package.loaded["coreplus"] = { new = function(o) seen = o; return o end }
    local ok, err = pcall(function() mock:client{ retries = 0 } end)
    package.loaded["coreplus"] = nil
    mock:stop()
    assert.is_true(ok, err)
    assert.are.equal(mock.base_url, seen.base_url)
    assert.are.equal(mock.cafile, seen.cafile)
    assert.are.equal(mock.consumer_secret, seen.consumer_secret)
    assert.are.equal(0, seen.retries)
    assert.is_false(seen.allow_http)
  end)

  it("waits for the pid in nginx's pid file, which nginx creates empty first", function()
    -- An nginx that is slow between creating the pid file and writing it:
    -- read in between, the empty file once made the launcher give up on a
    -- live nginx (and wait for it forever).
    local fake = os.tmpname()
    local f = assert(io.open(fake, "w"))
    f:write('#!/bin/sh\n: >"${2}nginx.pid"\nsleep 0.3\nexec ', testing.nginx, ' "$@"\n')
    f:close()
    os.execute("chmod +x " .. H.q(fake))
    local real = testing.nginx
    testing.nginx = fake
    finally(function() testing.nginx = real; os.remove(fake) end)
    local mock = testing.server{ tls = false }
    local pid = mock.pid
    local res = H.get(mock, "Location/")
    mock:stop()
    assert.are.equal(200, res.status)
    assert.is_false(alive(pid))
  end)
end)

describe("coreplus-mock CLI", function()
  it("start prints export lines and leaves the server running; stop ends it", function()
    local p = io.popen(H.CLEAN .. "bin/coreplus-mock start --plain --skew 5 --clients 10 --seed 3")
    local out = p:read("a")
    p:close()
    local env = {}
    for k, v in out:gmatch("export ([%w_]+)=([^\n]*)") do env[k] = v:gsub("^'(.*)'$", "%1") end
    for _, k in ipairs{ "COREPLUS_BASE_URL", "COREPLUS_CONSUMER_ID", "COREPLUS_CONSUMER_SECRET",
                        "COREPLUS_ACCESS_TOKEN", "COREPLUS_RESTRICTED_ACCESS_TOKEN", "COREPLUS_CAFILE",
                        "COREPLUS_MOCK_PID", "COREPLUS_MOCK_PREFIX" } do
      assert.is_not_nil(env[k], k .. " in " .. out)
    end
    local mock = setmetatable({ base_url = env.COREPLUS_BASE_URL, consumer_id = env.COREPLUS_CONSUMER_ID,
      consumer_secret = env.COREPLUS_CONSUMER_SECRET, access_token = env.COREPLUS_ACCESS_TOKEN,
      api_url = env.COREPLUS_BASE_URL .. "/API/Core/v2.1/" },
      { __index = { url = function(self, path) return self.api_url .. path end } })
    local res = H.get(mock, "Client/", { token = H.sign(mock, "GET", mock:url("Client/"), { now = os.time() + 5 }) })
    local pid = tonumber(env.COREPLUS_MOCK_PID)
    assert.is_true(alive(pid))
    assert.is_true(os.execute(H.CLEAN .. "COREPLUS_MOCK_PID=" .. pid .. " COREPLUS_MOCK_PREFIX=" ..
      env.COREPLUS_MOCK_PREFIX .. " bin/coreplus-mock stop"))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(10, res.json.paging.totalRows)
    assert.is_false(alive(pid))
    assert.is_false(exists(env.COREPLUS_MOCK_PREFIX))
  end)

  it("rejects unknown options", function()
    local ok = os.execute(H.CLEAN .. "bin/coreplus-mock start --bogus 2>/dev/null")
    assert.is_falsy(ok)
  end)
end)
