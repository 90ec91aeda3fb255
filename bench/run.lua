-- `make bench`: runs every benchmark in one go, prints one table of figures
-- and ratios (each measured against a reference in the same run) and writes
-- bench/RESULTS.md. Benchmarks are never tests: goals are shown, not enforced.
--   lua5.4 bench/run.lua [name ...]     (default: all)
local BENCHES = { "sign", "per_request", "bulk_paging", "memory", "cross_process", "redis_limiter",
  "openresty_load", "chaos" }

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

local wanted = #arg > 0 and arg or BENCHES
local started = os.time()
local rows = {}
for _, name in ipairs(wanted) do
  local ok, bench = pcall(require, name)
  if ok then
    io.stderr:write("bench: running " .. name .. " ...\n")
    local ran, result = pcall(bench)
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
    .. capture("/usr/bin/python3 -c 'import requests; print(requests.__version__)'"),
  ("- run time: %d s (%s)"):format(os.time() - started, table.concat(wanted, ", ")),
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
