-- core.limiter{shared = path} with more keys than the file has slots (32):
-- a sync of many practices on one machine uses one key per practice. A key
-- that finds no slot limits itself in this process's own window; when a
-- slot frees up, what it sent meanwhile must go with it into the file
-- (docs/decisions.md#limit-carried-to-file). Time is a manual clock: every
-- time asserted is exact, nothing sleeps.
local core = require "coreplus.core"

local F = dofile("spec/support/files.lua")

local RATE, PER = 10, 1
local SLOTS = 32

local unique = 0
local function key(name)
  unique = unique + 1
  return ("limiter_slots_spec %s %d %d"):format(name, unique, math.random(1, 1e9))
end

-- The most departures in any interval of PER seconds ([t, t + PER)).
local function most_in_window(times)
  table.sort(times)
  local most, j = 0, 1
  for i = 1, #times do
    while times[i] - times[j] >= PER do j = j + 1 end
    if i - j + 1 > most then most = i - j + 1 end
  end
  return most
end

-- A file whose 32 slots are taken by keys that each left once at `at`;
-- they count as idle (their slot may go to another key) from at + PER + 1 s.
local function full_file(clock)
  local path = F.tmpname()
  os.remove(path)
  local fillers = {}
  for i = 1, SLOTS do
    fillers[i] = core.limiter{ rate = RATE, per = PER, margin = 0, key = key("filler " .. i), shared = path,
      clock = clock }
    local _, booking = fillers[i]:reserve()
    fillers[i]:sent(booking)
  end
  return path, fillers
end

-- Books n departures on l, each at the time the limiter gives; returns their times.
local function leave(l, clock, n, into)
  for _ = 1, n do
    local delay, booking = l:reserve()
    local at = clock:now() + delay
    l:sent(booking, at)
    into[#into + 1] = at
  end
  return into
end

describe("core.limiter shared file: more keys than slots", function()
  it("a key that found the file full takes what it sent into the slot it gets later", function()
    local clock = core.manual_clock(100)
    local path = full_file(clock)
    local l = core.limiter{ rate = RATE, per = PER, margin = 0, key = key("33rd"), shared = path, clock = clock }
    clock:advance(1.9)                      -- the others are not idle yet: no slot
    local times = leave(l, clock, RATE, {})
    assert.is_true(l:stats().file_busy >= RATE)   -- booked in this process's own window
    clock:advance(0.2)                      -- now they are: the next booking gets a slot
    leave(l, clock, RATE, times)
    assert.equal(RATE, most_in_window(times))
    assert.near(times[1] + PER, times[RATE + 1], 1e-9)
    l:close()
    os.remove(path)
  end)

  it("a booking still waiting in its own window books again in the file once a slot is free", function()
    local clock = core.manual_clock(100)
    local path = full_file(clock)
    local k = key("waiting")
    local l = core.limiter{ rate = RATE, per = PER, margin = 0, key = k, shared = path, clock = clock }
    clock:advance(1.5)
    local times = leave(l, clock, RATE, {})
    local delay, waiting = l:reserve()      -- the 11th, a window later, in its own window
    assert.equal(PER, delay)
    clock:advance(1.1)                      -- a slot is free now (the fillers are idle)
    assert.equal(0, l:sent(waiting))        -- l's 11th leaves: into the file, with the ten
    times[#times + 1] = clock:now()
    -- Another process on the same key (the same file under another name is
    -- another window in this process, as in another process): its tenth
    -- waits a window for l's 11th.
    local alias = path:gsub("([^/]+)$", "./%1")
    local other = core.limiter{ rate = RATE, per = PER, margin = 0, key = k, shared = alias, clock = clock }
    leave(other, clock, RATE, times)
    assert.equal(RATE, most_in_window(times))
    assert.near(times[RATE + 1] + PER, times[#times], 1e-9)
    other:close()
    l:close()
    os.remove(path)
  end)

  it("says once that the file is full, and what to use for many keys instead", function()
    local script = F.tmpname()
    F.write(script, ([[
      local core = require "coreplus.core"
      local path = os.tmpname()
      os.remove(path)
      for i = 1, %d do
        local l = core.limiter{ rate = 10, per = 1, key = "slots spec " .. i, shared = path }
        local _, b = l:reserve(); l:sent(b)
      end
      os.remove(path)
    ]]):format(SLOTS + 3))
    local env = ("LUA_CPATH='%s' LUA_PATH='%s' "):format(os.getenv("COREPLUS_CHILD_LUA_CPATH") or package.cpath,
      package.path)
    local out = F.capture(env .. "lua5.4 " .. script .. " 2>&1")
    os.remove(script)
    local _, said = out:gsub("no free key slot", "")
    assert.equal(1, said, out)
    assert.truthy(out:find("shared_limit = false", 1, true), out)
    assert.truthy(out:find("Redis", 1, true), out)
  end)

  it("coreplus.new says once, when a process has more practices on one file than it holds", function()
    local path = F.tmpname()
    os.remove(path)
    local said = {}
    local function make(i)
      return require("coreplus").new{ base_url = "https://127.0.0.1:9", consumer_id = "c", consumer_secret = "s",
        access_token = "token " .. i, shared_limit = path, user_agent = "limiter-slots-spec/1.0",
        issuer = "https://spec.example",
        log = function(message, k) said[#said + 1] = { key = k, message = message } end }
    end
    local clients = {}
    for i = 1, SLOTS do clients[i] = make(i) end
    clients[#clients + 1] = make(1)   -- the same practice again: the same key
    assert.same({}, said)
    for i = SLOTS + 1, SLOTS + 3 do clients[i + 1] = make(i) end
    assert.equal(1, #said)
    assert.equal("limit_file_full", said[1].key)
    assert.truthy(said[1].message:find("shared_limit = false", 1, true))
    assert.truthy(said[1].message:find(path, 1, true))
    os.remove(path)
  end)
end)
