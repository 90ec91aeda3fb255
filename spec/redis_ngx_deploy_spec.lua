-- The Redis that teams run, through OpenResty (issue 29 item 5): the ngx
-- transport's Redis limit over rediss:// (verified with nginx's
-- lua_ssl_trusted_certificate, refused for a server another CA vouches
-- for), with an ACL user, a client certificate, a Cluster node that does
-- not own the key, and Sentinel before and after a failover; and requests
-- through the transport against the mock. nginx with 2 workers and real
-- servers, started and stopped here; about 20 s.
local core = require "coreplus.core"
local testing = require "coreplus.testing"
local nginx = dofile("spec/support/nginx.lua")
local Redis = dofile("spec/support/redis.lua")
local T = dofile("spec/support/redis_topology.lua")
local F = dofile("spec/support/files.lua")

local key = Redis.keys("redis_ngx_deploy_spec")

describe("the ngx transport's Redis limit", function()
  local certs, server, stranger, srv, mock

  setup(function()
    certs = Redis.certs()
    server = Redis.new()
    server:start{ tls = certs, users = { "alice on >s3cret ~* &* +@all" } }
    stranger = Redis.new()
    stranger:start{ tls = { ca = certs.other_ca, cert = certs.other_cert, key = certs.other_key } }
    mock = testing.server{ tls = true }
    -- the mock's CA and the Redis test CA, for lua_ssl_trusted_certificate
    F.write(certs.dir .. "/trusted.crt", F.read(certs.ca) .. F.read(mock.cafile))
    srv = nginx.start{ name = "redis-ngx-deploy", ports = 1, render = function(vars)
      return (nginx.MAIN .. "events { worker_connections 64; }\nhttp {\n" .. nginx.HTTP .. [[
    lua_ssl_trusted_certificate @CA@;
    lua_ssl_verify_depth 3;
    server {
        listen 127.0.0.1:@P1@;
]] .. nginx.EVAL .. [[
    }
}
]]):gsub("@(%w+)@", vars):gsub("@CA@", certs.dir .. "/trusted.crt")
    end }
  end)

  teardown(function()
    if srv then srv.stop() end
    if mock then mock:stop() end
    if stranger then stranger:stop() end
    if server then server:stop() end
    Redis.remove_certs(certs)
  end)

  local function run(code) return srv.eval(code) end

  -- In a worker: reserve four bookings of a 3-per-second limit at url with
  -- options; returns the delays (each waited out through ready) or the error.
  local BOOK = [[
    local o = %s
    o.rate, o.per, o.margin, o.on_redis_error = 3, 1, 0.025, "fail"
    local l = t.limiter(o)
    local d = {}
    for i = 1, 4 do
      ngx.update_time()
      local t0 = ngx.now()
      local delay, b = l:reserve()
      if not delay then return { err = b.message } end
      while delay > 0 do ngx.sleep(delay); delay = l:ready(b) end
      ngx.update_time()
      d[i] = ngx.now() - t0
      l:sent(b)
    end
    return { d = d, stats = l:stats() }
  ]]

  local function book(o)
    o.key = o.key or key("book")
    local parts = {}
    for k, v in pairs(o) do parts[#parts + 1] = ("[%q] = %q"):format(k, v) end
    return run(BOOK:format("{ " .. table.concat(parts, ", ") .. " }"))
  end

  local function works(r)
    assert(r.d, tostring(r.err))
    for i = 1, 3 do assert.near(0, r.d[i], 0.05) end
    assert.near(1.025, r.d[4], 0.1)
  end

  it("speaks TLS to Redis, verified by nginx, with an ACL user", function()
    works(book{ shared = server.url:gsub("rediss://", "rediss://alice:s3cret@") })
  end)

  it("refuses a Redis that another CA vouches for, without showing the password", function()
    local r = book{ shared = stranger.url:gsub("rediss://", "rediss://:hunter2@") }
    assert.is_nil(r.d)
    assert.matches("TLS handshake failed", r.err)
    assert.is_nil(r.err:find("hunter2", 1, true))
  end)

  it("shares the window with the C core over TLS", function()
    local k = key("shared")
    works(book{ shared = server.url, key = k })
    local c = core.limiter{ rate = 3, per = 1, margin = 0.025, key = k, shared = server.url,
      redis_cafile = certs.ca }
    c:reserve(); c:reserve()
    assert.near(1.025, (c:reserve()), 0.15)
    c:close()
  end)

  it("sends requests through the transport against the mock at most 10 a second", function()
    mock:reset()
    local r = run(([[
      local l = t.limiter{ rate = 10, per = 1, key = %q, shared = %q, on_redis_error = "fail" }
      local cred = { consumer_id = %q, consumer_secret = %q, access_token = %q }
      local ok, threads = 0, {}
      for i = 1, 4 do
        threads[i] = ngx.thread.spawn(function()
          for _ = 1, 8 do
            local res = t.request{ url = %q, credentials = cred, limiter = l, timeout = 20 }
            if res and res.status == 200 then ok = ok + 1 end
          end
        end)
      end
      for i = 1, 4 do ngx.thread.wait(threads[i]) end
      return ok
    ]]):format(key("requests"), server.url, mock.consumer_id, mock.consumer_secret, mock.access_token,
      mock:url("Location/")))
    local st = mock:stats()
    assert.equals(32, r)
    assert.equals(0, st.rate_limited)
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. st.max_in_window)
  end)

  describe("through a Cluster", function()
    local cluster

    setup(function() cluster = T.cluster() end)
    teardown(function() if cluster then cluster:stop() end end)

    it("reaches the key through a node that does not own it", function()
      local k = key("cluster")
      local w = core._private.redis_limiter_key(k)
      works(book{ shared = cluster:not_owner(w).url, key = k })
    end)
  end)

  describe("through Sentinel", function()
    local s

    setup(function() s = T.sentinel{ password = "pw" } end)
    teardown(function() if s then s:stop() end end)

    it("asks the sentinels for the master, and finds the new one after a failover", function()
      local k = key("sentinel")
      works(book{ shared = s.url, key = k })
      -- Both workers learn the master: only a worker that knew the old one
      -- says it moved, and the loop below may run in either.
      local pids, seen = {}, 0
      for _ = 1, 60 do
        local r = run(([[
          local d = t.limiter{ rate = 3, per = 1, key = %q, shared = %q, on_redis_error = "fail" }:reserve()
          return { pid = ngx.worker.pid(), booked = d ~= nil }
        ]]):format(k, s.url))
        assert.is_true(r.booked)
        if not pids[r.pid] then pids[r.pid], seen = true, seen + 1 end
        if seen == 2 then break end
      end
      assert.equals(2, seen)
      s:failover()
      local r = run(([[
        local l = t.limiter{ rate = 3, per = 1, key = %q, shared = %q, on_redis_error = "fail",
          redis_timeout = 0.5 }
        local failed, t0 = 0, ngx.now()
        while true do
          local d = l:reserve()
          if d then break end
          failed = failed + 1
          ngx.sleep(0.1)
          ngx.update_time()
          if ngx.now() - t0 > 10 then return { failed = failed, gave_up = true } end
        end
        ngx.update_time()
        return { failed = failed, took = ngx.now() - t0 }
      ]]):format(k, s.url))
      assert.is_nil(r.gave_up)
      assert.is_true(r.took < 3, "took " .. r.took)
      assert.matches("the master is now 127.0.0.1:" .. s.master.port, srv.error_log(), 1, true)
    end)
  end)
end)
