-- core.limiter{shared = "redis://..."}: one limit for many machines. A real
-- redis-server runs on a free 127.0.0.1 port for the suite; child processes
-- (`lua5.4 -e`-style scripts, each with its own client and limiter) stand in
-- for machines. Timing assertions use loose bounds.
local core = require "coreplus.core"
local coreplus = require "coreplus"
local testing = require "coreplus.testing"

local RATE_MSG = "limiting this process on its own"

local function tmpfile()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local read_file = dofile("spec/support/files.lua").read

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local Redis = dofile("spec/support/redis.lua")
local free_port = Redis.free_port

-- The suite's redis-server; redis.url, redis.port as the server's.
local redis = Redis.new()
for _, name in ipairs{ "start", "stop" } do
  local method = redis[name]
  redis[name] = function(...) return method(redis, ...) end
end

local key = Redis.keys("redis_limiter_spec")

setup(function()
  math.randomseed(os.time() + math.floor(core.monotonic() * 1000))
  redis.start()
end)

teardown(function()
  redis.stop()
end)

describe("core.limiter in Redis: the window", function()
  it("grants rate slots at once, then makes the next wait per + margin", function()
    local l = core.limiter{ rate = 3, per = 1, margin = 0.02, key = key("w"), shared = redis.url }
    for _ = 1, 3 do assert.near(0, (l:reserve()), 0.01) end
    assert.near(1.02, (l:reserve()), 0.02)
    assert.is_true(l:stats().redis_connected)
    l:close()
  end)

  it("keeps keys apart", function()
    local a = core.limiter{ rate = 1, per = 1, margin = 0, key = key("a"), shared = redis.url }
    local b = core.limiter{ rate = 1, per = 1, margin = 0, key = key("b"), shared = redis.url }
    assert.near(0, (a:reserve()), 0.01)
    assert.near(0, (b:reserve()), 0.01)
    assert.near(1, (a:reserve()), 0.02)
    a:close(); b:close()
  end)

  it("shares one window between limiter objects of the same key (as separate machines do)", function()
    local k = key("same")
    local a = core.limiter{ rate = 1, per = 1, margin = 0, key = k, shared = redis.url }
    local b = core.limiter{ rate = 1, per = 1, margin = 0, key = k, shared = redis.url,
      redis_timeout = 0.4 }   -- other options: another connection, still one window
    assert.near(0, (a:reserve()), 0.01)
    assert.near(1, (b:reserve()), 0.02)
    a:close(); b:close()
  end)

  it("counts a slot from when the request really left (sent)", function()
    local l = core.limiter{ rate = 1, per = 1, margin = 0, key = key("sent"), shared = redis.url }
    local d, booking = l:reserve()
    assert.near(0, d, 0.01)
    core.sleep(0.3)                        -- connection set-up took 0.3 s
    assert.near(0, l:sent(booking), 0.01)
    assert.near(1, (l:reserve()), 0.03)     -- 1 s after the departure, not the booking
    l:close()
  end)

  it("stores the key hashed, never as given", function()
    local secretish = key("token-like")
    local l = core.limiter{ rate = 5, key = secretish, shared = redis.url }
    l:reserve()
    local keys = io.popen(("redis-cli -p %d --scan"):format(redis.port)):read("a")
    assert.matches("coreplus:limit:{%x+}", keys)
    assert.is_nil(keys:find("token-like", 1, true))
    l:close()
  end)
end)

describe("core.limiter in Redis: misuse", function()
  it("names the option for a bad URL or policy", function()
    assert.error_matches(function() core.limiter{ shared = "redis://" } end, "bad field 'shared'.*host")
    assert.error_matches(function() core.limiter{ shared = "redis://h:0/0" } end, "bad field 'shared'.*port")
    assert.error_matches(function() core.limiter{ shared = "redis://h:6379/x" } end, "bad field 'shared'.*database")
    assert.error_matches(function() core.limiter{ shared = redis.url, on_redis_error = "retry" } end,
      "bad field 'on_redis_error'")
    assert.error_matches(function() core.limiter{ shared = redis.url, redis_timeout = 0 } end,
      "bad field 'redis_timeout'")
  end)

  it("names the client's option (shared_limit) in coreplus.new", function()
    assert.error_matches(function()
      coreplus.new{ base_url = "https://x.example", consumer_id = "c", consumer_secret = "s",
        access_token = "t", shared_limit = "redis://:1" }
    end, "option 'shared_limit'")
    assert.error_matches(function()
      coreplus.new{ base_url = "https://x.example", consumer_id = "c", consumer_secret = "s",
        access_token = "t", shared_limit = redis.url, on_redis_error = "maybe" }
    end, "option 'on_redis_error'")
  end)
end)

describe("core.limiter in Redis: failures", function()
  it("fails with kind 'limiter' when Redis is down and on_redis_error = 'fail'", function()
    local port = free_port()
    local l = core.limiter{ key = key("down"), shared = ("redis://127.0.0.1:%d/0"):format(port),
      on_redis_error = "fail" }
    local w, err = l:acquire()
    assert.is_nil(w)
    assert.equals("limiter", err.kind)
    assert.matches("cannot connect", err.message)
    local d, err2 = l:reserve()
    assert.is_nil(d)
    assert.equals("limiter", err2.kind)
    -- core.request sends nothing and says why
    local res, rerr = core.request{ url = "https://127.0.0.1:1/", limiter = l }
    assert.is_nil(res)
    assert.equals("limiter", rerr.kind)
    assert.is_false(rerr.sent)
    l:close()
  end)

  it("times out on a Redis that does not answer (redis_timeout)", function()
    local port = free_port()
    local ready = tmpfile()
    -- a listener that accepts into its backlog and never replies
    assert(sh(("/usr/bin/python3 -c 'import socket,time,sys; s=socket.socket(); "
      .. "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", %d)); "
      .. "s.listen(16); open(sys.argv[1], \"w\").write(\"ok\"); time.sleep(20)' %s "
      .. ">/dev/null 2>&1 & echo $! >%s.pid"):format(port, ready, ready)))
    local pid = tonumber(read_file(ready .. ".pid"))
    for _ = 1, 100 do
      if read_file(ready) then break end
      core.sleep(0.05)
    end
    local l = core.limiter{ key = key("mute"), shared = ("redis://127.0.0.1:%d/0"):format(port),
      on_redis_error = "fail", redis_timeout = 0.2 }
    local t = core.monotonic()
    local w, err = l:acquire()
    local took = core.monotonic() - t
    sh("kill " .. math.floor(pid))
    os.remove(ready); os.remove(ready .. ".pid")
    assert.is_nil(w)
    assert.equals("limiter", err.kind)
    assert.matches("no answer in 0.2 s", err.message)
    assert.is_true(took >= 0.15 and took < 1, "took " .. took)
    -- a second call within the retry interval fails at once
    t = core.monotonic()
    assert.is_nil((l:acquire()))
    assert.is_true(core.monotonic() - t < 0.1)
    l:close()
  end)

  it("falls back to this process's own window with on_redis_error = 'local'", function()
    local port = free_port()
    local l = core.limiter{ rate = 2, per = 1, margin = 0, key = key("fallback"),
      shared = ("redis://127.0.0.1:%d/0"):format(port) }
    local d1, b1 = l:reserve()
    local d2 = l:reserve()
    local d3 = l:reserve()
    assert.equals(0, d1)
    assert.equals(0, d2)
    assert.near(1, d3, 0.01)                -- the local window still limits
    assert.is_true(b1 < 0)                   -- a fall-back booking
    assert.is_number(l:sent(b1))
    local st = l:stats()
    assert.is_false(st.redis_connected)
    assert.equals(3, st.redis_local)
    l:close()
  end)
end)

describe("core.limiter in Redis: leases (a waiter dies, Redis pauses)", function()
  -- (under make check the children get the normal build: COREPLUS_CHILD_LUA_CPATH)
local ENV = ("LUA_CPATH='%s' LUA_PATH='%s' "):format(os.getenv("COREPLUS_CHILD_LUA_CPATH")
  or package.cpath, package.path)

  it("a waiter killed (not reaped) holds the others up for about a second, not for 10", function()
    local k, script = key("killed"), tmpfile()
    local f = assert(io.open(script, "w"))
    f:write([[
      local core = require "coreplus.core"
      local l = core.limiter{ rate = 1, per = 3, margin = 0, shared = arg[1], key = arg[2] }
      l:acquire()
      local st = io.open("/proc/self/stat")
      print(st:read("n"), ("%.3f"):format(core.now()))
      st:close()
      io.stdout:flush()
      l:acquire()   -- booked 3 s ahead, pending: killed while it waits
    ]])
    f:close()
    local proc = assert(io.popen(ENV .. "exec lua5.4 " .. script .. " " .. redis.url .. " '" .. k .. "'"))
    local pid, t0 = proc:read("n", "n")
    core.sleep(0.2)
    sh("kill -9 " .. math.tointeger(pid))
    local l = core.limiter{ rate = 1, per = 3, margin = 0, shared = redis.url, key = k }
    assert(l:acquire())
    local at = core.now()
    l:close()
    proc:close()
    os.remove(script)
    -- 3 s after the first slot (the dead one's lease ran out), not 6 or 13
    assert.is_true(at - t0 > 2.8 and at - t0 < 4.5, "granted " .. (at - t0) .. " s after the first")
  end)

  it("a Redis pause (DEBUG SLEEP) leaves no booking that stalls anyone once it answers", function()
    local k = key("pause")
    local l = core.limiter{ rate = 1, per = 0.5, margin = 0, shared = redis.url, key = k,
      redis_timeout = 0.3 }
    assert(l:acquire())
    redis:pause(1.5)
    core.sleep(0.2)
    assert(l:acquire())                  -- times out, books in this process's window
    core.sleep(2.5)                      -- Redis ran the booking late: nobody owns it
    local t = core.monotonic()
    assert(l:acquire())
    local took = core.monotonic() - t
    local st = l:stats()
    l:close()
    assert.is_true(st.redis_errors >= 1)
    assert.is_true(took < 1.6, "took " .. took)   -- without leases: about 10 s
  end)

  it("checks what it reads: a damaged or retyped window is restarted full, never off or hung", function()
    local k = key("damaged")
    local l = core.limiter{ rate = 2, per = 1, margin = 0, shared = redis.url, key = k }
    local name = core._private.redis_limiter_key(k)
    local cli = ("redis-cli -p %d "):format(redis.port)
    local function reserve()
      local d, err = l:reserve()
      assert.is_number(d, tostring(err))
      return d
    end
    reserve(); reserve()
    assert(sh(cli .. "HSET '" .. name .. "' 1 nan 2 1e12 >/dev/null"))
    local d = reserve()
    assert.is_true(d > 0.5 and d <= 1.05, "after bad times: " .. d)
    assert(sh(cli .. "HSET '" .. name .. "' next not-a-number >/dev/null"))
    d = reserve()
    assert.is_true(d > 0.5 and d <= 1.05, "after a bad next: " .. d)
    assert(sh(cli .. "DEL '" .. name .. "' >/dev/null && " .. cli .. "SET '" .. name .. "' x >/dev/null"))
    d = reserve()
    assert.is_true(d > 0.5 and d <= 1.05, "after a string key: " .. d)
    assert.equals(0, l:stats().redis_errors)
    l:close()
  end)
end)

describe("core.limiter in Redis: a password with '@'", function()
  local pw = Redis.new()

  setup(function()
    pw:start{ password = "p@ss/w#rd" }
  end)

  teardown(function()
    pw:stop()
  end)

  it("reads the password up to the last '@'", function()
    local url = ("redis://:p@ss/w#rd@127.0.0.1:%d/0"):format(pw.port)
    local l = core.limiter{ rate = 5, key = key("at"), shared = url, on_redis_error = "fail" }
    local d, booking = l:reserve()
    assert.is_number(d, type(booking) == "table" and booking.message or "")
    assert.is_true(l:stats().redis_connected)
    assert.equals("redis://:***@127.0.0.1:" .. pw.port .. "/0", l:stats().shared)
    l:close()
  end)

  it("never shows it in a message", function()
    local url = ("redis://:wr@ng/p#ss@127.0.0.1:%d/0"):format(pw.port)
    local l = core.limiter{ rate = 5, key = key("bad"), shared = url, on_redis_error = "fail" }
    local d, err = l:reserve()
    assert.is_nil(d)
    assert.matches("AUTH refused", err.message, 1, true)
    assert.matches(":***@127.0.0.1:" .. pw.port, err.message, 1, true)
    for _, s in ipairs{ err.message, tostring(l), l:stats().shared } do
      assert.is_nil(s:find("wr@ng", 1, true), s)
      assert.is_nil(s:find("p#ss", 1, true), s)
    end
    l:close()
  end)
end)

describe("core.limiter in Redis across processes (against the mock)", function()
  local mock

  setup(function()
    mock = testing.server{ tls = true }
  end)

  teardown(function()
    if mock then mock:stop() end
  end)

  local children = dofile("spec/support/limit_children.lua")

  -- n children sending `count` requests each through coreplus clients
  -- sharing url; kill_at (seconds after the common start) stops Redis.
  local function run_children(n, count, url, policy, kill_at)
    return children.run(mock, { procs = n, count = count, options = { shared_limit = url,
      on_redis_error = policy or "local", redis_timeout = 0.5 },
      at = kill_at and { [kill_at] = function() redis.stop() end } or nil })
  end

  local function count(s, what)
    local n = 0
    for _ in s:gmatch(what) do n = n + 1 end
    return n
  end

  it("4 processes x 25 requests through one Redis: never more than 10 in a second, no 429", function()
    local st, outs, wall = run_children(4, 25, redis.url)
    for i, o in ipairs(outs) do
      assert.equals(25, o.ok, "child " .. i .. ": " .. o.raw .. o.stderr)
    end
    assert.equals(100, st.requests)
    assert.equals(0, st.rate_limited)
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. tostring(st.max_in_window))
    -- 100 requests, 10 per (1 s + margin): the last ten leave after ~9.2 s
    assert.is_true(wall > 9 and wall < 13, "wall " .. wall)
    if os.getenv("COREPLUS_SPEC_VERBOSE") then
      io.stderr:write(("# 4 processes x 25: wall %.2f s, max_in_window %d, 429s %d\n")
        :format(wall, st.max_in_window, st.rate_limited))
    end
  end)

  it("Redis stopped mid-run, 'local': each process goes on under its own limit and logs once", function()
    local st, outs = run_children(3, 15, redis.url, "local", 0.5)
    redis.start()
    for i, o in ipairs(outs) do
      assert.equals(15, o.ok + o.rate_limited, "child " .. i .. ": " .. o.raw .. o.stderr)
      assert.equals(0, o.limiter)
      assert.equals(1, count(o.stderr, RATE_MSG), "child " .. i .. " stderr: " .. o.stderr)
    end
    assert.equals(45, st.requests)
    -- three own limits of 10 per second now overrun the server's one
    assert.is_true(st.max_in_window > 10, "max_in_window " .. tostring(st.max_in_window))
  end)

  it("Redis stopped mid-run, 'local': processes that shared the limit keep to their share of it", function()
    -- 3 processes book a third each; when Redis goes, each keeps to 3 a
    -- second on its own (not 10: 30 a second against the server's 10)
    local st, outs = run_children(3, 30, redis.url, "local", 3)
    redis.start()
    for i, o in ipairs(outs) do
      assert.equals(30, o.ok + o.rate_limited, "child " .. i .. ": " .. o.raw .. o.stderr)
    end
    if os.getenv("COREPLUS_SPEC_VERBOSE") then
      io.stderr:write(("# Redis stopped at 3 s, 3 processes on their own: %d x 429, max %d in a second\n")
        :format(st.rate_limited, st.max_in_window))
    end
    assert.is_true(st.rate_limited <= 10, st.rate_limited .. " x 429")   -- without shares: about 100
  end)

  it("Redis stopped mid-run, 'fail': requests fail with kind 'limiter', none sent", function()
    local st, outs = run_children(2, 15, redis.url, "fail", 0.5)
    redis.start()
    local ok, lim = 0, 0
    for i, o in ipairs(outs) do
      assert.equals(15, o.ok + o.limiter, "child " .. i .. ": " .. o.raw .. o.stderr)
      assert.equals(0, count(o.stderr, RATE_MSG))
      ok, lim = ok + o.ok, lim + o.limiter
    end
    assert.is_true(ok > 0 and lim > 0, ("ok %d, limiter %d"):format(ok, lim))
    assert.equals(ok, st.requests)
    assert.equals(0, st.rate_limited)
  end)
end)

describe("the ngx transport's limiter in Redis (cosockets, inside nginx)", function()
  local nginx = dofile("spec/support/nginx.lua")
  local srv

  setup(function()
    srv = nginx.start{ name = "redis-spec", ports = 1, render = function(vars)
      return (nginx.MAIN .. "events { worker_connections 64; }\nhttp {\n" .. nginx.HTTP .. [[
    server {
        listen 127.0.0.1:@P1@;
]] .. nginx.EVAL .. [[
    }
}
]]):gsub("@(%w+)@", vars)
    end }
  end)

  teardown(function()
    if srv then srv.stop() end
  end)

  local function run(code) return srv.eval(code) end

  it("shares one window with the C core's limiter (same key, same Redis)", function()
    local k = key("ngx")
    local r = run(([[
      local l = t.limiter{ rate = 3, per = 1, margin = 0, key = %q, shared = %q }
      local d = {}
      for i = 1, 4 do   -- reserve, then sleep what ready says until it says 0
        ngx.update_time()
        local t0 = ngx.now()
        local delay, booking = l:reserve()
        while delay > 0 do
          ngx.sleep(delay)
          delay = l:ready(booking)
        end
        ngx.update_time()
        d[i] = ngx.now() - t0
        l:sent(booking)
      end
      return d
    ]]):format(k, redis.url))
    for i = 1, 3 do assert.near(0, r[i], 0.02) end
    assert.near(1, r[4], 0.05)
    -- a process outside nginx sees the same window: its third booking comes
    -- a second after the fourth one of nginx
    local c = core.limiter{ rate = 3, per = 1, margin = 0, key = k, shared = redis.url }
    c:reserve(); c:reserve()
    assert.near(1, (c:reserve()), 0.1)
    c:close()
  end)

  it("acquire() yields and keeps the window", function()
    local r = run(([[
      local l = t.limiter{ rate = 2, per = 0.5, margin = 0, key = %q, shared = %q }
      local t0 = ngx.now()
      for _ = 1, 5 do l:acquire() end
      ngx.update_time()
      return ngx.now() - t0
    ]]):format(key("acq"), redis.url))
    assert.is_true(r > 0.9 and r < 1.5, "5 acquires at 2 per 0.5 s took " .. r)
  end)

  it("'fail' returns kind 'limiter'; 'local' falls back to the worker's own limit", function()
    local dead = ("redis://127.0.0.1:%d/0"):format(free_port())
    local r = run(([[
      local f = t.limiter{ key = "x", shared = %q, on_redis_error = "fail", redis_timeout = 0.2 }
      local d, err = f:reserve()
      local res, rerr = t.request{ url = "http://127.0.0.1:1/", limiter = f }
      local l = t.limiter{ rate = 1, per = 1, margin = 0, key = %q, shared = %q }
      local d1, b1 = l:reserve(); l:sent(b1)
      local d2 = l:reserve()
      return { fail_delay = d, kind = err and err.kind, message = err and err.message,
        request_res = res, request_kind = rerr and rerr.kind, request_sent = rerr and rerr.sent,
        d1 = d1, d2 = d2, fallback = type(b1) == "table", local_count = l:stats().redis_local }
    ]]):format(dead, key("fb"), dead))
    assert.is_nil(r.fail_delay)
    assert.equals("limiter", r.kind)
    assert.matches("cannot connect", r.message)
    assert.is_nil(r.request_res)              -- a request through it is not sent
    assert.equals("limiter", r.request_kind)
    assert.is_false(r.request_sent)
    assert.near(0, r.d1, 0.01)
    assert.near(1, r.d2, 0.05)
    assert.is_true(r.fallback)
    assert.equals(2, r.local_count)
    assert.equals(1, select(2, srv.error_log():gsub("limiting this nginx on its own", "")))
  end)

  it("names the option for a bad URL", function()
    local r = run([[
      local ok, err = pcall(t.limiter, { shared = "redis://:5/0" })
      return tostring(err)
    ]])
    assert.matches("bad field 'shared'", r)
  end)
end)
