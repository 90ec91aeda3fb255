-- core.limiter: "at most rate requests in any window of per seconds",
-- counted from when each request really left. The window arithmetic is
-- tested with injected times (reserve(now), sent(booking, now)) and waits on
-- a manual clock (core.manual_clock); only the cross-process tests against
-- the mock run in real time, and they assert counts, not times.
local core = require "coreplus.core"

local key = dofile("spec/support/limit_procs.lua").keys("limiter_spec")

local tmpfile = dofile("spec/support/files.lua").tmpname

describe("core.limiter window", function()
  it("grants rate slots at once, then makes the next wait for the oldest to leave the window", function()
    local l = core.limiter{ rate = 3, per = 1, margin = 0 }
    assert.equals(0, (l:reserve(100)))
    assert.equals(0, (l:reserve(100)))
    assert.equals(0, (l:reserve(100)))
    assert.equals(1, (l:reserve(100)))
    assert.equals(0.5, (l:reserve(100.5)))   -- booked at 101
    assert.equals(1, (l:reserve(100)))       -- 101 as well: 3 in [101, 102)
    assert.equals(2, (l:reserve(100)))       -- 102
    l:close()
  end)

  -- An in-process window starts small (a client per practice costs ~1 KB,
  -- not 40) and grows while its bookings still count: none is forgotten.
  it("keeps every booking that still counts, however many are waiting at once", function()
    local l = core.limiter{ rate = 200, per = 1, margin = 0, key = key("grows") }
    local now, delays = core.monotonic(), {}
    for i = 1, 600 do delays[i] = (l:reserve(now)) end
    for i = 1, 600 do
      assert.equals((i - 1) // 200, delays[i], "booking " .. i)
    end
    assert.equals(3, (l:reserve(now)), "the 601st waits for the 401st")
    l:close()
  end)

  it("is a sliding window, not a bucket that lets 2x through in the first second", function()
    local l = core.limiter{ rate = 10, per = 1, margin = 0 }
    local at = {}
    for i = 1, 20 do at[i] = 50 + (l:reserve(50)) end
    for i = 1, 10 do assert.equals(50, at[i]) end
    for i = 11, 20 do assert.equals(51, at[i]) end
    l:close()
  end)

  it("never books more than rate in any window, whatever the arrival pattern", function()
    math.randomseed(7)
    local rate, per = 4, 0.5
    local l = core.limiter{ rate = rate, per = per, margin = 0 }
    local now, at = 1000, {}
    for i = 1, 300 do
      now = now + math.random() * 0.3
      at[i] = now + (l:reserve(now))
    end
    table.sort(at)
    for i = 1, #at do
      local n = 0
      for j = i, #at do
        if at[j] < at[i] + per - 1e-9 then n = n + 1 end
      end
      assert.is_true(n <= rate, "window at " .. at[i] .. " holds " .. n)
    end
    l:close()
  end)

  it("adds the margin to per between a slot and the one rate places later", function()
    local l = core.limiter{ rate = 2, per = 1, margin = 0.1 }
    assert.equals(0, (l:reserve(10)))
    assert.equals(0, (l:reserve(10)))
    assert.near(1.1, (l:reserve(10)), 1e-9)
    l:close()
  end)

  it("counts a slot from when the request really left (sent)", function()
    local l = core.limiter{ rate = 1, per = 1, margin = 0 }
    local d, booking = l:reserve(10)
    assert.equals(0, d)
    assert.equals(0, l:sent(booking, 10.5))     -- connection set-up took 0.5 s
    assert.near(0.9, (l:reserve(10.6)), 1e-9)   -- 11.5, not 11.0
    l:close()
  end)

  it("makes a later booking owe the time an earlier one left late", function()
    local l = core.limiter{ rate = 1, per = 1, margin = 0 }
    local _, first = l:reserve(10)
    local d, second = l:reserve(10)
    assert.equals(1, d)                         -- planned for 11.0
    l:sent(first, 10.4)                         -- ... but the first left at 10.4
    assert.near(0.4, l:sent(second, 11.0), 1e-9)
    l:close()
  end)

  it("reports stats", function()
    local k = key("stats")
    local l = core.limiter{ rate = 5, per = 2, key = k }
    l:reserve(1)
    l:reserve(1)
    local s = l:stats()
    assert.equals(5, s.rate)
    assert.equals(2, s.per)
    assert.equals(k, s.key)
    assert.equals(2, s.granted)
    assert.equals(0, s.pending)
    assert.is_number(s.waited_total)
    assert.is_number(s.margin)
    l:close()
  end)
end)

describe("core.limiter keys", function()
  it("shares one window between limiters with the same key", function()
    local k = key("same")
    local a = core.limiter{ rate = 1, per = 1, margin = 0, key = k }
    local b = core.limiter{ rate = 1, per = 1, margin = 0, key = k }
    assert.equals(0, (a:reserve(20)))
    assert.equals(1, (b:reserve(20)))
    assert.equals(2, b:stats().granted)
    a:close()
    assert.equals(2, (b:reserve(20)))   -- still there while one holder is open
    b:close()
  end)

  it("keeps different keys independent", function()
    local a = core.limiter{ rate = 1, per = 1, margin = 0, key = key("x") }
    local b = core.limiter{ rate = 1, per = 1, margin = 0, key = key("y") }
    assert.equals(0, (a:reserve(20)))
    assert.equals(0, (b:reserve(20)))
    a:close()
    b:close()
  end)

  it("starts afresh once every holder of a key has closed", function()
    local k = key("fresh")
    local a = core.limiter{ rate = 1, per = 1, margin = 0, key = k }
    a:reserve(20)
    a:close()
    local b = core.limiter{ rate = 1, per = 1, margin = 0, key = k }
    assert.equals(0, (b:reserve(20)))
    b:close()
  end)
end)

describe("core.limiter blocking (on a manual clock: no real waits)", function()
  it("acquire waits for a slot and returns the seconds waited", function()
    local clock = core.manual_clock(100)
    local l = core.limiter{ rate = 2, per = 0.2, margin = 0, clock = clock }
    assert.equals(0, l:acquire())
    assert.equals(0, l:acquire())
    assert.near(0.2, l:acquire(), 1e-9)
    assert.near(100.2, clock:now(), 1e-9)
    l:close()
  end)

  it("runs reserve and sent on the clock's time when none is given", function()
    local clock = core.manual_clock(50)
    local l = core.limiter{ rate = 1, per = 1, margin = 0, clock = clock }
    local d, booking = l:reserve()
    assert.equals(0, d)
    clock:advance(0.5)
    assert.equals(0, l:sent(booking))        -- it left at 50.5
    assert.near(1, (l:reserve()), 1e-9)      -- so the next at 51.5
    l:close()
  end)

  it("keeps windows on different clocks apart, even under one key", function()
    local k = key("clocks")
    local a = core.limiter{ rate = 1, per = 1, margin = 0, key = k, clock = core.manual_clock(10) }
    local b = core.limiter{ rate = 1, per = 1, margin = 0, key = k, clock = core.manual_clock(10) }
    assert.equals(0, (a:reserve()))
    assert.equals(0, (b:reserve()))
    a:close(); b:close()
  end)

  it("is refused by core.request, whose requests leave in real time", function()
    local l = core.limiter{ clock = core.manual_clock() }
    assert.error_matches(function() core.request{ url = "http://127.0.0.1:9/", limiter = l } end,
      "manual clock")
    assert.error_matches(function() core.limiter{ clock = {} } end, "'clock'")
    assert.error_matches(function() core.limiter{ clock = core.manual_clock(), shared = "redis://127.0.0.1:9" } end,
      "Redis's clock")
    l:close()
  end)
end)

describe("core.manual_clock", function()
  it("moves only when told, or when something sleeps on it", function()
    local c = core.manual_clock(5)
    assert.equals(5, c:now())
    assert.equals(5.5, c:advance(0.5))
    c:sleep(1)
    assert.equals(6.5, c:now())
    assert.error_matches(function() c:advance(-1) end, "seconds")
    c:close()
    assert.error_matches(function() c:now() end, "closed")
  end)

  -- (a follower's sleep waiting for another process: limiter_file_spec)
  it("in a file, is one time for every clock that opens it", function()
    local p = tmpfile()
    local driver = core.manual_clock{ file = p, at = 20 }
    local follower = core.manual_clock{ file = p, follow = true }
    assert.equals(20, follower:now())
    driver:sleep(2)
    assert.equals(22, follower:now())
    follower:sleep(0)
    assert.equals(22, core.manual_clock{ file = p }:now(), "without at, the file's time is kept")
    driver:close(); follower:close()
    os.remove(p)
    assert.error_matches(function() core.manual_clock{ at = "x" } end, "'at'")
    assert.error_matches(function() core.manual_clock{ file = "/nonexistent-dir/c" } end, "'file'")
  end)
end)

describe("core.limiter learns from 429s (on a manual clock)", function()
  local D = core.defaults

  it("a 429 widens the key's margin by learn_step, once per window", function()
    local clock = core.manual_clock(100)
    local l = core.limiter{ rate = 2, per = 1, margin = 0, clock = clock, key = key("learn") }
    assert.equals(0, l:stats().learnt_margin)
    assert.near(D.learn_step, l:rate_limited(), 1e-12)
    assert.near(D.learn_step, l:rate_limited(), 1e-12, "the same episode widens it once")
    assert.equals(0, (l:reserve()))
    assert.equals(0, (l:reserve()))
    assert.near(1 + D.learn_step, (l:reserve()), 1e-9, "the third waits the wider window")
    clock:advance(2)
    assert.near(2 * D.learn_step - 2 * D.learn_ease, l:rate_limited(), 1e-12, "a later 429 widens it again")
    l:close()
  end)

  it("wears off at learn_ease per second while no 429 comes, and stays within learn_max", function()
    local clock = core.manual_clock(100)
    local l = core.limiter{ rate = 2, per = 1, margin = 0, clock = clock }
    l:rate_limited()
    clock:advance(40)
    assert.near(D.learn_step - 40 * D.learn_ease, l:stats().learnt_margin, 1e-12)
    clock:advance(1000)
    assert.equals(0, l:stats().learnt_margin)
    for _ = 1, 40 do
      l:rate_limited()
      clock:advance(2)
    end
    assert.is_true(l:stats().learnt_margin <= D.learn_max, l:stats().learnt_margin)
    assert.is_true(l:stats().learnt_margin > D.learn_max - 0.01)
    l:close()
  end)

  it("in a shared file, every limiter on the key learns", function()
    local p, k = tmpfile(), key("learn-file")
    local a = core.limiter{ rate = 2, per = 1, margin = 0, shared = p, key = k, clock = core.manual_clock(100) }
    local b = core.limiter{ rate = 2, per = 1, margin = 0, shared = p, key = k, clock = core.manual_clock(100) }
    a:rate_limited()
    local learnt = b:stats().learnt_margin
    a:close(); b:close()
    os.remove(p)
    assert.near(D.learn_step, learnt, 1e-12)
  end)

  it("gives its rule to the Lua layer in core.defaults", function()
    assert.is_true(D.learn_step > 0 and D.learn_max >= D.learn_step and D.learn_ease > 0)
  end)
end)

describe("core.limiter acquire(deadline)", function()
  it("gives up at once, with kind timeout, when the wait would pass the deadline", function()
    local clock = core.manual_clock(100)
    local l = core.limiter{ rate = 1, per = 5, margin = 0, clock = clock }
    assert(l:acquire())
    local w, err = l:acquire(clock:now() + 1)
    assert.is_nil(w)
    assert.equals("timeout", err.kind)
    assert.is_false(err.sent)
    assert.matches("the rate limit wait (5.00 s) would pass the deadline", err.message, 1, true)
    assert.equals(100, clock:now(), "it gave up without waiting")
    -- the slot it gave up is free again: the next one waits as long, not longer
    assert.equals(5, (l:reserve()))
    assert.error_matches(function() l:acquire("soon") end, "deadline")
    l:close()
  end)

  it("waits when the slot comes before the deadline", function()
    local clock = core.manual_clock(100)
    local l = core.limiter{ rate = 1, per = 0.3, margin = 0, clock = clock }
    assert(l:acquire())
    assert.near(0.3, assert(l:acquire(clock:now() + 2)), 1e-9)
    l:close()
  end)

  it("takes deadlines in core.now() seconds on the real clock", function()
    local l = core.limiter{ rate = 1, per = 60, margin = 0 }
    assert(l:acquire(core.now() + 1))
    local w, err = l:acquire(core.now() + 1)
    assert.is_nil(w)
    assert.matches("would pass the deadline", err.message, 1, true)
    l:close()
  end)
end)

describe("core.limiter misuse", function()
  local cases = {
    { { rate = 0 }, "'rate'" }, { { rate = 1.5 }, "'rate'" }, { { rate = "x" }, "'rate'" },
    { { rate = 100000 }, "'rate'" }, { { per = 0 }, "'per'" }, { { per = -1 }, "'per'" },
    { { margin = -1 }, "'margin'" }, { { margin = 5, per = 1 }, "'margin'" },
    { { per = 1e-9 }, "'per'" },
    { { shared = "" }, "'shared'" }, { { shared = "/nonexistent-dir/limit" }, "'shared'" },
    { { key = 5 }, "'key'" },
  }
  for _, c in ipairs(cases) do
    it("raises naming the argument: " .. c[2] .. " " .. tostring(select(2, next(c[1]))), function()
      local ok, msg = pcall(core.limiter, c[1])
      assert.is_false(ok)
      assert.matches(c[2], msg, 1, true)
    end)
  end

  it("refuses a file that is not a limiter file", function()
    local p = tmpfile()
    local f = assert(io.open(p, "w"))
    f:write("hello")
    f:close()
    assert(os.execute("chmod 600 " .. p))
    local ok, msg = pcall(core.limiter, { shared = p })
    os.remove(p)
    assert.is_false(ok)
    assert.matches("not a coreplus limiter file", msg, 1, true)
  end)

  it("refuses a NaN or infinite injected time, and a booking number out of range", function()
    local lim = core.limiter{ rate = 2, per = 1, key = "nan-" .. os.time() .. math.random() }
    assert.error_matches(function() lim:reserve(0 / 0) end, "finite time")
    assert.error_matches(function() lim:reserve(math.huge) end, "finite time")
    local _, n = lim:reserve()
    assert.error_matches(function() lim:sent(n, -math.huge) end, "finite time")
    assert.error_matches(function() lim:sent(2 ^ 60) end, "booking number")
    assert.is_number(lim:sent(n))
    lim:close()
  end)

  it("refuses a shared path that is a symlink, or not a regular file", function()
    local target, link = tmpfile(), tmpfile()
    assert(os.execute(("ln -s '%s' '%s'"):format(target, link)))
    local ok, msg = pcall(core.limiter, { shared = link })
    os.remove(link)
    os.remove(target)
    assert.is_false(ok)
    assert.matches("'shared'", msg, 1, true)
    ok, msg = pcall(core.limiter, { shared = "/dev/null" })
    assert.is_false(ok)
    assert.matches("not a regular file", msg, 1, true)
  end)

  it("reads on_redis_error before a later __index can collect it", function()
    -- Option strings are popped as they are read: a computed one is garbage
    -- at once, and the "key" lookup collects it and reuses its memory. In a
    -- fresh Lua, where the test framework does not also intern "fail".
    local script = tmpfile()
    local f = assert(io.open(script, "w"))
    f:write([[
      local core = require "coreplus.core"
      local opts = setmetatable({}, { __index = function(_, k)
        if k == "on_redis_error" then return ("fa") .. ("il") end
        if k == "key" then
          collectgarbage()
          collectgarbage()
          local t = {}
          for i = 1, 20000 do t[i] = ("%04x"):format(i) end
          return "limiter_spec computed options"
        end
      end })
      local ok, err = pcall(core.limiter, opts)
      io.write(ok and "ok" or tostring(err))
    ]])
    f:close()
    local env = ("LUA_CPATH='%s' LUA_PATH='%s' "):format(package.cpath, package.path)
    local proc = assert(io.popen(env .. "lua5.4 " .. script .. " 2>&1"))
    local out = proc:read("a")
    proc:close()
    os.remove(script)
    assert.equals("ok", out)
  end)

  it("close is idempotent and later use raises", function()
    local l = core.limiter{}
    l:close()
    l:close()
    assert.has_error(function() l:reserve() end, nil)
    assert.matches("closed", tostring(l))
  end)

  it("closes at the end of a <close> scope (Lua 5.4)", function()
    if not _VERSION:find("5%.4") then return pending("<close> is Lua 5.4's") end
    local chunk = assert(load([[
      local core, k = ...
      do local l <close> = core.limiter{ key = k, rate = 1, per = 1, margin = 0 }
        l:reserve(5) end
      local m = core.limiter{ key = k, rate = 1, per = 1, margin = 0 }
      local d = m:reserve(5)
      m:close()
      return d
    ]]))
    assert.equals(0, chunk(core, key("close")))
  end)
end)

describe("core.limiter shared file", function()
  -- With sharing by default every client's key takes a slot of the user's
  -- file, and keys come and go; once all 32 were taken, a new key was never
  -- shared again (it limited itself alone, file_busy). A slot whose window no
  -- longer holds anything back (its last departure older than per + margin)
  -- now goes to the new key.
  it("gives a full file's slot of a key whose window is over to a new key", function()
    local p = tmpfile()
    local clock = core.manual_clock(100000)
    local function limiter(name)
      return core.limiter{ rate = 1, per = 1, margin = 0, shared = p, key = key(name), clock = clock }
    end
    local lims = {}
    for i = 1, 32 do
      lims[i] = limiter("slot" .. i)
      lims[i]:reserve()
    end
    local late = limiter("late")
    clock:advance(0.5)
    late:reserve()                             -- all 32 windows still count: not shared
    assert.is_true(late:stats().file_busy > 0)
    clock:advance(7299.5)
    for i = 2, 32 do lims[i]:reserve() end     -- slot 1's key stays idle
    local other = limiter("other")
    assert.equals(0, (other:reserve()))
    assert.equals(0, other:stats().file_busy)  -- it took the idle slot
    local again = limiter("another")
    again:reserve()
    assert.is_true(again:stats().file_busy > 0)  -- none idle any more
    for _, l in ipairs(lims) do l:close() end
    late:close(); other:close(); again:close()
    os.remove(p)
  end)

  it("shares one window between limiters on the same file and key", function()
    local p = tmpfile()
    local k = key("file")
    local a = core.limiter{ rate = 1, per = 1, margin = 0, shared = p, key = k }
    local b = core.limiter{ rate = 1, per = 1, margin = 0, shared = p:gsub("/([^/]+)$", "/./%1"), key = k }
    local t = core.monotonic()
    assert.equals(0, (a:reserve(t)))
    assert.near(1, (b:reserve(t)), 1e-9)
    local c = core.limiter{ rate = 1, per = 1, margin = 0, shared = p, key = key("other") }
    assert.equals(0, (c:reserve(t)))
    a:close(); b:close(); c:close()
    os.remove(p)
  end)
end)

describe("core.limiter across processes (against the mock)", function()
  local testing = require "coreplus.testing"
  local mock

  setup(function() mock = testing.server{ tls = true } end)
  teardown(function() if mock then mock:stop() end end)

  -- Runs n child processes that each send `count` requests as fast as their
  -- limiter allows; returns the mock's stats for that run.
  -- They start together: each says it is ready (a file), and waits for the
  -- spec's go (another file) once all are.
  local function run_children(n, count, shared)
    mock:reset()
    local gate = tmpfile()
    local code = ([[
      local core = require "coreplus.core"
      local lim = core.limiter{ rate = 10, per = 1, key = %q, shared = %s }
      local cred = { consumer_id = %q, consumer_secret = %q, access_token = %q }
      local gate = %q
      assert(io.open(gate .. ".ready" .. arg[1], "w")):close()
      for _ = 1, 30000 do
        local go = io.open(gate .. ".go")
        if go then go:close(); break end
        core.sleep(0.001)
      end
      local ok, n429 = 0, 0
      for i = 1, %d do
        local r = core.request{ url = %q, cafile = %q, credentials = cred, limiter = lim }
        if r and r.status == 200 then ok = ok + 1 elseif r and r.status == 429 then n429 = n429 + 1 end
      end
      print(ok, n429)
    ]]):format(mock.base_url, shared and ("%q"):format(shared) or "nil", mock.consumer_id,
      mock.consumer_secret, mock.access_token, gate, count, mock:url("Location/"), mock.cafile)
    local script = tmpfile()
    local f = assert(io.open(script, "w"))
    f:write(code)
    f:close()
    local env = ("LUA_CPATH='%s' LUA_PATH='%s' "):format(package.cpath, package.path)
    local procs = {}
    for i = 1, n do
      procs[i] = assert(io.popen(env .. "lua5.4 " .. script .. " " .. i .. " 2>&1"))
    end
    local function all_ready()
      for i = 1, n do
        local r = io.open(gate .. ".ready" .. i)
        if not r then return false end
        r:close()
      end
      return true
    end
    for _ = 1, 3000 do
      if all_ready() then break end
      core.sleep(0.005)
    end
    assert(io.open(gate .. ".go", "w")):close()
    local outs = {}
    for i = 1, n do
      outs[i] = procs[i]:read("a")
      procs[i]:close()
    end
    os.remove(script)
    os.remove(gate .. ".go")
    for i = 1, n do os.remove(gate .. ".ready" .. i) end
    return mock:stats(), outs
  end

  it("3 processes x 20 requests sharing a file: never more than 10 in a second, no 429", function()
    local p = tmpfile()
    local st, outs = run_children(3, 20, p)
    os.remove(p)
    for _, o in ipairs(outs) do assert.matches("^20%s+0", o) end
    assert.equals(60, st.requests)
    assert.equals(0, st.rate_limited)
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. tostring(st.max_in_window))
  end)

  it("core.request tells its limiter about a 429 by itself: the key's margin widens", function()
    mock:reset()
    local l = core.limiter{ rate = 10, per = 1, key = key("request-429") }
    local cred = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token }
    mock:fault{ fault = "429", count = 1 }
    local refused = assert(core.request{ url = mock:url("Location/"), cafile = mock.cafile,
      credentials = cred, limiter = l })
    local learnt = l:stats().learnt_margin
    local res = assert(core.request{ url = mock:url("Location/"), cafile = mock.cafile,
      credentials = cred, limiter = l })
    mock:fault{}
    l:close()
    assert.equals(429, refused.status)
    assert.equals(200, res.status)
    assert.is_true(learnt > 0.9 * core.defaults.learn_step, "learnt " .. learnt)
  end)

  it("without the shared file the same processes overrun the limit (why it exists)", function()
    local st = run_children(3, 20, nil)
    assert.is_true(st.max_in_window > 10, "max_in_window " .. tostring(st.max_in_window))
    assert.is_true(st.rate_limited > 0)
  end)
end)
