-- `coreplus sync`, run as a user runs it (bin/coreplus in a subprocess)
-- against the mock into SQLite: the JSON summary, the exit statuses, several
-- profiles, --watch ending on SIGTERM, and runs stopped by a signal or
-- killed outright, then run again.
local cjson = require "cjson"
local core = require "coreplus.core"
local sync = require "coreplus.sync"
local C = dofile("spec/support/cli.lua")
local F = dofile("spec/support/files.lua")
local q, sh, read = F.q, F.sh, F.read

local CLIENTS = 3000   -- 30 pages: 3 s at 10/s, of which a signal stops the end

describe("coreplus sync", function()
  local mock, env, dir
  local n = 0

  lazy_setup(function()
    mock = require("coreplus.testing").server{ clients = CLIENTS, tenants = 2 }
    env = C.env_of(mock, { COREPLUS_USER_AGENT = "sync-cli-spec/1.0", COREPLUS_ISSUER = "https://sync-spec.example" })
    dir = F.tmpdir()
  end)
  lazy_teardown(function()
    if mock then mock:stop() end
    if dir then sh("rm -rf " .. q(dir)) end
  end)

  local function fresh()
    n = n + 1
    return "sqlite:" .. dir .. "/m" .. n .. ".db"
  end

  local function clients_in(url, practice)
    local db = assert(sync.open(url))
    local total = db:count("clients", practice or "default")
    local distinct = tonumber(db:query("SELECT count(DISTINCT id) FROM clients")[1][1])
    local state = db:state(practice or "default", "clients")
    db:close()
    return total, distinct, state
  end

  it("prints the JSON summary and exits 0", function()
    local url = fresh()
    local r = C.run(env, "sync", "--to", url, "--resources", "locations,practitioners", "--json")
    assert.are.equal(0, r.code, r.err)
    local s = cjson.decode(r.out)
    assert.is_true(s.ok)
    assert.are.equal(url, s.database)
    local p = s.practices[1]
    assert.are.equal("default", p.practice)
    assert.are.same({ "locations", "practitioners" }, { p.resources[1].resource, p.resources[2].resource })
    for _, res in ipairs(p.resources) do
      for _, k in ipairs{ "read", "written", "unchanged", "deleted", "requests", "rate_limited", "seconds" } do
        assert.is_number(res[k], k)
      end
      assert.are.equal(res.read, res.written)
      assert.are.equal(1, res.requests)
    end
  end)

  it("piped without --json, prints a JSON line per resource whose numbers are numbers", function()
    local r = C.run(env, "sync", "--to", fresh(), "--resources", "locations,practitioners")
    assert.are.equal(0, r.code, r.err)
    local lines = C.lines(r.out)
    assert.are.equal(2, #lines)
    for _, line in ipairs(lines) do
      local row = cjson.decode(line)
      assert.are.equal("number", type(row.seconds), line)
      assert.are.equal("number", type(row.read), line)
    end
  end)

  it("labels the rows with --practice", function()
    local url = fresh()
    local r = C.run(env, "sync", "--to", url, "--resources", "locations", "--practice", "north")
    assert.are.equal(0, r.code, r.err)
    local db = assert(sync.open(url))
    assert.are.equal(3, db:count("locations", "north"))
    db:close()
  end)

  it("exits 2 on a usage error, 3 when the database fails, 4 when another sync holds the practice", function()
    assert.are.equal(2, C.run(env, "sync", "--to", "mysql://x/y").code)
    assert.are.equal(2, C.run(env, "sync", "--to", fresh(), "--resources", "clients,nope").code)
    assert.are.equal(2, C.run(env, "sync").code)
    local r = C.run(env, "sync", "--to", "sqlite:" .. dir .. "/no/such/dir/m.db")
    assert.are.equal(3, r.code)
    C.one_line_error(r)
    local url = fresh()
    local holder = assert(sync.open(url))
    assert(holder:lock("default"))
    r = C.run(env, "sync", "--to", url, "--resources", "locations", "--json")
    assert.are.equal(4, r.code, r.err)
    assert.are.equal("locked", cjson.decode(r.out).practices[1].error.kind)
    holder:close()
    assert.are.equal(0, C.run(env, "sync", "--to", url, "--resources", "locations").code)
  end)

  it("syncs several profiles at once, each practice under its profile's practice key, else its name", function()
    local home = dir .. "/config"
    sh("mkdir -p " .. q(home .. "/coreplus"))
    local text = {}
    for i, name in ipairs{ "north", "south" } do
      text[#text + 1] = ("[%s]\nbase_url = %s\nconsumer_id = %s\nconsumer_secret = %s\naccess_token = %s\ncafile = %s\n"
        .. "user_agent = sync-cli-spec/1.0\nissuer = https://sync-spec.example\nshared_limit = off\n"):format(name,
        mock.base_url, mock.consumer_id, mock.consumer_secret, mock.access_tokens[i], mock.cafile)
    end
    text[1] = text[1] .. "practice = far north\n"
    F.write(home .. "/coreplus/config", table.concat(text, "\n"), "600")
    local url = fresh()
    local e = C.env_of(mock, { XDG_CONFIG_HOME = home, COREPLUS_BASE_URL = false, COREPLUS_ACCESS_TOKEN = false })
    local r = C.run(e, "sync", "--profile", "north", "--profile", "south", "--to", url, "--resources", "locations",
      "--json")
    assert.are.equal(0, r.code, r.err)
    local s = cjson.decode(r.out)
    assert.are.same({ "far north", "south" }, { s.practices[1].practice, s.practices[2].practice })
    r = C.run(e, "sync", "--profile", "north,south", "--to", url, "--resources", "locations", "--practice", "x")
    assert.are.equal(2, r.code)   -- one label for two practices
  end)

  it("keeps the API version it found for the next run, as every command does", function()
    local runtime = F.tmpdir()
    local e = C.env_of(mock, { XDG_RUNTIME_DIR = runtime, COREPLUS_USER_AGENT = "sync-cli-spec/1.0",
      COREPLUS_ISSUER = "https://sync-spec.example" })
    mock:switches{ v2_only = { "Location" } }
    local ok, err = pcall(function()
      local url = fresh()
      local before = mock:stats().by_path["/API/Core/v2.1/Location/"] or 0
      for run = 1, 2 do
        local r = C.run(e, "sync", "--to", url, "--resources", "locations", "--json")
        assert.are.equal(0, r.code, r.err)
        assert.is_true(cjson.decode(r.out).ok)
        -- said by the first run only; the second goes straight to v2
        assert.are.equal(run == 1 and 1 or 0, select(2, r.err:gsub("no route under API version v2.1", "")), r.err)
      end
      assert.are.equal(1, (mock:stats().by_path["/API/Core/v2.1/Location/"] or 0) - before)
      assert.matches("locations:list\tv2", read(runtime .. "/coreplus-versions"))
      assert.truthy(read(runtime .. "/coreplus-clock"), "the server's clock kept too")
    end)
    mock:switches{ v2_only = {} }
    sh("rm -rf " .. q(runtime))
    assert(ok, err)
  end)

  -- Starts the CLI in the background; returns its pid and where its
  -- output and exit status go.
  local function start(...)
    local run = dir .. "/run" .. n
    return C.spawn(env, run, ...), run
  end

  local wait_rc = C.wait_rc

  -- Waits until the database holds at least `rows` clients (a batch committed).
  local function wait_rows(url, rows)
    for _ = 1, 1500 do
      local ok, total = pcall(clients_in, url)
      if ok and total >= rows then return end
      core.sleep(0.02)
    end
    error("no batch was committed")
  end

  it("--watch syncs again until SIGTERM, then ends cleanly with 0", function()
    local url = fresh()
    local pid, run = start("sync", "--to", url, "--resources", "locations", "--watch", "0.2", "--json")
    for _ = 1, 1500 do
      local out = read(run .. ".out") or ""
      if select(2, out:gsub("\n", "")) >= 2 then break end
      core.sleep(0.02)
    end
    assert(sh("kill -TERM " .. pid))
    assert.are.equal(0, wait_rc(run))
    local runs = C.lines(read(run .. ".out"))
    assert.is_true(#runs >= 2)
    for _, line in ipairs(runs) do assert.is_true(cjson.decode(line).ok) end
  end)

  for _, how in ipairs{ "TERM", "KILL" } do
    it("stopped by SIG" .. how .. " half-way, keeps whole batches only; the next run completes, nothing doubled",
      function()
        mock:reset()
        local url = fresh()
        local pid, run = start("sync", "--to", url, "--resources", "clients", "--json")
        wait_rows(url, 500)            -- one batch of 500 committed (of 3,000 clients)
        mock:fault{ latency = 1 }      -- the rest is still on its way when the signal comes
        assert(sh("kill -" .. how .. " " .. pid))
        local rc = wait_rc(run)
        mock:clear_faults()
        local total, distinct, state = clients_in(url)
        assert.is_true(total >= 500 and total < CLIENTS and total % 500 == 0, "rows: " .. total)
        assert.are.equal(total, distinct)
        assert.is_nil(state)           -- the cursor did not move: the next run reads it all
        if how == "TERM" then
          assert.are.equal(5, rc)
          assert.are.equal("interrupted", cjson.decode(read(run .. ".out")).practices[1].resources[1].error.kind)
        else
          assert.are.equal(128 + 9, rc)
        end
        local r = C.run(env, "sync", "--to", url, "--resources", "clients", "--json")
        assert.are.equal(0, r.code, r.err)
        local c = cjson.decode(r.out).practices[1].resources[1]
        assert.are.same({ CLIENTS, CLIENTS - total, total }, { c.read, c.written, c.unchanged })
        total, distinct, state = clients_in(url)
        assert.are.same({ CLIENTS, CLIENTS }, { total, distinct })
        assert.is_string(state.cursor)
      end)
  end
end)
