-- core.limiter{shared = path} when the file rots: every value read from the
-- file is checked (a NaN, a time far ahead, a huge `next`, an unknown state,
-- a zeroed or flooded file), and a damaged one costs at most a window,
-- never a burst or a hang. Time is a manual clock (core.manual_clock), so
-- every delay asserted is exact.
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/limit_procs.lua")
local LF = dofile("spec/support/limit_file.lua")
local tmpfile = F.tmpname
local key = P.keys("limiter_file_damage_spec")
local HEAD, entry_at, peek, poke = LF.HEAD, LF.entry_at, LF.peek, LF.poke

describe("core.limiter shared file: damaged values", function()
  -- A limiter on a fresh file, its key in slot 0, on a clock at 100, with
  -- `rate` slots taken now; closed and removed when the test ends.
  local function taken(rate)
    local p = tmpfile()
    local l = core.limiter{ rate = rate, per = 1, margin = 0, shared = p, key = key("damage"),
      clock = core.manual_clock(100) }
    finally(function() l:close(); os.remove(p) end)
    for _ = 1, rate do assert.equals(0, (l:reserve())) end
    return l, p
  end

  -- The window counts as full as of now: the next booking waits one window.
  local function full(d)
    assert.near(1, d, 1e-9)
  end

  -- Writes 8-byte words over the whole file, header included: word(i) for
  -- the i-th.
  local function overwrite(p, word)
    local f = assert(io.open(p, "r+b"))
    local t = {}
    for i = 1, f:seek("end") // 8 do t[i] = word(i) end
    f:seek("set", 0)
    f:write(table.concat(t))
    f:close()
  end

  it("a NaN departure time does not switch the limit off", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + LF.T, string.pack("<d", 0 / 0)) end
    full(l:reserve())
    assert.is_true(l:stats().file_repairs >= 3)
  end)

  it("a departure time of 1e12 hangs nobody", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + LF.T, string.pack("<d", 1e12)) end
    full(l:reserve())
  end)

  it("a huge `next` neither wraps nor lets a burst through", function()
    local l, p = taken(3)
    poke(p, HEAD, string.pack("<I8", -1))
    full(l:reserve())
    full(l:reserve())
  end)

  it("an unknown state counts as a departure now", function()
    local l, p = taken(2)
    local _, n = l:reserve()   -- a third slot, one window on
    poke(p, entry_at(0, n) + LF.STATE, string.pack("<I4", 77))
    full(l:reserve())
  end)

  -- Issue 26: values that are possible but wrong. Before, a time 100 s
  -- ahead held everyone up for 100 s (anything within the ~107 s a full
  -- ring can queue was believed), a flipped state made bookings that left
  -- no longer count, and a lease far ahead held everyone up until it ran out.
  it("a time 100 s ahead costs at most one window, and is written back mended", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + LF.T, string.pack("<d", 200)) end
    l:stats()   -- an operation that only reads mends, and writes back
    assert.equals(100, string.unpack("<d", peek(p, entry_at(0, 1) + LF.T, 8)))
    full(l:reserve())
  end)

  it("a time 100 s ahead behind a chain of bookings costs at most one window", function()
    local l, p = taken(3)
    for _ = 4, 6 do assert.equals(1, (l:reserve())) end   -- 3 at 100, 3 at 101
    for n = 4, 6 do poke(p, entry_at(0, n) + LF.T, string.pack("<d", 200)) end
    assert.near(2, l:reserve(), 1e-9)   -- after 101's: as if nothing had happened
  end)

  it("a cancelled mark on bookings that left lets nothing through", function()
    local l, p = taken(3)
    for n = 1, 3 do poke(p, entry_at(0, n) + LF.STATE, string.pack("<I4", LF.CANCELLED)) end
    full(l:reserve())
  end)

  it("a lease 100 s ahead holds the others up for a lease at most", function()
    local l, p = taken(3)
    -- the first becomes a booking still pending under a lease to 200
    local at = entry_at(0, 1)
    poke(p, at + LF.LEASE, string.pack("<d", 200))
    poke(p, at + LF.TAG, string.pack("<I8", 7))
    poke(p, at + LF.STATE, string.pack("<I4", LF.PENDING))
    local waited = assert(l:acquire())
    assert.is_true(waited <= 2, "waited " .. waited)
  end)

  it("a zeroed file is rebuilt, and the window counts as full, not empty", function()
    local l, p = taken(3)
    overwrite(p, function() return ("\0"):rep(8) end)
    full(l:reserve())
    assert.is_true(l:stats().file_repairs >= 1)
  end)

  it("garbage over the whole file, header included, is rebuilt", function()
    local l, p = taken(3)
    math.randomseed(5)
    overwrite(p, function() return string.pack("<I8", math.random(0, math.maxinteger)) end)
    full(l:reserve())
  end)

  -- A process holding 3 slots of 3 while the whole file, header included,
  -- is overwritten with one 8-byte word; then it books once more. It waits
  -- for the word on a FIFO. Under `timeout`: a hang is a failure, not a hung
  -- suite.
  local function flooded(word)
    local p = tmpfile()
    local go, send = P.fifo()
    local proc = P.child(p, key("flood"), "{ rate = 3, per = 1, margin = 0, clock = core.manual_clock(100) }", ([[
      local go = io.open(%q, "r+")
      for _ = 1, 3 do l:reserve() end
      say("taken")
      go:read("l")
      say(("d %%.3f"):format((l:reserve())))
    ]]):format(go), "timeout 10 ")
    assert.equals("taken", proc:read("l"))
    overwrite(p, function() return word end)
    send("go")
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
    local _, p = taken(1)
    poke(p, 0, ("\255"):rep(64))
    local m = core.limiter{ rate = 1, per = 1, margin = 0, shared = p, key = key("new") }
    assert.is_number((m:reserve()))
    m:close()
  end)
end)
