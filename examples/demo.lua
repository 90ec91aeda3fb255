--- The whole library at work in under a minute: `make demo`.
--
-- Starts the bundled mock coreplus server (HTTPS, with its own test CA),
-- then drives the `coreplus` command-line tool against it the way an
-- integration developer would: check the configuration, list every client,
-- find a free slot, book it, look at the booking, cancel it. The mock is
-- stopped however the demo ends; the exit status is non-zero if any step
-- failed.
local testing = require "coreplus.testing"
local cjson = require "cjson.safe"
local core = require "coreplus.core"

local started = core.now()
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

-- The command-line tool: the checkout's bin/coreplus, else the installed one.
local CLI = "coreplus"
do
  local f = io.open(here .. "/../bin/coreplus", "r")
  if f then f:close(); CLI = here .. "/../bin/coreplus" end
end

local function q(s)
  s = tostring(s)
  if s:match("^[%w%-_./:=+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function say(fmt, ...)
  io.stdout:write(fmt:format(...), "\n")
  io.stdout:flush()
end

local step_no = 0
local function step(title)
  step_no = step_no + 1
  say("")
  say("== %d. %s", step_no, title)
end

local env_prefix = ""

--- run(args, {show=true}) -> stdout text; raises when the command fails.
-- `show` echoes the output, indented, as it would look in a terminal.
local function run(argv, opts)
  opts = opts or {}
  local shown = { "coreplus" }
  local cmd = { q(CLI) }
  for _, a in ipairs(argv) do
    shown[#shown + 1] = q(a)
    cmd[#cmd + 1] = q(a)
  end
  say("$ %s", table.concat(shown, " "))
  local t0 = core.now()
  local p = assert(io.popen(env_prefix .. table.concat(cmd, " "), "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if opts.show ~= false then
    for line in out:gmatch("[^\n]+") do say("    %s", line) end
  end
  if not ok then
    error(("`coreplus %s` exited %s"):format(argv[1], tostring(code)), 0)
  end
  return out, core.now() - t0
end

local function jsonl(text)
  local rows = {}
  for line in text:gmatch("[^\n]+") do
    local v = cjson.decode(line)
    if type(v) ~= "table" then error("not JSON: " .. line, 0) end
    rows[#rows + 1] = v
  end
  return rows
end

local function main(mock)
  say("The mock listens at %s (HTTPS; CA file %s).", mock.base_url, mock.cafile)
  say("The command-line tool reads its settings from COREPLUS_* variables, as an application would.")
  local vars = {
    COREPLUS_BASE_URL = mock.base_url, COREPLUS_CONSUMER_ID = mock.consumer_id,
    COREPLUS_CONSUMER_SECRET = mock.consumer_secret, COREPLUS_ACCESS_TOKEN = mock.access_token,
    COREPLUS_CAFILE = mock.cafile, COREPLUS_ISSUER = "https://demo.lua-coreplus.example",
    -- Every run of the tool shares one 10/s budget through this file (the
    -- mock's credentials are new each time, so keep it with the mock).
    COREPLUS_SHARED_LIMIT = mock.prefix .. "/cli.limit",
  }
  local parts = {}
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. q(v) end
  table.sort(parts)
  env_prefix = table.concat(parts, " ") .. " "

  step("Check the configuration: settings, token, clock, permissions")
  run{ "doctor" }

  step("List every client (--all: pages fetched ahead, within 10 requests per second)")
  local out, took = run({ "clients", "--all", "--jsonl" }, { show = false })
  local clients = jsonl(out)
  say("    %d clients in %.1f s; the first three:", #clients, took)
  say("    %-38s %-12s %s", "clientId", "firstName", "lastName")
  for i = 1, math.min(3, #clients) do
    local c = clients[i]
    say("    %-38s %-12s %s", c.clientId, c.firstName, c.lastName)
  end
  if #clients == 0 then error("no clients", 0) end

  step("Find a free 30-minute slot")
  local location = jsonl((run({ "locations", "--jsonl", "--page-size", "1" }, { show = false })))[1]
  say("    location: %s (timezoneId %s)", location.name, location.timeZone.timezoneId)
  local types = jsonl((run({ "appointment-types", "--jsonl" }, { show = false })))
  local kind = types[1]
  for _, t in ipairs(types) do if t.durationMinutes == 30 then kind = t end end
  say("    appointment type: %s (%d min)", kind.description, kind.durationMinutes)
  local from = os.date("!%Y-%m-%d", math.floor(core.now()) + 86400)
  local to = os.date("!%Y-%m-%d", math.floor(core.now()) + 14 * 86400)
  local slot = jsonl((run({ "slots", "--location", location.locationId, "--type", kind.appointmentTypeId,
    "--from", from, "--to", to, "--page-size", "1", "--jsonl" }, { show = false })))[1]
  if not slot then error("no free slot in the next two weeks", 0) end
  local who = slot.practitionerId
  for _, p in ipairs(jsonl((run({ "practitioners", "--all", "--jsonl" }, { show = false })))) do
    if p.practitionerId == slot.practitionerId then who = p.title .. " " .. p.firstName .. " " .. p.lastName end
  end
  say("    first free slot: %s to %s with %s", slot.startDateTime, slot.endDateTime, who)

  step("Book it for the first client")
  local client = clients[1]
  local booked = jsonl((run({ "book", "--practitioner", slot.practitionerId, "--location", slot.locationId,
    "--client", client.clientId, "--start", slot.startDateTime, "--end", slot.endDateTime,
    "--type", kind.appointmentTypeId, "--subject", "lua-coreplus demo", "--jsonl" }, { show = false })))[1]
  say("    booked: appointment %s (reference %s) for %s %s, status %s", booked.appointmentId,
    tostring(booked.appointmentReferenceNumber), client.firstName, client.lastName, tostring(booked.status))

  step("Show the booking")
  run{ "appointments", booked.appointmentId, "--table" }
  local shown = jsonl((run({ "appointments", booked.appointmentId, "--jsonl" }, { show = false })))[1]
  if shown.status ~= "Booked" then error("the booking reads back as " .. tostring(shown.status), 0) end

  step("Cancel it")
  run({ "cancel", booked.appointmentId, "--jsonl" }, { show = false })
  local after = jsonl((run({ "appointments", booked.appointmentId, "--jsonl" }, { show = false })))[1]
  say("    status now: %s", tostring(after.status))
  if after.status ~= "Cancelled" then error("the cancellation did not take", 0) end
end

say("lua-coreplus demo: the coreplus API from Lua, against the bundled mock server")
local ok_start, mock = pcall(testing.server, { tls = true })
if not ok_start then
  io.stderr:write("demo: could not start the mock server: ", tostring(mock), "\n")
  os.exit(1)
end
local ok, err = pcall(main, mock)
local stats = mock:stats()
mock:stop()
say("")
if ok then
  say("== Done: mock stopped after %d requests (%d refused with 429). Demo took %.1f s.",
    stats.requests or 0, stats.rate_limited or 0, core.now() - started)
  os.exit(0)
else
  say("== FAILED: %s (mock stopped; demo took %.1f s)", tostring(err), core.now() - started)
  io.stderr:write("demo: ", tostring(err), "\n")
  os.exit(1)
end
