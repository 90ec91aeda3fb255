-- Benchmark: `coreplus sync` at the mock with 300 ms of latency and the real
-- limit (10 requests per second per practice):
--  - a first sync of one practice into SQLite and into PostgreSQL: rows per
--    table, requests, wall time against the physical floor (requests / 10 per s)
--  - a second sync after 5 clients changed behind its back: its requests,
--    and the 5 changes in the mirror
--  - a sync killed with SIGKILL at three random moments, then run again: the
--    mirror compared row by row (id and data) with a complete one
--  - 2 and 10 practices in one process, and 10 in 10 processes (the default
--    transport: each its own process, the per-user limit file): wall time
--    against one practice, 429s, the most requests of one practice the mock
--    saw in any second (its arrivals: what its rate limit counts)
--  - peak memory (VmHWM) of a first sync of 100,000 clients
-- Syncs run in child processes (the library through a small script; the
-- killed ones through bin/coreplus, as an operator runs it).
--   lua5.4 bench/sync.lua        (or through bench/run.lua)
local testing = require "coreplus.testing"
local cjson = require "cjson"
local core = require "coreplus.core"
local sync = require "coreplus.sync"

local LATENCY = 0.3
local RATE = 10
local BIG = 100000
local KILLS = 3
local PAID = 20   -- invoices with a payment
local PROCESSES = 10

local F = dofile("spec/support/files.lua")
local q, sh, read = F.q, F.sh, F.read

local CHILD = [[
local o = require("cjson").decode(...)
local core = require "coreplus.core"
local sync = require "coreplus.sync"
local practices = {}
for i, token in ipairs(o.tokens) do
  practices[i] = { practice = o.labels[i], options = { base_url = o.base_url, consumer_id = o.consumer_id,
    consumer_secret = o.consumer_secret, access_token = token, cafile = o.cafile, shared_limit = o.shared_limit,
    user_agent = "coreplus-bench-sync/1.0", issuer = "https://bench.example" } }
end
local t0 = core.now()
local report = assert(sync.run{ to = o.to, practices = practices, resources = o.resources })
local wall = core.now() - t0
local f = assert(io.open("/proc/self/status"))
local hwm = tonumber(f:read("a"):match("VmHWM:%s*(%d+) kB"))
f:close()
local out = { ok = report.ok, wall = wall, hwm_kb = hwm, practices = {} }
for i, p in ipairs(report.practices) do
  local r = { practice = p.practice, requests = p.requests, rate_limited = p.rate_limited, seconds = p.seconds,
    resources = {} }
  for _, c in ipairs(p.resources) do
    r.resources[c.resource] = { read = c.read, written = c.written, unchanged = c.unchanged, requests = c.requests,
      error = c.error and tostring(c.error) or nil }
  end
  out.practices[i] = r
end
print(require("cjson").encode(out))
]]

local function log(fmt, ...) io.stderr:write("bench sync: ", fmt:format(...), "\n") end

local function loadavg()
  local f = io.open("/proc/loadavg")
  local s = f and f:read("l") or "?"
  if f then f:close() end
  return s:match("^(%S+ %S+ %S+)") or s
end

local script

-- Starts a child syncing practices first..last (one label and token each)
-- into `to`; returns a function that waits for its report. shared: the
-- clients' shared_limit (false: in-process, nil: the default file).
local function spawn(mock, to, first, last, resources, shared)
  local o = { base_url = mock.base_url, consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
    cafile = mock.cafile, to = to, tokens = {}, labels = {}, resources = resources, shared_limit = shared }
  for i = first, last do o.tokens[#o.tokens + 1], o.labels[#o.labels + 1] = mock.access_tokens[i], "practice" .. i end
  local env = ("LUA_CPATH=%s LUA_PATH=%s "):format(q(package.cpath), q(package.path))
  local proc = assert(io.popen(env .. "lua5.4 " .. q(script) .. " " .. q(cjson.encode(o)) .. " 2>&1"))
  return function()
    local out = proc:read("a")
    proc:close()
    local lastline
    for l in out:gmatch("[^\n]+") do lastline = l end
    local ok, r = pcall(cjson.decode, lastline or "")
    if not ok or type(r) ~= "table" then error("sync child: " .. out, 0) end
    for _, p in ipairs(r.practices) do
      for name, c in pairs(p.resources) do
        if c.error then error(("sync child: %s %s: %s"):format(p.practice, name, c.error), 0) end
      end
    end
    return r
  end
end

local function child(mock, to, n, resources)
  -- A new process starts with an empty limiter (limits kept in-process):
  -- the mock's window must not still hold the last process's requests.
  core.sleep(1.1)
  return spawn(mock, to, 1, n, resources, false)()
end

local function total(p, field)
  local n = 0
  for _, c in pairs(p.resources) do n = n + c[field] end
  return n
end

-- Every table's (id, data) in a practice, for comparing two mirrors.
local function snapshot(url, practice)
  local db = assert(sync.open(url))
  local out = {}
  for _, t in ipairs(sync.RESOURCES) do
    local rows = db:query("SELECT id, data FROM " .. t .. " WHERE practice = ? ORDER BY id", practice)
    local ids, dup = {}, 0
    for _, r in ipairs(rows) do
      if ids[r[1]] then dup = dup + 1 end
      ids[r[1]] = r[2]
    end
    out[t] = { rows = #rows, ids = ids, doubled = dup }
  end
  db:close()
  return out
end

local function compare(got, want)
  local missing, doubled, differ = 0, 0, 0
  for t, w in pairs(want) do
    doubled = doubled + got[t].doubled
    for id, data in pairs(w.ids) do
      local g = got[t].ids[id]
      if g == nil then missing = missing + 1 elseif g ~= data then differ = differ + 1 end
    end
  end
  return missing, doubled, differ
end

-- bin/coreplus sync in the background; returns its pid and a function
-- waiting for its exit status.
local function cli_start(mock, to)
  local base = F.tmpname()
  local env = ("env LUA_CPATH=%s LUA_PATH=%s COREPLUS_BASE_URL=%s COREPLUS_CONSUMER_ID=%s COREPLUS_CONSUMER_SECRET=%s"
    .. " COREPLUS_ACCESS_TOKEN=%s COREPLUS_CAFILE=%s COREPLUS_SHARED_LIMIT=off COREPLUS_PROFILE="
    .. " COREPLUS_USER_AGENT=coreplus-bench-sync/1.0 COREPLUS_ISSUER=https://bench.example XDG_CONFIG_HOME=%s")
    :format(q(package.cpath), q(package.path),
    q(mock.base_url), q(mock.consumer_id), q(mock.consumer_secret), q(mock.access_token), q(mock.cafile),
    q(base .. ".none"))
  F.write(base .. ".sh", ("echo $$ >%s\nexec %s bin/coreplus sync --to %s --practice practice1 --json >%s 2>&1"
    .. " </dev/null\n"):format(q(base .. ".pid"), env, q(to), q(base .. ".out")))
  assert(sh(("(sh %s; echo $? >%s) >/dev/null 2>&1 &"):format(q(base .. ".sh"), q(base .. ".rc"))))
  local pid
  repeat core.sleep(0.01); pid = tonumber(read(base .. ".pid") or "") until pid
  return pid, function()
    local rc
    repeat core.sleep(0.05); rc = tonumber(read(base .. ".rc") or "") until rc
    local out = read(base .. ".out")
    sh("rm -f " .. q(base) .. ".*")
    return rc, out
  end
end

local function run()
  local dir = F.tmpdir()
  script = dir .. "/child.lua"
  F.write(script, CHILD)
  local mock = testing.server{ latency = LATENCY, tenants = 10 }
  local pg, pg_why = dofile("spec/support/postgres.lua").start()
  -- The fixture invoices last changed at the latest when the mock started
  -- (or were paid just now): a first sync's cursor (its start, two seconds
  -- back at most) must come after that, as it would against a real practice.
  local rows = {}
  local function row(name, value, unit, goal, pass)
    rows[#rows + 1] = { name = "sync: " .. name, value = value, unit = unit, goal = goal, pass = pass }
  end
  local ok, err = pcall(function()
    -- Payments on some invoices (the fixtures have none), through the API
    -- with the last practice's token.
    local api = mock:client{ access_token = mock.access_tokens[10], shared_limit = false,
      user_agent = "coreplus-bench-sync/1.0", issuer = "https://bench.example" }
    local invoices = assert(api.invoices:list{ pageSize = PAID })
    for _, inv in ipairs(invoices.items) do
      local line = assert(api.invoices:get(inv.invoiceId)).lineItems[1]
      assert(api.payments:create{ invoiceId = inv.invoiceId, payments = { { lineItemId = line.lineItemId,
        amountPaid = "20.00", datePaid = "2025-09-20" } } })
    end
    core.sleep(3)   -- past the invoices' change (see below)
    -- 1. a first sync, into SQLite and PostgreSQL
    local lite = "sqlite:" .. dir .. "/one.db"
    local first = child(mock, lite, 1)
    local p = first.practices[1]
    local floor_s = p.requests / RATE
    local per_table = {}
    for _, t in ipairs(sync.RESOURCES) do per_table[#per_table + 1] = ("%s %d"):format(t, p.resources[t].written) end
    log("first sync, SQLite: %s; %d requests (%d x 429) in %.1f s (floor %.1f s)", table.concat(per_table, ", "),
      p.requests, p.rate_limited, first.wall, floor_s)
    row("first sync of one practice into SQLite: rows (" .. table.concat(per_table, ", ") .. ")",
      total(p, "written"), "rows")
    row("first sync, SQLite: requests", p.requests, "")
    row("first sync, SQLite: 429s", p.rate_limited, "", "0", p.rate_limited == 0)
    row("first sync, SQLite: wall time", first.wall, "s", ("floor %.1f s (requests / 10 per s)"):format(floor_s))
    row("first sync, SQLite: wall / floor", first.wall / floor_s, "x", "< 1.15", first.wall / floor_s < 1.15)
    if pg then
      sh(("%s/psql -X -q -h 127.0.0.1 -p %d -U postgres -d postgres -c 'CREATE DATABASE one' >/dev/null 2>&1")
        :format(q(dofile("spec/support/postgres.lua").BIN), pg.port))
      local pgurl = pg.url:gsub("/postgres$", "/one")
      local pf = child(mock, pgurl, 1)
      local pp = pf.practices[1]
      log("first sync, PostgreSQL: %d rows, %d requests (%d x 429) in %.1f s (floor %.1f s)", total(pp, "written"),
        pp.requests, pp.rate_limited, pf.wall, pp.requests / RATE)
      row("first sync of one practice into PostgreSQL: rows", total(pp, "written"), "rows")
      row("first sync, PostgreSQL: wall / floor", pf.wall / (pp.requests / RATE), "x", "< 1.15",
        pf.wall / (pp.requests / RATE) < 1.15)
    else
      row("first sync into PostgreSQL: not run (" .. tostring(pg_why) .. ")", 0, "")
    end

    -- 2. five clients changed behind its back
    local db = assert(sync.open(lite))
    local ids = {}
    for i, r in ipairs(db:query("SELECT id FROM clients WHERE practice = 'practice1' ORDER BY id")) do
      if i <= 5 then ids[i] = r[1] end
    end
    db:close()
    for i, id in ipairs(ids) do
      assert(mock:admin("POST", "change", { kind = "client", id = id, fields = { lastName = "Moved" .. i } }))
    end
    local second = child(mock, lite, 1)
    local s2 = second.practices[1]
    db = assert(sync.open(lite))
    local present = 0
    for i, id in ipairs(ids) do
      local r = db:query("SELECT last_name FROM clients WHERE practice = 'practice1' AND id = ?", id)[1]
      if r and r[1] == "Moved" .. i then present = present + 1 end
    end
    db:close()
    log("second sync after 5 changed clients: %d requests (clients %d: read %d, written %d), %.1f s; %d of 5 present",
      s2.requests, s2.resources.clients.requests, s2.resources.clients.read, s2.resources.clients.written,
      second.wall, present)
    row("second sync after 5 changed clients: requests", s2.requests, "", "< first's", s2.requests < p.requests)
    row("second sync: client requests", s2.resources.clients.requests, "", "1", s2.resources.clients.requests == 1)
    row("second sync: the 5 changes in the mirror", present, "of 5", "5", present == 5)

    -- 3. killed at random moments, then run again: compared with `lite`
    local want = snapshot(lite, "practice1")
    math.randomseed(os.time())
    for k = 1, KILLS do
      local url = "sqlite:" .. dir .. "/killed" .. k .. ".db"
      local pid, wait = cli_start(mock, url)
      local at = 0.5 + math.random() * (first.wall - 1)
      core.sleep(at)
      sh("kill -KILL " .. pid)
      local rc = wait()
      local got_before = snapshot(url, "practice1")
      local kept = 0
      for _, t in pairs(got_before) do kept = kept + t.rows end
      local pid2, wait2 = cli_start(mock, url)
      local rc2, out2 = wait2()
      assert(pid2 and rc2 == 0, "the run after the kill failed: " .. tostring(out2))
      local missing, doubled, differ = compare(snapshot(url, "practice1"), want)
      log("kill %d at %.1f s (exit %d, %d rows kept): then missing %d, doubled %d, different %d", k, at, rc, kept,
        missing, doubled, differ)
      row(("SIGKILL at %.1f s, run again: rows missing / doubled / different"):format(at), missing + doubled + differ,
        "rows", "0", missing + doubled + differ == 0)
    end

    -- 4. several practices in one process, and in as many processes
    local function many(n, label, wall, requests)
      local st = mock:stats()
      log("%d practices %s: %d requests in %.1f s (one practice: %.1f s), %d x 429, at most %d of one practice"
        .. " in a second (load %s)", n, label, requests, wall, first.wall, st.rate_limited, st.max_in_window, loadavg())
      row(("%d practices %s: wall / one practice's"):format(n, label), wall / first.wall, "x", "< 1.2",
        wall / first.wall < 1.2)
      row(("%d practices %s: 429s at the mock"):format(n, label), st.rate_limited, "", "0", st.rate_limited == 0)
      row(("%d practices %s: most requests of one practice in a second at the mock"):format(n, label),
        st.max_in_window, "", "<= 10", st.max_in_window <= RATE)
    end
    for _, n in ipairs{ 2, 10 } do
      mock:reset()
      local r = child(mock, "sqlite:" .. dir .. "/many" .. n .. ".db", n)
      local requests = 0
      for _, pr in ipairs(r.practices) do requests = requests + pr.requests end
      many(n, "in one process", r.wall, requests)
    end
    mock:reset()
    core.sleep(1.1)
    local waits, slowest, requests = {}, 0, 0
    for i = 1, PROCESSES do
      waits[i] = spawn(mock, "sqlite:" .. dir .. "/apart" .. i .. ".db", i, i, nil, nil)
    end
    for i = 1, PROCESSES do
      local r = waits[i]()
      requests, slowest = requests + r.practices[1].requests, math.max(slowest, r.wall)
    end
    many(PROCESSES, "in as many processes", slowest, requests)
  end)
  mock:stop()
  if pg then pg:stop() end
  if not ok then sh("rm -rf " .. q(dir)); error(err, 0) end

  -- 5. peak memory over 100,000 clients
  local big = testing.server{ latency = LATENCY, clients = BIG }
  ok, err = pcall(function()
    local r = child(big, "sqlite:" .. dir .. "/big.db", 1, { "clients" })
    local c = r.practices[1].resources.clients
    log("%d clients: %d written in %.1f s, %d requests; peak RSS %.1f MB", BIG, c.written, r.wall, c.requests,
      r.hwm_kb / 1024)
    row(("first sync of %d clients: rows"):format(BIG), c.written, "rows", tostring(BIG), c.written == BIG)
    row(("first sync of %d clients: peak RSS (VmHWM)"):format(BIG), r.hwm_kb / 1024, "MB", "< 64 MB",
      r.hwm_kb / 1024 < 64)
    row(("first sync of %d clients: wall / floor"):format(BIG), r.wall / (c.requests / RATE), "x")
  end)
  big:stop()
  sh("rm -rf " .. q(dir))
  if not ok then error(err, 0) end
  return rows
end

return run
