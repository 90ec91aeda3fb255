-- core.limiter{shared = path} when processes die or stop and when the file
-- rots: leases on pending bookings (docs/decisions.md#pending-leases), and every value read
-- from the file checked. Child processes are started with exec, so that this
-- process is their parent: a child killed here stays a zombie until closed.
-- Timing bounds are loose; the figures are in bench/chaos.lua.
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

local function state_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("^%d+ %b() (%a)")
end

-- The layout of a limit file (file.c, format 4), for damaging it:
-- a 4096-byte header, then one window per key slot; a window is next,
-- granted, cancelled, waited_total, last_sent, span, cap (8 bytes each), then
-- 1024 entries of n, t, lease, tag (8 bytes each), state, pid (4 bytes each).
local HEAD, RING_HEAD, ENTRY = 4096, 56, 40   -- a window: next, granted, cancelled, waited_total, last_sent, span, cap
local function entry_at(slot, n)
  return HEAD + slot * (RING_HEAD + 1024 * ENTRY) + RING_HEAD + (n % 1024) * ENTRY
end
local function poke(path, offset, bytes)
  local f = assert(io.open(path, "r+b"))
  f:seek("set", offset)
  f:write(bytes)
  f:close()
end

describe("core.limiter shared file: a process dies or is stopped", function()
  -- Takes a slot, then waits for one booked `per` seconds ahead (pending).
  local WAITER = [[
    l:acquire()
    say(("%.3f"):format(core.now()))
    l:acquire()
    say(("%.3f"):format(core.now()), l:stats().relets)
  ]]
  local OPTS = "{ rate = 1, per = 3, margin = 0 }"

  local function first_slot(proc)
    local line = proc:read("l")
    local t = tonumber(line and line:match("^[%d.]+$"))
    if not t then error("child: " .. tostring(line) .. (proc:read("a") or "")) end
    return t
  end

  it("forgets the pending booking of a process that was killed and reaped", function()
    local p, k = tmpfile(), key("killed")
    local proc, pid, script = child(p, k, OPTS, WAITER)
    local t0 = first_slot(proc)
    core.sleep(0.2)
    sh("kill -9 " .. pid)
    proc:close()
    local l = core.limiter{ rate = 1, per = 3, margin = 0, shared = p, key = k }
    assert(l:acquire())
    local at = core.now()
    l:close()
    os.remove(p); os.remove(script)
    -- 3 s after the first slot, not 6 s (after the dead one's)
    assert.is_true(at - t0 > 2.8 and at - t0 < 4.5, "granted " .. (at - t0) .. " s after the first")
  end)

  it("forgets it as well while the killed process is a zombie (kill(pid, 0) still succeeds)", function()
    local p, k = tmpfile(), key("zombie")
    local proc, pid, script = child(p, k, OPTS, WAITER)
    local t0 = first_slot(proc)
    core.sleep(0.2)
    sh("kill -9 " .. pid)
    core.sleep(0.1)
    assert.equals("Z", state_of(pid))
    local l = core.limiter{ rate = 1, per = 3, margin = 0, shared = p, key = k }
    assert(l:acquire())
    local at = core.now()
    l:close()
    proc:close()
    os.remove(p); os.remove(script)
    assert.is_true(at - t0 > 2.8 and at - t0 < 4.5, "granted " .. (at - t0) .. " s after the first")
  end)

  it("lets the others go on while a process is stopped; resumed, it books again behind them", function()
    local p, k = tmpfile(), key("stopped")
    local proc, pid, script = child(p, k, OPTS, WAITER)
    -- a stopped child left behind would hang this process in pclose
    finally(function() sh("kill -CONT " .. pid .. " 2>/dev/null") end)
    local t0 = first_slot(proc)
    core.sleep(0.2)
    sh("kill -STOP " .. pid)
    local l = core.limiter{ rate = 1, per = 3, margin = 0, shared = p, key = k }
    assert(l:acquire())
    local mine = core.now()
    core.sleep(4.2 - (mine - t0))
    sh("kill -CONT " .. pid)
    local line = proc:read("l")
    proc:close()
    l:close()
    os.remove(p); os.remove(script)
    local theirs, relets = line:match("^([%d.]+) (%d+)")
    assert.is_true(mine - t0 > 2.8 and mine - t0 < 4.5, "granted " .. (mine - t0) .. " s after the first")
    assert.equals("1", relets, line)
    -- never two slots within per: the stopped one did not go on its old slot
    assert.is_true(tonumber(theirs) - mine > 2.9, ("theirs %.3f, mine %.3f"):format(theirs, mine))
  end)
end)

describe("core.limiter shared file: damaged values", function()
  -- A limiter on a fresh file, its key in slot 0, with `rate` slots taken now.
  local function taken(rate)
    local p = tmpfile()
    local l = core.limiter{ rate = rate, per = 1, margin = 0, shared = p, key = key("damage") }
    for _ = 1, rate do assert.equals(0, (l:reserve())) end
    return l, p
  end

  local function ends(l, p)
    l:close()
    os.remove(p)
  end

  it("a NaN departure time does not switch the limit off", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + 8, string.pack("<d", 0 / 0)) end
    local d = l:reserve()
    local st = l:stats()
    ends(l, p)
    assert.is_true(d > 0.5 and d <= 1.01, "delay " .. d)
    assert.is_true(st.file_repairs >= 3)
  end)

  it("a departure time of 1e12 hangs nobody", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + 8, string.pack("<d", 1e12)) end
    local d = l:reserve()
    ends(l, p)
    assert.is_true(d > 0.5 and d <= 1.01, "delay " .. d)
  end)

  it("a huge `next` neither wraps nor lets a burst through", function()
    local l, p = taken(3)
    poke(p, HEAD, string.pack("<I8", -1))
    local d1 = l:reserve()
    local d2 = l:reserve()
    ends(l, p)
    assert.is_true(d1 > 0.5 and d1 <= 1.01, "delay " .. d1)
    assert.is_true(d2 > 0.5 and d2 <= 1.01, "delay " .. d2)
  end)

  it("an unknown state or a lease far ahead holds nobody up for long", function()
    local l, p = taken(2)
    local _, n = l:reserve()   -- a third slot, one window on
    poke(p, entry_at(0, n) + 32, string.pack("<I4", 77))
    local d = l:reserve()
    ends(l, p)
    assert.is_true(d >= 0 and d <= 1.01, "delay " .. d)
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
    assert.is_true(d > 0.5 and d <= 1.01, "delay " .. d)
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
    assert.is_true(d > 0.5 and d <= 1.01, "delay " .. d)
  end)

  -- A process holding 3 slots of 3 while the whole file, header and lock
  -- included, is overwritten with one 8-byte word; then it books once more.
  -- Under `timeout`: a hang is a failure, not a hung suite.
  local function flooded(word)
    local p, go = tmpfile(), tmpfile()
    local proc = child(p, key("flood"), "{ rate = 3, per = 1, margin = 0 }", ([[
      for _ = 1, 3 do l:reserve() end
      say("taken")
      while not io.open(%q) do core.sleep(0.01) end
      say(("d %%.3f"):format((l:reserve())))
    ]]):format(go), "timeout 10 ")
    assert.equals("taken", proc:read("l"))
    local f = assert(io.open(p, "r+b"))
    local size = f:seek("end")
    f:seek("set", 0)
    f:write(word:rep(size // 8))
    f:close()
    write(go, "")
    local out = proc:read("a")
    local ok = proc:close()
    os.remove(p); os.remove(go)
    return tonumber(out:match("d ([%d.]+)")), out, ok
  end

  it("a file flooded with NaN does not switch the limit off", function()
    local d, out = flooded(string.pack("<d", 0 / 0))
    assert.is_true(d ~= nil and d > 0.5 and d <= 1.01, out)
  end)

  it("a file flooded with 1e12 (times, numbers, the lock) hangs nobody", function()
    local d, out = flooded(string.pack("<d", 1e12))
    assert.is_true(d ~= nil and d > 0.5 and d <= 1.01, out)
  end)

  it("a file flooded with 0xff (a stuck lock word, a huge next) hangs nobody", function()
    local d, out = flooded(("\255"):rep(8))
    assert.is_true(d ~= nil and d > 0.5 and d <= 1.01, out)
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
  -- n children take slots in a loop for `dur` seconds; returns the handles.
  local function takers(p, k, n, dur)
    local procs = {}
    for i = 1, n do
      procs[i] = child(p, k, "{ rate = 10, per = 1 }", ([[
        local stop = core.now() + %f
        while core.now() < stop do assert(l:acquire()) end
        say("done", l:stats().file_repairs)
      ]]):format(dur))
    end
    return procs
  end

  local function finish(procs)
    local outs = {}
    for i, proc in ipairs(procs) do
      local out = proc:read("a")
      local ok, how, code = proc:close()
      outs[i] = { out = out, ok = ok, how = how, code = code }
    end
    return outs
  end

  it("truncating or shrinking the file kills nobody (no SIGBUS) and is mended", function()
    local p, k = tmpfile(), key("truncate")
    local procs = takers(p, k, 4, 2.5)
    for i = 1, 6 do
      core.sleep(0.3)
      if i % 2 == 0 then sh(": > " .. p) else sh("truncate -s 100 " .. p) end
    end
    local outs = finish(procs)
    os.remove(p)
    local mended = 0
    for i, o in ipairs(outs) do
      assert.is_true(o.ok, ("child %d: %s %s %s"):format(i, tostring(o.how), tostring(o.code), o.out))
      mended = mended + tonumber(o.out:match("done (%d+)"))
    end
    assert.is_true(mended >= 1)
  end)

  it("a lock held by a stopped process bounds the wait (about a second) and is logged once", function()
    local p, k = tmpfile(), key("locked")
    local l = core.limiter{ rate = 10, per = 1, shared = p, key = k }
    l:reserve()
    local ready = tmpfile()
    -- python's fcntl.lockf takes the same POSIX record lock as the core
    local holder = assert(io.popen(("exec /usr/bin/python3 -c 'import fcntl,sys,time; "
      .. "f=open(sys.argv[1],\"r+\"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2],\"w\").write(\"x\"); "
      .. "time.sleep(3)' %s %s"):format(p, ready)))
    for _ = 1, 100 do
      if io.open(ready) then break end
      core.sleep(0.02)
    end
    local proc = child(p, k, "{ rate = 10, per = 1 }", [[
      local t = core.monotonic()
      for _ = 1, 5 do assert(l:acquire()) end
      say(("took %.3f busy %d"):format(core.monotonic() - t, l:stats().file_busy))
    ]])
    local out = proc:read("a")
    -- a deadline bounds the lock's wait too, and says so
    local t = core.monotonic()
    local w, err = l:acquire(core.now() + 0.3)
    local lock_took = core.monotonic() - t
    proc:close()
    holder:close()
    l:close()
    os.remove(p); os.remove(ready)
    assert.is_nil(w)
    assert.equals("timeout", err.kind)
    assert.matches("the wait for the shared limit file's lock would pass the deadline", err.message, 1, true)
    assert.is_true(lock_took < 0.8, "took " .. lock_took)
    local took, busy = out:match("took ([%d.]+) busy (%d+)")
    assert.is_truthy(took, out)
    assert.is_true(tonumber(took) < 2.5, out)
    assert.is_true(tonumber(busy) >= 1, out)
    local _, logged = out:gsub("stayed locked", "")
    assert.equals(1, logged, out)
  end)
end)

describe("core.limiter shared file: whose file", function()
  it("refuses a file that other users may write", function()
    local p = tmpfile()
    write(p, "")
    assert(sh("chmod 666 " .. p))
    local ok, msg = pcall(core.limiter, { shared = p })
    os.remove(p)
    assert.is_false(ok)
    assert.matches("may be written by other users (mode 0666)", msg, 1, true)
  end)

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
    write(p, "coreplus-limit\n\0" .. string.pack("<I4", 1) .. ("\0"):rep(1000))
    local ok, msg = pcall(core.limiter, { shared = p })
    os.remove(p)
    assert.is_false(ok)
    assert.matches("another lua-coreplus version", msg, 1, true)
  end)
end)
