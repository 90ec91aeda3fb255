-- The Redis that teams run (issue 29): TLS with a private CA (and mutual
-- TLS), ACL users, a Cluster reached through a node that does not own the
-- key, a master found through Sentinel and found again after a failover.
-- Real servers on loopback ports (spec/support/redis.lua, redis_topology.lua),
-- started and stopped here; about 25 s. The same through OpenResty is in
-- spec/redis_ngx_deploy_spec.lua.
local core = require "coreplus.core"
local coreplus = require "coreplus"
local testing = require "coreplus.testing"
local Redis = dofile("spec/support/redis.lua")
local T = dofile("spec/support/redis_topology.lua")
local F = dofile("spec/support/files.lua")

local key = Redis.keys("redis_deploy_spec")

local function limiter(url, o)
  local opts = { rate = 3, per = 1, margin = 0.025, key = key("l"), shared = url, on_redis_error = "fail",
    redis_timeout = 2 }
  for k, v in pairs(o or {}) do opts[k] = v end
  return core.limiter(opts)
end

-- Three bookings at once, the fourth a window later: the window is in Redis.
local function works(l)
  for i = 1, 3 do
    local d, err = l:reserve()
    assert(d, tostring(err))
    assert.near(0, d, 0.05, "booking " .. i)
  end
  assert.near(1.025, (l:reserve()), 0.05)
  assert.is_true(l:stats().redis_connected)
end

local function refused(l, pattern)
  local d, err = l:reserve()
  assert.is_nil(d)
  assert.equals("limiter", err.kind)
  assert.matches(pattern, err.message)
  return err.message
end

-- Runs `code` in a child lua5.4; returns its stdout and stderr.
local function child(code)
  local script, errf = F.tmpname(), F.tmpname()
  F.write(script, code)
  local out = F.capture(("LUA_CPATH=%s LUA_PATH=%s lua5.4 %s 2>%s"):format(F.q(package.cpath),
    F.q(package.path), F.q(script), F.q(errf)))
  local err = F.read(errf) or ""
  os.remove(script); os.remove(errf)
  return out, err
end

describe("rediss://: TLS to Redis", function()
  local certs, server

  setup(function()
    certs = Redis.certs()
    server = Redis.new()
    server:start{ tls = certs, users = { "alice on >s3cret ~* &* +@all" } }
  end)

  teardown(function()
    if server then server:stop() end
    Redis.remove_certs(certs)
  end)

  it("verifies the server against redis_cafile, by address or by name", function()
    works(limiter(server.url, { redis_cafile = certs.ca }))
    works(limiter(("rediss://localhost:%d/0"):format(server.port), { redis_cafile = certs.ca }))
  end)

  it("refuses a server the system's CAs or another CA do not vouch for", function()
    refused(limiter(server.url), "certificate was refused")
    refused(limiter(server.url, { redis_cafile = certs.other_ca }), "certificate was refused")
  end)

  it("verifies nothing only with redis_insecure = true, and says so once", function()
    local out, err = child(([[
      local core = require "coreplus.core"
      for i = 1, 3 do
        local l = core.limiter{ key = "insecure " .. i, shared = %q, redis_insecure = true,
          on_redis_error = "fail" }
        local d, e = l:reserve()
        print(d and "ok" or e.message)
      end]]):format(server.url))
    assert.equals("ok\nok\nok\n", out)
    assert.equals(1, select(2, err:gsub("redis_insecure = true: the certificate of", "")), err)
  end)

  it("logs in an ACL user (user:password@), and refuses a wrong password without showing it", function()
    local url = server.url:gsub("rediss://", "rediss://alice:s3cret@")
    works(limiter(url, { redis_cafile = certs.ca }))
    local msg = refused(limiter(server.url:gsub("rediss://", "rediss://alice:hunter2@"),
      { redis_cafile = certs.ca }), "AUTH refused")
    assert.is_nil(msg:find("hunter2", 1, true))
    assert.matches("rediss://alice:***@", msg, 1, true)
  end)

  it("names the option for TLS files that cannot be used", function()
    assert.error_matches(function() limiter(server.url, { redis_cafile = "/nonexistent/ca.crt" }) end,
      "bad field 'redis_cafile'")
    assert.error_matches(function() limiter(server.url, { redis_certfile = certs.client_cert }) end,
      "redis_certfile and redis_keyfile go together")
    assert.error_matches(function()
      coreplus.new{ base_url = "https://x.example", consumer_id = "c", consumer_secret = "s",
        access_token = "t", shared_limit = server.url, redis_keyfile = certs.ca, redis_certfile = certs.ca }
    end, "option 'redis_keyfile'")
  end)
end)

describe("rediss:// across processes (against the mock)", function()
  local certs, server, mock
  local children = dofile("spec/support/limit_children.lua")

  setup(function()
    certs = Redis.certs()
    server = Redis.new()
    server:start{ tls = certs, users = { "alice on >s3cret ~* &* +@all" } }
    mock = testing.server{ tls = true }
  end)

  teardown(function()
    if mock then mock:stop() end
    if server then server:stop() end
    Redis.remove_certs(certs)
  end)

  it("two processes share one limit over rediss:// with a private CA: 0 x 429, at most 10 a second", function()
    local url = server.url:gsub("rediss://", "rediss://alice:s3cret@")
    local st, outs, wall = children.run(mock, { procs = 2, count = 25,
      options = { shared_limit = url, redis_cafile = certs.ca, on_redis_error = "fail" } })
    if os.getenv("COREPLUS_SPEC_VERBOSE") then
      io.stderr:write(("# rediss://, 2 processes x 25: wall %.2f s, %d requests, max %d in a second, "
        .. "%d x 429\n"):format(wall, st.requests, st.max_in_window, st.rate_limited))
    end
    for i, o in ipairs(outs) do assert.equals(25, o.ok, "child " .. i .. ": " .. o.raw .. o.stderr) end
    assert.equals(50, st.requests)
    assert.equals(0, st.rate_limited)
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. st.max_in_window)
  end)

  it("against a wrong CA the same processes send nothing, and say why", function()
    local st, outs = children.run(mock, { procs = 2, count = 3,
      options = { shared_limit = server.url, redis_cafile = certs.other_ca, on_redis_error = "fail" } })
    for i, o in ipairs(outs) do
      assert.equals(3, o.limiter, "child " .. i .. ": " .. o.raw .. o.stderr)
    end
    assert.equals(0, st.requests)
  end)
end)

describe("mutual TLS", function()
  local certs, server

  setup(function()
    certs = Redis.certs()
    certs.clients = "yes"
    server = Redis.new()
    server:start{ tls = certs }
  end)

  teardown(function()
    if server then server:stop() end
    Redis.remove_certs(certs)
  end)

  it("shows redis_certfile and redis_keyfile to a server that asks for a client", function()
    refused(limiter(server.url, { redis_cafile = certs.ca }), ".")
    works(limiter(server.url, { redis_cafile = certs.ca, redis_certfile = certs.client_cert,
      redis_keyfile = certs.client_key }))
  end)
end)

describe("the old AUTH (:password@)", function()
  local server

  setup(function()
    server = Redis.new()
    server:start{ password = "p@ss" }
  end)

  teardown(function()
    if server then server:stop() end
  end)

  it("sends AUTH password alone", function()
    works(limiter(("redis://:p%%40ss@127.0.0.1:%d/0"):format(server.port)))
    works(limiter(("redis://p@ss@127.0.0.1:%d/0"):format(server.port)))
  end)
end)

describe("a Redis Cluster", function()
  local cluster

  -- the keys a node holds in the slot of Redis key w
  local function keys_in_slot(node, w)
    return tonumber(F.capture(node:cli(("CLUSTER COUNTKEYSINSLOT %d"):format(
      core._private.redis_limiter_slot(w)))):match("%d+"))
  end

  setup(function()
    cluster = T.cluster()
  end)

  teardown(function()
    if cluster then cluster:stop() end
  end)

  it("is reached through a node that does not own the key (MOVED followed)", function()
    local k = key("moved")
    local w = core._private.redis_limiter_key(k)
    local other, owner = cluster:not_owner(w), cluster:owner(w)
    assert.is_not.equal(other, owner)
    local l = limiter(other.url, { key = k })
    works(l)
    assert.equals(0, l:stats().redis_errors)
    assert.equals(1, keys_in_slot(owner, w))
    assert.equals(0, keys_in_slot(other, w))
  end)

  it("follows ASK while the key's slot moves to another node", function()
    local k = key("ask")
    local w = core._private.redis_limiter_key(k)
    local l = limiter(cluster.url, { key = k })
    assert(l:reserve())
    local src, dst = cluster:owner(w), cluster:not_owner(w)
    local slot = core._private.redis_limiter_slot(w)
    local function id(s) return (F.capture(s:cli("CLUSTER MYID")):gsub("%s", "")) end
    assert(F.sh(dst:cli(("CLUSTER SETSLOT %d IMPORTING %s >/dev/null"):format(slot, id(src)))))
    assert(F.sh(src:cli(("CLUSTER SETSLOT %d MIGRATING %s >/dev/null"):format(slot, id(dst)))))
    assert(F.sh(src:cli(("MIGRATE 127.0.0.1 %d %s 0 5000 >/dev/null"):format(dst.port, F.q(w)))))
    -- the key is on dst, the slot still src's: src answers ASK
    local d, err = l:reserve()
    assert(d, tostring(err))
    assert.near(0, d, 0.05)
    assert.equals(1, keys_in_slot(dst, w))
    assert.equals(0, keys_in_slot(src, w))
    assert.equals(0, l:stats().redis_errors)
  end)

  it("finds the new owner when the key's master is killed and its replica takes over", function()
    local k = key("failover")
    local w = core._private.redis_limiter_key(k)
    local l = limiter(cluster.url, { key = k })
    assert(l:reserve())
    cluster:kill(cluster:owner(w), w)
    -- the old master's address fails, the slot map is read again: within
    -- about a second (the back-off) the new owner answers
    local t0 = core.monotonic()
    while not l:reserve() do
      assert.is_true(core.monotonic() - t0 < 4, "no owner found in 4 s")
      core.sleep(0.05)
    end
    local errors = l:stats().redis_errors
    assert(l:reserve())
    assert.equals(errors, l:stats().redis_errors)
    assert.equals(1, keys_in_slot(cluster:owner(w), w))
  end)
end)

describe("Redis Sentinel", function()
  local s

  setup(function()
    s = T.sentinel{ password = "pw" }
  end)

  teardown(function()
    if s then s:stop() end
  end)

  it("asks the sentinels for the master", function()
    local l = limiter(s.url)
    works(l)
    local w = core._private.redis_limiter_key(l:stats().key)
    assert.equals("1", F.capture(s.master:cli("EXISTS " .. F.q(w))):match("%d"))
  end)

  it("finds the new master after a failover: the stall is bounded and said once", function()
    -- a child books every 50 ms for 12 s while the master is killed
    local script, errf = F.tmpname(), F.tmpname()
    F.write(script, ([[
      local core = require "coreplus.core"
      local l = core.limiter{ rate = 100, per = 1, key = "sentinel failover", shared = %q,
        on_redis_error = "fail", redis_timeout = 0.5 }
      local stop, failed, first, last = core.monotonic() + 12, 0, nil, nil
      while core.monotonic() < stop do
        local t = core.monotonic()
        if not l:reserve() then
          failed = failed + 1
          first, last = first or t, t
        end
        core.sleep(0.05)
      end
      print(failed, first and ("%%.2f"):format(last - first) or "0")
    ]]):format(s.url))
    local p = io.popen(("LUA_CPATH=%s LUA_PATH=%s lua5.4 %s 2>%s"):format(F.q(package.cpath),
      F.q(package.path), F.q(script), F.q(errf)))
    core.sleep(1.5)
    local t0 = core.monotonic()
    s:failover()
    local took = core.monotonic() - t0
    local failed, stall = p:read("a"):match("(%d+)%s+(%S+)")
    p:close()
    local err = F.read(errf) or ""
    os.remove(script); os.remove(errf)
    failed, stall = tonumber(failed), tonumber(stall)
    if os.getenv("COREPLUS_SPEC_VERBOSE") then
      io.stderr:write(("# sentinel failover: %.2f s until promoted, %d bookings failed over %.2f s\n")
        :format(took, failed, stall))
    end
    assert.is_true(failed >= 1, "the failover was not seen")
    assert.is_true(stall <= took + 1.5, ("the stall (%.2f s) outlasted the failover (%.2f s)"):format(stall, took))
    assert.equals(1, select(2, err:gsub("the master is now 127.0.0.1:" .. s.master.port, "")), err)
  end)
end)
