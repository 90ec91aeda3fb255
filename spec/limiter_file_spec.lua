-- core.limiter{shared = path} when processes die or stop and when the file
-- rots: leases on pending bookings (docs/decisions.md#pending-leases), and every value read
-- from the file checked. Child processes are started with exec, so that this
-- process is their parent: a child killed here stays a zombie until closed.
-- Time is a manual clock (core.manual_clock): this process's own, or one in
-- a file that this process moves and its children follow, so no test sleeps
-- and every time asserted is exact. The real-time figures are in
-- bench/chaos.lua.
local core = require "coreplus.core"

-- (under make check the children get the normal build: COREPLUS_CHILD_LUA_CPATH)
local ENV = ("LUA_CPATH='%s' LUA_PATH='%s' "):format(os.getenv("COREPLUS_CHILD_LUA_CPATH")
  or package.cpath, package.path)

local unique = 0
local function key(name)
  unique = unique + 1
  return ("limiter_file_spec %s %d %d"):format(name, unique, math.random(1, 1e9))
end

local F = dofile("spec/support/files.lua")
local tmpfile, write, sh = F.tmpname, F.write, F.sh

-- A child Lua script with its own limiter on (path, key): prints its pid,
-- then runs body (with `core`, `l`, `say(...)` in scope).
local function child(path, k, limiter_opts, body, wrap)
  local script = tmpfile()
  write(script, ([[
    local core = require "coreplus.core"
    local o = %s
    o.shared, o.key = arg[1], arg[2]
    local l = core.limiter(o)
    local function say(...) io.write(table.concat({ ... }, " "), "\n"); io.stdout:flush() end
    local st = io.open("/proc/self/stat"); say(st:read("n")); st:close()
    %s
  ]]):format(limiter_opts, body))
  local proc = assert(io.popen(ENV .. "exec " .. (wrap or "") .. "lua5.4 " .. script .. " "
    .. path .. " '" .. k .. "' 2>&1"))
  local line = proc:read("l")
  local pid = math.tointeger(tonumber(line))
  if not pid then error("child: " .. tostring(line) .. (proc:read("a") or "")) end
  return proc, pid, script
end

-- Waits for cond() to hold: for another process to get somewhere, never for
-- time to pass (real time only bounds it).
local function wait_for(cond, what)
  for _ = 1, 5000 do
    if cond() then return end
    core.sleep(0.002)
  end
  error("gave up waiting for " .. what)
end

local function state_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("^%d+ %b() (%a)")
end

-- The file's layout, for damaging it.
local LF = dofile("spec/support/limit_file.lua")
local HEAD, entry_at, peek, poke = LF.HEAD, LF.entry_at, LF.peek, LF.poke

describe("core.limiter shared file: a process dies or is stopped", function()
  -- Takes a slot, then waits for one booked `per` seconds ahead (pending),
  -- on the clock in the file this process moves.
  local WAITER = [[
    l:acquire()
    say(("%.3f"):format(o.clock:now()))
    l:acquire()
    say(("%.3f"):format(o.clock:now()), l:stats().relets)
  ]]
  local function opts(clock_path)
    return ("{ rate = 1, per = 3, margin = 0, clock = core.manual_clock{ file = %q, follow = true } }")
      :format(clock_path)
  end

  local function first_slot(proc)
    local line = proc:read("l")
    local t = tonumber(line and line:match("^[%d.]+$"))
    if not t then error("child: " .. tostring(line) .. (proc:read("a") or "")) end
    return t
  end

  -- The clock (at 100), this process's limiter on (p, k), and a child that
  -- holds a pending booking for 103 under a lease to 101.
  local function scene(name)
    local p, k, cp = tmpfile(), key(name), tmpfile()
    local clock = core.manual_clock{ file = cp, at = 100 }
    local proc, pid, script = child(p, k, opts(cp), WAITER)
    -- it follows the clock: should this spec fail, nothing else would end it
    finally(function() sh("kill -9 " .. pid .. " 2>/dev/null") end)
    assert.equals(100, first_slot(proc))
    local l = core.limiter{ rate = 1, per = 3, margin = 0, shared = p, key = k, clock = clock }
    wait_for(function() return l:stats().pending == 1 end, "the child's pending booking")
    return { p = p, cp = cp, clock = clock, proc = proc, pid = pid, script = script, l = l }
  end

  local function done(sc)
    sc.l:close()
    sc.clock:close()
    os.remove(sc.p); os.remove(sc.cp); os.remove(sc.script)
  end

  it("forgets the pending booking of a process that was killed and reaped", function()
    local sc = scene("killed")
    sh("kill -9 " .. sc.pid)
    sc.proc:close()
    assert(sc.l:acquire())
    local at = sc.clock:now()
    done(sc)
    assert.near(103, at, 1e-6)   -- 3 s after the first slot, not 6 (after the dead one's)
  end)

  it("forgets it as well while the killed process is a zombie (kill(pid, 0) still succeeds)", function()
    local sc = scene("zombie")
    sh("kill -9 " .. sc.pid)
    wait_for(function() return state_of(sc.pid) == "Z" end, "a zombie")
    assert(sc.l:acquire())
    local at = sc.clock:now()
    sc.proc:close()
    done(sc)
    assert.near(103, at, 1e-6)
  end)

  it("lets the others go on while a process is stopped; resumed, it books again behind them", function()
    local sc = scene("stopped")
    sh("kill -STOP " .. sc.pid)
    assert(sc.l:acquire())
    local mine = sc.clock:now()
    sc.clock:advance(1.25)   -- past the stopped one's lease
    sh("kill -CONT " .. sc.pid)
    -- it books again (booking 4, for 106) and renews its lease while it
    -- waits, every 0.25 s of the clock: moved 0.3 s at a time, each renewal
    -- seen in the file before the next
    local lease_at = entry_at(0, 4) + 16
    local function lease() return (string.unpack("<d", peek(sc.p, lease_at, 8))) end
    wait_for(function() return math.abs(lease() - (sc.clock:now() + 1)) < 1e-9 end, "a new booking")
    while sc.clock:now() < mine + 3 do
      sc.clock:advance(0.3)
      local now = sc.clock:now()
      wait_for(function() return lease() >= now + 1 - 1e-9 end, "a renewal")
    end
    local line = sc.proc:read("l")
    sc.proc:close()
    done(sc)
    local theirs, relets = line:match("^([%d.]+) (%d+)")
    assert.near(103, mine, 1e-6)
    assert.equals("1", relets, line)
    -- never two slots within per: the stopped one did not go on its old slot
    assert.is_true(tonumber(theirs) >= mine + 3 - 1e-3, ("theirs %.3f, mine %.3f"):format(theirs, mine))
  end)
end)

describe("core.limiter shared file: damaged values", function()
  -- A limiter on a fresh file, its key in slot 0, on a clock at 100, with
  -- `rate` slots taken now.
  local function taken(rate, clock)
    local p = tmpfile()
    local l = core.limiter{ rate = rate, per = 1, margin = 0, shared = p, key = key("damage"),
      clock = clock or core.manual_clock(100) }
    for _ = 1, rate do assert.equals(0, (l:reserve())) end
    return l, p
  end

  local function ends(l, p)
    l:close()
    os.remove(p)
  end

  -- The window counts as full as of now: the next booking waits one window.
  local function full(d)
    assert.near(1, d, 1e-9)
  end

  it("a NaN departure time does not switch the limit off", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + 8, string.pack("<d", 0 / 0)) end
    local d = l:reserve()
    local st = l:stats()
    ends(l, p)
    full(d)
    assert.is_true(st.file_repairs >= 3)
  end)

  it("a departure time of 1e12 hangs nobody", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + 8, string.pack("<d", 1e12)) end
    local d = l:reserve()
    ends(l, p)
    full(d)
  end)

  it("a huge `next` neither wraps nor lets a burst through", function()
    local l, p = taken(3)
    poke(p, HEAD, string.pack("<I8", -1))
    local d1 = l:reserve()
    local d2 = l:reserve()
    ends(l, p)
    full(d1)
    full(d2)
  end)

  it("an unknown state counts as a departure now", function()
    local l, p = taken(2)
    local _, n = l:reserve()   -- a third slot, one window on
    poke(p, entry_at(0, n) + 32, string.pack("<I4", 77))
    local d = l:reserve()
    ends(l, p)
    full(d)
  end)

  -- Issue 26: values that are possible but wrong. Before, a time 100 s
  -- ahead held everyone up for 100 s (anything within the ~107 s a full
  -- ring can queue was believed), a flipped state made bookings that left
  -- no longer count, and a lease far ahead held everyone up until it ran out.
  it("a time 100 s ahead costs at most one window, and is written back mended", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + LF.T, string.pack("<d", 200)) end
    l:stats()   -- an operation that only reads mends, and writes back
    local mended = string.unpack("<d", peek(p, entry_at(0, 1) + LF.T, 8))
    local d = l:reserve()
    ends(l, p)
    assert.equals(100, mended)
    full(d)
  end)

  it("a time 100 s ahead behind a chain of bookings costs at most one window", function()
    local p = tmpfile()
    local l = core.limiter{ rate = 3, per = 1, margin = 0, shared = p, key = key("chain"),
      clock = core.manual_clock(100) }
    for i = 1, 6 do assert.equals(i <= 3 and 0 or 1, (l:reserve())) end   -- 3 at 100, 3 at 101
    for n = 4, 6 do poke(p, entry_at(0, n) + LF.T, string.pack("<d", 200)) end
    local d = l:reserve()
    ends(l, p)
    assert.near(2, d, 1e-9)   -- after 101's: as if nothing had happened
  end)

  it("a cancelled mark on bookings that left lets nothing through", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + LF.STATE, string.pack("<I4", LF.CANCELLED)) end
    local d = l:reserve()
    ends(l, p)
    full(d)
  end)

  it("a lease 100 s ahead holds the others up for a lease at most", function()
    local l, p = taken(3, core.manual_clock(100))
    -- the first becomes a booking still pending under a lease to 200
    local at = entry_at(0, 1)
    poke(p, at + LF.LEASE, string.pack("<d", 200))
    poke(p, at + LF.TAG, string.pack("<I8", 7))
    poke(p, at + LF.STATE, string.pack("<I4", LF.PENDING))
    local waited = assert(l:acquire())
    ends(l, p)
    assert.is_true(waited <= 2, "waited " .. waited)
  end)

  it("a zeroed file is rebuilt, and the window counts as full, not empty", function()
    local l, p = taken(3)
    local f = assert(io.open(p, "r+b"))
    local size = f:seek("end")
    f:seek("set", 0)
    f:write(("\0"):rep(size))
    f:close()
    local d = l:reserve()
    local st = l:stats()
    ends(l, p)
    full(d)
    assert.is_true(st.file_repairs >= 1)
  end)

  it("garbage over the whole file, header included, is rebuilt", function()
    local l, p = taken(3)
    local f = assert(io.open(p, "r+b"))
    local size = f:seek("end")
    f:seek("set", 0)
    math.randomseed(5)
    local t = {}
    for i = 1, size // 8 do t[i] = string.pack("<I8", math.random(0, math.maxinteger)) end
    f:write(table.concat(t))
    f:close()
    local d = l:reserve()
    ends(l, p)
    full(d)
  end)

  -- A process holding 3 slots of 3 while the whole file, header included,
  -- is overwritten with one 8-byte word; then it books once more. It waits
  -- for the word on a FIFO. Under `timeout`: a hang is a failure, not a hung
  -- suite.
  local function flooded(word)
    local p, go = tmpfile(), tmpfile()
    assert(sh("mkfifo " .. go))
    -- (both ends open the FIFO read-write, which never blocks: a child that
    -- died early costs a failure, not a hung suite)
    local proc = child(p, key("flood"), "{ rate = 3, per = 1, margin = 0, clock = core.manual_clock(100) }", ([[
      local go = io.open(%q, "r+")
      for _ = 1, 3 do l:reserve() end
      say("taken")
      go:read("l")
      say(("d %%.3f"):format((l:reserve())))
    ]]):format(go), "timeout 10 ")
    assert.equals("taken", proc:read("l"))
    local f = assert(io.open(p, "r+b"))
    local size = f:seek("end")
    f:seek("set", 0)
    f:write(word:rep(size // 8))
    f:close()
    local fifo = assert(io.open(go, "r+"))
    fifo:write("go\n")
    fifo:close()
    local out = proc:read("a")
    local ok = proc:close()
    os.remove(p); os.remove(go)
    return tonumber(out:match("d ([%d.]+)")), out, ok
  end

  it("a file flooded with NaN does not switch the limit off", function()
    local d, out = flooded(string.pack("<d", 0 / 0))
    assert.equals(1, d, out)
  end)

  it("a file flooded with 1e12 (times, numbers) hangs nobody", function()
    local d, out = flooded(string.pack("<d", 1e12))
    assert.equals(1, d, out)
  end)

  it("a file flooded with 0xff (a huge next) hangs nobody", function()
    local d, out = flooded(("\255"):rep(8))
    assert.equals(1, d, out)
  end)

  it("a new process opens a file damaged at its old size", function()
    local l, p = taken(1)
    poke(p, 0, ("\255"):rep(64))
    local m = core.limiter{ rate = 1, per = 1, margin = 0, shared = p, key = key("new") }
    assert.is_number((m:reserve()))
    m:close()
    ends(l, p)
  end)
end)

describe("core.limiter shared file: cut short or locked while in use", function()
  it("truncating or shrinking the file kills nobody (no SIGBUS) and is mended", function()
    local p, k = tmpfile(), key("truncate")
    local procs, gos = {}, {}
    for i = 1, 4 do
      -- reserve never waits: each child books 10 times for each "go" on its FIFO
      local fifo = tmpfile()
      assert(sh("mkfifo " .. fifo))
      procs[i] = child(p, k, "{ rate = 10, per = 1 }", ([[
        local go = io.open(%q, "r+")
        while go:read("l") == "go" do
          for _ = 1, 10 do l:reserve() end
          say("booked")
        end
        say("done", l:stats().file_repairs)
      ]]):format(fifo), "timeout 60 ")
      gos[i] = { path = fifo, f = assert(io.open(fifo, "r+")) }
    end
    local function round(word)
      for _, go in ipairs(gos) do go.f:write(word, "\n"); go.f:flush() end
    end
    -- every damage comes between two rounds of bookings by every child
    for i = 1, 7 do
      round("go")
      for _, proc in ipairs(procs) do assert.equals("booked", proc:read("l")) end
      if i == 7 then break end
      if i % 2 == 0 then sh(": > " .. p) else sh("truncate -s 100 " .. p) end
    end
    round("stop")
    local mended = 0
    for i, proc in ipairs(procs) do
      local out = proc:read("a")
      local ok, how, code = proc:close()
      assert(ok, ("child %d: %s %s %s"):format(i, tostring(how), tostring(code), out))
      mended = mended + tonumber(out:match("done (%d+)"))
      gos[i].f:close()
      os.remove(gos[i].path)
    end
    os.remove(p)
    assert.is_true(mended >= 6, "mended " .. mended)
  end)

  it("a lock held by a stopped process bounds the wait (a second) and is logged once", function()
    local p, k, ready = tmpfile(), key("locked"), tmpfile()
    local clock = core.manual_clock(100)
    local l = core.limiter{ rate = 10, per = 1, shared = p, key = k, clock = clock }
    l:reserve()
    -- python's fcntl.lockf takes the same POSIX record lock as the core; it
    -- holds it until its standard input closes
    local holder = assert(io.popen(("exec /usr/bin/python3 -c 'import fcntl,sys; "
      .. "f=open(sys.argv[1],\"r+\"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2],\"w\").write(\"x\"); "
      .. "sys.stdin.read()' %s %s"):format(p, ready), "w"))
    wait_for(function() return F.read(ready) == "x" end, "the lock")
    local proc = child(p, k, "{ rate = 10, per = 1, clock = core.manual_clock(100) }", [[
      for _ = 1, 5 do assert(l:acquire()) end
      say(("took %.3f busy %d"):format(o.clock:now() - 100, l:stats().file_busy))
    ]], "timeout 60 ")
    local out = proc:read("a")
    -- a deadline bounds the lock's wait too, and says so
    local t = clock:now()
    local w, err = l:acquire(t + 0.3)
    local lock_took = clock:now() - t
    proc:close()
    holder:close()
    l:close()
    os.remove(p); os.remove(ready)
    assert.is_nil(w)
    assert.equals("timeout", err.kind)
    assert.matches("the wait for the shared limit file's lock would pass the deadline", err.message, 1, true)
    assert.near(0.3, lock_took, 1e-9)
    local took, busy = out:match("took ([%d.]+) busy (%d+)")
    assert.is_truthy(took, out)
    -- one wait of a second for the lock, then a brief look per operation
    assert.is_true(tonumber(took) >= 1 and tonumber(took) < 1.2, out)
    assert.is_true(tonumber(busy) >= 1, out)
    local _, logged = out:gsub("stayed locked", "")
    assert.equals(1, logged, out)
  end)
end)

describe("core.limiter shared file: the call's deadline bounds every lock wait", function()
  -- Issue 26: only the booking's first step waited for the lock no longer
  -- than the deadline; renewing it, sending and counting waited up to a
  -- second each, so acquire(deadline) and core.request returned after their
  -- deadline, holding a slot.
  it("a lock taken while a booking waits is waited for until the deadline, not a second", function()
    local p, k, cp = tmpfile(), key("late-lock"), tmpfile()
    core.manual_clock{ file = cp, at = 100 }:close()
    local clock = core.manual_clock{ file = cp, follow = true }
    local l = core.limiter{ rate = 1, per = 1, margin = 0, shared = p, key = k, clock = clock }
    assert.equals(0, l:acquire())
    -- Once the second booking is in the file (granted 2), it takes the lock
    -- and moves the clock 10 ms at a time: this process's next look at the
    -- file, a renewal 0.25 s on, finds it locked.
    local granted_at = HEAD + 8
    local holder = assert(io.popen(("exec timeout 60 /usr/bin/python3 -c '%s' %s %s %d"):format([[
import fcntl, os, struct, sys, time
print(os.getpid(), flush=True)
f = open(sys.argv[1], "r+b", buffering=0); c = open(sys.argv[2], "r+b", buffering=0)
at, give_up = int(sys.argv[3]), time.time() + 10
while time.time() < give_up:
    f.seek(at)
    if struct.unpack("<Q", f.read(8))[0] >= 2: break
    time.sleep(0.001)
else:
    f = None  # never seen: the clock still moves, and the spec fails, not hangs
if f: fcntl.lockf(f, fcntl.LOCK_EX)
while True:
    c.seek(0); t = struct.unpack("<d", c.read(8))[0] + 0.01
    c.seek(0); c.write(struct.pack("<d", t)); c.flush()
    time.sleep(0.001)
]], p, cp, granted_at)))
    local pid = assert(math.tointeger(tonumber(holder:read("l"))))
    finally(function() sh("kill -9 " .. pid .. " 2>/dev/null") end)
    local deadline = clock:now() + 1.1   -- its slot is at 101: in time
    local w, err = l:acquire(deadline)
    local ended = clock:now()
    sh("kill -9 " .. pid)
    holder:close()
    l:close(); clock:close()
    os.remove(p); os.remove(cp)
    assert.is_true(ended <= deadline + 0.02, ("ended %.3f s after the deadline"):format(ended - deadline))
    assert.is_nil(w, "granted after the deadline")
    assert.equals("timeout", err.kind)
    assert.matches("the wait for the shared limit file's lock would pass the deadline", err.message, 1, true)
  end)
end)

describe("core.limiter shared file: the file is the one the path names", function()
  -- Issue 26: a process kept the file it had opened, so deleting the file
  -- while processes ran made a second window: the ones started afterwards
  -- shared a new file, the others the deleted one (28 x 429).
  local OPTS = "{ rate = 3, per = 1, margin = 0, clock = core.manual_clock{ file = %q } }"

  -- A child on (p, k) books `count` slots and says their delays.
  local function books(p, k, cp, count)
    local proc = child(p, k, OPTS:format(cp), ([[
      local d = {}
      for i = 1, %d do d[i] = ("%%g"):format((l:reserve())) end
      say(table.concat(d, " "))
    ]]):format(count), "timeout 30 ")
    local out = proc:read("l")
    proc:close()
    return out
  end

  local function scene(name)
    local p, k, cp = tmpfile(), key(name), tmpfile()
    local clock = core.manual_clock{ file = cp, at = 100 }
    local l = core.limiter{ rate = 3, per = 1, margin = 0, shared = p, key = k, clock = clock }
    assert.equals(0, (l:reserve()))   -- one slot of 3 taken, in the first file
    return p, k, cp, clock, l
  end

  it("a process moves to the file made after the path's was deleted", function()
    local p, k, cp, clock, l = scene("deleted")
    os.remove(p)
    assert.equals("0 0 0", books(p, k, cp, 3))   -- a new process makes a new file
    local d = l:reserve()                        -- this one moves to it: 3 taken there
    l:close(); clock:close()
    os.remove(p); os.remove(cp)
    assert.equals(1, d)
  end)

  it("a process moves to a file put in the path's place", function()
    local p, k, cp, clock, l = scene("replaced")
    local q = tmpfile()
    assert.equals("0 0 0", books(q, k, cp, 3))
    assert(os.rename(q, p))
    local d = l:reserve()
    l:close(); clock:close()
    os.remove(p); os.remove(cp)
    assert.equals(1, d)
  end)

  -- Each process arriving from the old file used to add a window's worth of
  -- departures after the bookings made there since, and each of those then
  -- waited a window for the one before it: 6 processes, 6 windows of one
  -- request each.
  it("processes arriving from a deleted file one after another cost one window together", function()
    local p, k, cp, clock, l = scene("arrivals")
    local fifo = tmpfile()
    assert(sh("mkfifo " .. fifo))
    local proc = child(p, k, OPTS:format(cp), ([[
      local go = io.open(%q, "r+")
      l:reserve()
      say("ready")
      go:read("l")
      say(("%%g"):format((l:reserve())))
    ]]):format(fifo), "timeout 30 ")
    assert.equals("ready", proc:read("l"))
    os.remove(p)
    local f = assert(io.open(fifo, "r+"))
    f:write("go\n")
    f:close()
    local theirs = proc:read("l")   -- first on the new file: it counts as full
    proc:close()
    local mine = l:reserve()        -- second: in the same window as theirs
    l:close(); clock:close()
    os.remove(p); os.remove(cp); os.remove(fifo)
    assert.equals("1", theirs)
    assert.equals(1, mine)
  end)

  it("a process whose file was deleted makes the path's file again, counting as full", function()
    local p, _, cp, clock, l = scene("gone")
    os.remove(p)
    local d = l:reserve()
    local made = F.read(p)
    l:close(); clock:close()
    os.remove(p); os.remove(cp)
    assert.truthy(made and #made > 4096, "the file was made again")
    assert.equals(1, d)
  end)

  it("a file put in the path's place that others may write is not used, and that is said", function()
    local p, k, cp, clock, l = scene("planted")
    local q = tmpfile()
    books(q, k, cp, 1)
    assert(sh("chmod 666 " .. q))
    assert(os.rename(q, p))
    local d = l:reserve()
    local st = l:stats()
    l:close(); clock:close()
    os.remove(p); os.remove(cp)
    assert.equals(0, d)                -- booked in this process's own window ...
    assert.is_true(st.file_busy >= 1)  -- ... while the file cannot be used
  end)
end)

describe("core.limiter shared file: whose file", function()
  -- (a user who may read the file may hold a read lock on it, which
  -- switched sharing off: issue 26)
  for _, c in ipairs{ { "666", "may be written by other users (mode 0666)" },
                      { "644", "may be read by other users (mode 0644), who could then hold its lock" } } do
    it("refuses a file that other users may read or write: mode " .. c[1], function()
      local p = tmpfile()
      write(p, "", c[1])
      local ok, msg = pcall(core.limiter, { shared = p })
      os.remove(p)
      assert.is_false(ok)
      assert.matches(c[2], msg, 1, true)
    end)
  end

  it("refuses a file that belongs to another user", function()
    local uid = tonumber(io.popen("id -u"):read("l"))
    if uid ~= 0 then return pending("needs root to give a file away") end
    local p = tmpfile()
    write(p, "")
    assert(sh("chown 65534 " .. p .. " && chmod 600 " .. p))
    local ok, msg = pcall(core.limiter, { shared = p })
    os.remove(p)
    assert.is_false(ok)
    assert.matches("belongs to uid 65534, not to this user", msg, 1, true)
  end)

  it("refuses a limit file of another lua-coreplus version, saying so", function()
    local p = tmpfile()
    write(p, "coreplus-limit\n\0" .. string.pack("<I4", 1) .. ("\0"):rep(1000), "600")
    local ok, msg = pcall(core.limiter, { shared = p })
    os.remove(p)
    assert.is_false(ok)
    assert.matches("another lua-coreplus version", msg, 1, true)
  end)
end)
