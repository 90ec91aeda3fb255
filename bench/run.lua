-- `make bench`: runs every benchmark in one go, prints one table of figures
-- and ratios (each measured against a reference in the same run), writes
-- bench/RESULTS.md and draws the pictures (bench/plots.gp: bench/*.png).
-- Benchmarks are never tests: goals are shown, not enforced.
--   lua5.4 bench/run.lua [name ...]     (default: all)
local BENCHES = { "sign", "startup", "per_request", "bulk_paging", "memory", "cross_process", "multi_tenant",
  "redis_limiter", "redis_faults", "redis_fleet", "openresty_load", "metrics_openresty", "chaos",
  "jitter", "sync" }

local function script_dir()
  return (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"
end
package.path = script_dir() .. "/?.lua;" .. package.path

local function fmt(v)
  if type(v) ~= "number" then return tostring(v) end
  if v >= 1000 then return ("%.0f"):format(v) end
  if v >= 10 then return ("%.1f"):format(v) end
  return ("%.3f"):format(v)
end

local function capture(cmd)
  local f = io.popen(cmd .. " 2>/dev/null")
  if not f then return "?" end
  local s = f:read("l") or "?"
  f:close()
  return s
end

local function loadavg()
  local f = io.open("/proc/loadavg")
  local s = f and f:read("l") or "?"
  if f then f:close() end
  return (s:match("^(%S+ %S+ %S+)") or s)
end

local function package_version(name)
  return capture("dpkg-query -W -f='${Version}' " .. name)
end

local wanted = #arg > 0 and arg or BENCHES
local started = os.time()
local load_before = loadavg()
local rows = {}
for _, name in ipairs(wanted) do
  local ok, bench = pcall(require, name)
  if ok then
    io.stderr:write("bench: running " .. name .. " ...\n")
    local t0 = os.time()
    local ran, result = pcall(bench)
    io.stderr:write(("bench: %s took %d s\n"):format(name, os.time() - t0))
    if ran then
      for _, r in ipairs(result) do rows[#rows + 1] = r end
    else
      rows[#rows + 1] = { name = name .. ": FAILED", value = tostring(result):gsub("\n", " ") }
    end
  elseif not tostring(bench):find("module '" .. name .. "' not found", 1, true) then
    rows[#rows + 1] = { name = name .. ": FAILED to load", value = tostring(bench):gsub("\n", " ") }
  end
end

local lines = {
  "# Benchmark results",
  "",
  "- date: " .. os.date("!%Y-%m-%d %H:%M UTC"),
  "- machine: " .. capture("uname -srm") .. ", " .. capture("nproc") .. " cores, "
    .. capture("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'"),
  "- versions: " .. _VERSION .. ", lua-coreplus " .. require("coreplus.core").version .. ", "
    .. capture("curl --version | head -1 | cut -d' ' -f1-2") .. ", "
    .. capture("openssl version") .. ", python3-jwt "
    .. capture("/usr/bin/python3 -c 'import jwt; print(jwt.__version__)'") .. ", python3-requests "
    .. capture("/usr/bin/python3 -c 'import requests; print(requests.__version__)'") .. ", libyajl "
    .. package_version("libyajl2") .. ", lua-cjson " .. package_version("lua-cjson") .. ", lua-sec "
    .. package_version("lua-sec") .. ", lua-socket " .. package_version("lua-socket") .. ", lua-luaossl "
    .. package_version("lua-luaossl") .. ", nginx " .. package_version("nginx-common"),
  ("- run time: %d s (%s)"):format(os.time() - started, table.concat(wanted, ", ")),
  "- load average (1, 5, 15 min) before: " .. load_before .. "; after: " .. loadavg()
    .. " (the machine's cores are shared: figures are read only from quiet runs)",
  "- CPU figures are each client's own CPU while it runs (os.clock, time.process_time, bash's times"
    .. " for the curl loop with every process it starts), wall figures from the monotonic clock; every"
    .. " ratio compares figures of this one run. Pictures: bench/arrivals.png, bench/cross_process.png,"
    .. " bench/multi_tenant.png.",
  "",
  "| figure | value | unit | goal | met |",
  "|---|---:|---|---|---|",
}
for _, r in ipairs(rows) do
  local met = r.pass == nil and "" or (r.pass and "yes" or "NO")
  lines[#lines + 1] = ("| %s | %s | %s | %s | %s |"):format(r.name, fmt(r.value), r.unit or "", r.goal or "", met)
end
local text = table.concat(lines, "\n") .. "\n"
io.write(text)
-- Only a full run replaces the committed figures; a partial one just prints.
if #arg == 0 then
  local f = io.open(script_dir() .. "/RESULTS.md", "w")
  if f then f:write(text); f:close() end
end
-- The pictures, from the .dat files the benchmarks wrote (a partial run
-- redraws with what it has).
if not os.execute("gnuplot -e \"dir='" .. script_dir() .. "'\" " .. script_dir() .. "/plots.gp") then
  io.stderr:write("bench: gnuplot failed (Debian's gnuplot-nox draws the pictures)\n")
end
