-- core.limiter{shared = path}: the file is the one the path names (deleted,
-- replaced, planted by others) and it must be this user's own, private and of
-- this version. Time is a manual clock in a file (core.manual_clock) that the
-- children follow, so every delay asserted is exact.
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local P = dofile("spec/support/limit_procs.lua")
local tmpfile, write, sh = F.tmpname, F.write, F.sh
local key = P.keys("limiter_file_path_spec")
local child = P.child

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

  -- This process's limiter on (p, k) with one slot of 3 taken, on the clock
  -- in cp (at 100); closed and removed when the test ends.
  local function scene(name)
    local p, k, cp = tmpfile(), key(name), tmpfile()
    local clock = core.manual_clock{ file = cp, at = 100 }
    local l = core.limiter{ rate = 3, per = 1, margin = 0, shared = p, key = k, clock = clock }
    finally(function() l:close(); clock:close(); os.remove(p); os.remove(cp) end)
    assert.equals(0, (l:reserve()))   -- one slot of 3 taken, in the first file
    return p, k, cp, l
  end

  it("a process moves to the file made after the path's was deleted", function()
    local p, k, cp, l = scene("deleted")
    os.remove(p)
    assert.equals("0 0 0", books(p, k, cp, 3))   -- a new process makes a new file
    assert.equals(1, (l:reserve()))              -- this one moves to it: 3 taken there
  end)

  it("a process moves to a file put in the path's place", function()
    local p, k, cp, l = scene("replaced")
    local q = tmpfile()
    assert.equals("0 0 0", books(q, k, cp, 3))
    assert(os.rename(q, p))
    assert.equals(1, (l:reserve()))
  end)

  -- Each process arriving from the old file used to add a window's worth of
  -- departures after the bookings made there since, and each of those then
  -- waited a window for the one before it: 6 processes, 6 windows of one
  -- request each.
  it("processes arriving from a deleted file one after another cost one window together", function()
    local p, k, cp, l = scene("arrivals")
    local fifo, send = P.fifo()
    local proc = child(p, k, OPTS:format(cp), ([[
      local go = io.open(%q, "r+")
      l:reserve()
      say("ready")
      go:read("l")
      say(("%%g"):format((l:reserve())))
    ]]):format(fifo), "timeout 30 ")
    assert.equals("ready", proc:read("l"))
    os.remove(p)
    send("go")
    local theirs = proc:read("l")   -- first on the new file: it counts as full
    proc:close()
    local mine = l:reserve()        -- second: in the same window as theirs
    os.remove(fifo)
    assert.equals("1", theirs)
    assert.equals(1, mine)
  end)

  it("a process whose file was deleted makes the path's file again, counting as full", function()
    local p, _, _, l = scene("gone")
    os.remove(p)
    local d = l:reserve()
    local made = F.read(p)
    assert.truthy(made and #made > 4096, "the file was made again")
    assert.equals(1, d)
  end)

  it("a file put in the path's place that others may write is not used, and that is said", function()
    local p, k, cp, l = scene("planted")
    local q = tmpfile()
    books(q, k, cp, 1)
    assert(sh("chmod 666 " .. q))
    assert(os.rename(q, p))
    local d = l:reserve()
    local st = l:stats()
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
