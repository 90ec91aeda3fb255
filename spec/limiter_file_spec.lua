-- core.limiter{shared = path} when processes die, stop or hold the file's
-- lock: leases on pending bookings (docs/decisions.md#pending-leases), a
-- file cut short under running processes, and the lock's wait bounded by a
-- second and by the call's deadline. Child processes are started with exec,
-- so that this process is their parent: a child killed here stays a zombie
-- until closed. Time is a manual clock (core.manual_clock): this process's
-- own, or one in a file that this process moves and its children follow, so
-- no test sleeps and every time asserted is exact. The real-time figures are
-- in bench/chaos.lua. Damaged values: limiter_file_damage_spec.lua; which
-- file and whose: limiter_file_path_spec.lua.
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/limit_procs.lua")
local LF = dofile("spec/support/limit_file.lua")
local tmpfile, sh = F.tmpname, F.sh
local key = P.keys("limiter_file_spec")
local child, wait_for, state_of = P.child, P.wait_for, P.state_of
local HEAD, entry_at, peek = LF.HEAD, LF.entry_at, LF.peek

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

describe("core.limiter shared file: cut short or locked while in use", function()
  it("truncating or shrinking the file kills nobody (no SIGBUS) and is mended", function()
    local p, k = tmpfile(), key("truncate")
    local procs, gos = {}, {}
    for i = 1, 4 do
      -- reserve never waits: each child books 10 times for each "go" on its FIFO
      local fifo = P.fifo()
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
    -- and moves the clock 2 ms a real millisecond: this process's next look
    -- at the file, a renewal 0.25 s on, finds it locked. (Faster, a slow
    -- run, valgrind's, made the real delay of returning 20 ms of the clock.)
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
    c.seek(0); t = struct.unpack("<d", c.read(8))[0] + 0.002
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
