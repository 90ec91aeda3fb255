-- The docs are executed: every fenced code block of README.md and docs/*.md
-- (new files included, as they appear) runs here, or says why it cannot.
--
-- THE RULE, for everyone who writes README.md or docs/*.md: a code block
-- runs as it stands, or the line right before its fence is one of
--
--   <!-- not run: <reason> -->                     why it cannot run here
--   <!-- run by spec/<name>_spec.lua (<tag>) -->   another spec runs it; that
--                                                  spec contains <tag> (optional)
--   <!-- run: <setup> -->                          it runs here, after a setup below
--
-- Without a marker a block runs by its language, in an empty temporary
-- directory, with this checkout's modules and commands (bin/ on PATH) and the
-- COREPLUS_* variables of a bundled mock (as after
-- `eval "$(coreplus-mock start)"`); it must exit 0:
--
--   lua          a script, under lua5.4
--   sh, bash     bash -e (a mock the block starts with coreplus-mock is stopped after it)
--   python       /usr/bin/python3
--   ini          parsed as a profile of the config file (coreplus.profile)
--   json         decoded
--   text         not code (diagrams, output): never run, and needs no marker
--
-- Any other language needs a marker. The setups:
--
--   client     (lua) `coreplus` and `cp`, a client of the mock, are defined first
--   busted     (lua) the block is a busted spec file, run by busted under lua5.4
--   my-job     (lua) busted, with `my_job.run(cp)` defined: it books the first free slot once
--   project    (sh) the directory holds spec/project_spec.lua, a spec that loads coreplus
--   dotbusted  (lua) the block is a project's .busted file, with this checkout's modules in
--              lua_modules/; plain `busted` (Debian's, Lua 5.1) must run spec/project_spec.lua
--   cli-ids    (sh) LOCATION, TYPE, PRACTITIONER, CLIENT, APPOINTMENT, DAY, START and LATER
--              are set: ids and times of the mock's data (seed 1, the default), as the lists
--              show them
--   profiles   (sh) the config file ($XDG_CONFIG_HOME/coreplus/config) has [sandbox] and
--              [production] sections for the mock, and no COREPLUS_* variable is set
local testing = require "coreplus.testing"
local F = dofile("spec/support/files.lua")
local q, read, write, tmpdir = F.q, F.read, F.write, F.tmpdir

local TOP = (os.getenv("PWD") or "."):gsub("/+$", "")
-- Where this busted found the C core (build/lua5.4, or a rock's tree under
-- `luarocks test`; the normal build in the ASan pass): the blocks use it.
local CORE_DIR = F.core_dir()

-- ===== the blocks =====

local function doc_files()
  local out = { "README.md" }
  for f in F.capture("ls docs/*.md"):gmatch("[^\n]+") do out[#out + 1] = f end
  return out
end

-- Every fenced block of a Markdown file: {file, line, lang, marker, code}.
local function blocks_of(file)
  local out, block, prev = {}, nil, nil
  local n = 0
  for line in (assert(read(file)) .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if block then
      if line:match("^```%s*$") then
        block.code = table.concat(block.lines, "\n") .. "\n"
        out[#out + 1], block = block, nil
      else
        block.lines[#block.lines + 1] = line
      end
    elseif line:match("^```") then
      block = { file = file, line = n, lang = line:match("^```%s*(%S*)"), lines = {},
        marker = prev and prev:match("^<!%-%-%s*(.-)%s*%-%->%s*$") }
    end
    prev = line
  end
  assert(block == nil, file .. ": a fence opened at line " .. (block and block.line or 0) .. " is never closed")
  return out
end

-- ===== running one =====

local mock, env_base, ids

-- The environment of a block: `scripts/lua-env` with this checkout's modules
-- and CORE_DIR's C core, bin/ first on PATH, and `vars` (the mock's COREPLUS_*
-- unless replaced).
local function command(dir, vars, cmd)
  local parts = { "cd", q(dir), "&&", q(TOP .. "/scripts/lua-env"),
    q("LUA_PATH=" .. TOP .. "/lua/?.lua;" .. TOP .. "/lua/?/init.lua;;"), q("LUA_CPATH=" .. CORE_DIR .. "/?.so;;"),
    q("PATH=" .. TOP .. "/bin:" .. os.getenv("PATH")) }
  local names = {}
  for k in pairs(vars) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do parts[#parts + 1] = q(k .. "=" .. vars[k]) end
  parts[#parts + 1] = "timeout 300"
  parts[#parts + 1] = cmd
  return table.concat(parts, " ") .. " 2>&1"
end

local function run(dir, vars, cmd)
  local p = assert(io.popen(command(dir, vars, cmd)))
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok, out, code
end

local function vars_with(extra)
  local v = {}
  for k, x in pairs(env_base) do v[k] = x end
  for k, x in pairs(extra or {}) do v[k] = x end
  return v
end

local PROJECT_SPEC = [[
describe("my project", function()
  it("loads coreplus and signs", function()
    local coreplus = require "coreplus"
    assert.matches("^eyJ", coreplus.sign{ consumer_id = "c", consumer_secret = "s", access_token = "a",
      url = "https://x.example/" })
  end)
end)
]]

local CLIENT = 'local coreplus = require "coreplus"\n'
  .. 'local cp = coreplus.from_env{ user_agent = "docs-spec/1.0", issuer = "https://docs.example" }\n'

local MY_JOB = [[
my_job = { run = function(cp)   -- the setup's job: the first free slot, booked once
  local location = assert(cp.locations:all())[1]
  local practitioner = assert(cp.practitioners:list{ pageSize = 1 }).items[1]
  local slot = assert(cp.availability_slots:next_free{ locationId = location.locationId,
    practitionerId = practitioner.practitionerId })
  local client = assert(cp.clients:list{ pageSize = 1 }).items[1]
  assert(cp.appointments:book{ startDateTime = slot.startDateTime, endDateTime = slot.endDateTime,
    practitioner = { practitionerId = practitioner.practitionerId }, locationId = location.locationId,
    clients = { { clientId = client.clientId } } })
end }
]]

-- Stops a mock the block started with coreplus-mock and left running.
local SH_PRELUDE = "trap 'if [ -n \"${COREPLUS_MOCK_PID-}\" ]; then coreplus-mock stop >/dev/null 2>&1; fi' EXIT\n"

-- "2026-05-20T09:00:00 +10:00" (as coreplus writes it) -> "2026-05-20T09:00:00+10:00"
local function cli_time(s) return (s:gsub(" ", "")) end

-- The ids of the cli-ids setup, from the mock's data.
local function cli_ids()
  if ids then return ids end
  local cp = mock:client{ user_agent = "docs-spec/1.0", issuer = "https://docs.example" }
  local location = assert(cp.locations:all())[1]
  local practitioner = assert(cp.practitioners:list{ pageSize = 1 }).items[1]
  local kind = assert(cp.appointment_types:all())[1]
  local slot = assert(cp.availability_slots:next_free{ locationId = location.locationId,
    practitionerId = practitioner.practitionerId, appointmentTypeId = kind.appointmentTypeId })
  local start = cli_time(slot.startDateTime)
  local day = start:sub(1, 10)
  local zone = location.timeZone.timezoneId
  local appointment
  local t = require("coreplus.dates").parse(start).epoch
  for a in cp.appointments:each{ startDate = day, endDate = require("coreplus.dates").date(t + 6 * 86400),
    timezoneId = zone, locationId = location.locationId } do
    local at = require("coreplus.dates").parse(a.startDateTime)
    if at and at.epoch > os.time() + 3600 then appointment = a.appointmentId; break end
  end
  ids = { LOCATION = location.locationId, TYPE = kind.appointmentTypeId, PRACTITIONER = practitioner.practitionerId,
    CLIENT = assert(cp.clients:list{ pageSize = 1 }).items[1].clientId, APPOINTMENT = assert(appointment),
    DAY = day, START = start, LATER = start:gsub("T(%d%d)", function(h) return ("T%02d"):format((h + 1) % 24) end) }
  return ids
end

local function profiles_vars(dir)
  local cfg = dir .. "/config/coreplus"
  os.execute("mkdir -p " .. q(cfg))
  local section = ("base_url = %s\nconsumer_id = %s\nconsumer_secret = %s\naccess_token = %s\ncafile = %s\n"
    .. "user_agent = docs-spec/1.0\n"):format(mock.base_url, mock.consumer_id, mock.consumer_secret,
    mock.access_token, mock.cafile)
  write(cfg .. "/config", "[sandbox]\n" .. section .. "\n[production]\n" .. section, "600")
  return { XDG_CONFIG_HOME = dir .. "/config" }
end

-- Runs one block in dir; returns ok, output.
local function run_block(b, dir)
  local setup = b.marker and b.marker:match("^run:%s*(%S+)$")
  local lang = b.lang
  if lang == "ini" then
    local cfg, err = require("coreplus.profile").parse(b.code, b.file .. ":" .. b.line)
    return cfg ~= nil, err
  elseif lang == "json" then
    local v, err = require("cjson.safe").decode(b.code)
    return v ~= nil, err
  elseif lang == "lua" and (setup == nil or setup == "client") then
    write(dir .. "/block.lua", (setup == "client" and CLIENT or "") .. b.code)
    return run(dir, vars_with(), "lua5.4 block.lua")
  elseif lang == "lua" and (setup == "busted" or setup == "my-job") then
    write(dir .. "/block_spec.lua", (setup == "my-job" and MY_JOB or "") .. b.code)
    return run(dir, vars_with(), "lua5.4 /usr/bin/busted block_spec.lua")
  elseif lang == "lua" and setup == "dotbusted" then
    write(dir .. "/.busted", b.code)
    os.execute(("mkdir -p %s/lua_modules/share/lua %s/lua_modules/lib/lua %s/spec && ln -s %s %s && ln -s %s %s")
      :format(q(dir), q(dir), q(dir), q(TOP .. "/lua"), q(dir .. "/lua_modules/share/lua/5.4"),
        q(CORE_DIR), q(dir .. "/lua_modules/lib/lua/5.4")))
    write(dir .. "/spec/project_spec.lua", PROJECT_SPEC)
    -- plain busted, and no Lua paths of this checkout: only the .busted file's
    return run(dir, {}, q(TOP .. "/scripts/lua-env") .. " busted")
  elseif (lang == "sh" or lang == "bash") and (setup == nil or setup == "project" or setup == "cli-ids"
    or setup == "profiles") then
    local vars = vars_with(setup == "cli-ids" and cli_ids() or nil)
    if setup == "profiles" then
      vars = profiles_vars(dir)
      vars.COREPLUS_SHARED_LIMIT = env_base.COREPLUS_SHARED_LIMIT
    end
    if setup == "project" then
      os.execute("mkdir -p " .. q(dir .. "/spec"))
      write(dir .. "/spec/project_spec.lua", PROJECT_SPEC)
    end
    write(dir .. "/block.sh", SH_PRELUDE .. b.code)
    return run(dir, vars, "bash -e block.sh")
  elseif lang == "python" and setup == nil then
    write(dir .. "/block.py", b.code)
    return run(dir, vars_with(), "/usr/bin/python3 block.py")
  end
  return false, ("no way to run a %s block%s: give it a marker (see the top of spec/docs_blocks_spec.lua)")
    :format(lang == "" and "language-less" or lang, setup and (" with setup " .. setup) or "")
end

-- ===== the spec =====

local all = {}
for _, f in ipairs(doc_files()) do
  for _, b in ipairs(blocks_of(f)) do all[#all + 1] = b end
end

describe("the docs' code blocks", function()
  setup(function()
    mock = testing.server{}
    local none = tmpdir()
    env_base = { COREPLUS_BASE_URL = mock.base_url, COREPLUS_CONSUMER_ID = mock.consumer_id,
      COREPLUS_CONSUMER_SECRET = mock.consumer_secret, COREPLUS_ACCESS_TOKEN = mock.access_token,
      COREPLUS_CAFILE = mock.cafile, COREPLUS_SHARED_LIMIT = mock.prefix .. "/docs.limit",
      XDG_CONFIG_HOME = none .. "/no-config" }
  end)
  teardown(function()
    if mock then mock:stop() end
  end)

  it("are all found, README's Quick start among them", function()
    assert.is_true(#all >= 20, #all .. " blocks")
    local quick = read("README.md"):match("## Quick start.-```lua\n(.-)```")
    for _, helper in ipairs{ "next_free", "changed_since", "find_or_create", "files:upload", "messages:send" } do
      assert.truthy(quick:find(helper, 1, true), "the Quick start does not name " .. helper)
    end
  end)

  for _, b in ipairs(all) do
    local name = ("%s:%d (%s)"):format(b.file, b.line, b.lang ~= "" and b.lang or "no language")
    local reason = b.marker and b.marker:match("^not run:%s*(.-)$")
    local by, tag = nil, nil
    if b.marker then by, tag = b.marker:match("^run by (spec/[%w_]+_spec%.lua)%s*(.-)$") end
    if b.lang == "text" then
      it(name .. " is text, not code", function() assert.is_nil(b.marker and b.marker:match("^run")) end)
    elseif reason then
      it(name .. " says why it is not run", function()
        assert.truthy(reason:find("%a%a%a"), name .. ": `not run:` needs a reason")
      end)
    elseif by then
      it(name .. " is run by " .. by, function()
        local text = assert(read(by), by .. " does not exist")
        tag = tag:match("^%((.*)%)$") or tag
        if tag ~= "" then assert.truthy(text:find(tag, 1, true), by .. " does not mention " .. tag) end
      end)
    else
      it(name .. " runs", function()
        assert.truthy(b.marker == nil or b.marker:match("^run:"), name .. ": unknown marker <!-- " ..
          tostring(b.marker) .. " -->")
        mock:reset()
        local dir = tmpdir()
        local ok, out = run_block(b, dir)
        os.execute("rm -rf " .. q(dir))
        assert.is_true(ok, name .. ":\n" .. tostring(out))
        -- busted finding no spec would pass too: the project's spec must have run
        local setup = b.marker and b.marker:match("^run:%s*(%S+)$")
        if setup == "project" or setup == "dotbusted" then
          assert.matches("1 success / 0 failures", out, 1, true)
        elseif setup == "busted" or setup == "my-job" then
          assert.matches("[1-9]%d* success[es]* / 0 failures / 0 errors", out)
        end
      end)
    end
  end
end)
