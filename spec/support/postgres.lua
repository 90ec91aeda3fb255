-- A private PostgreSQL 15 for specs and benches: initdb in a temporary
-- directory, the server on 127.0.0.1 on a free port, stopped (and the
-- directory removed) by stop() or, whatever happens, when the process that
-- started it ends.
--   local pg = dofile("spec/support/postgres.lua")
--   local server, why = pg.start()      -- nil, why: PostgreSQL 15 is not installed
--   server.url   postgres://postgres@127.0.0.1:PORT/postgres
--   server:psql(sql) -> output          server:stop()
-- initdb and the server refuse to run as root: as root (a fresh Debian root
-- runs the suite so) they run as `nobody` through setpriv, in a directory
-- given to nobody. A watchdog shell holds the server as its child and stops
-- it (SIGINT: fast shutdown) when its pipe from this process closes, which
-- the kernel does when this process dies, SIGKILL included; like the mock's
-- watchdog it also checks every second that this process is still its
-- parent, since a child this process starts later inherits the pipe.
local core = require "coreplus.core"
local F = dofile("spec/support/files.lua")
local q, sh, read_file, capture = F.q, F.sh, F.read, F.capture

local M = {}
M.BIN = os.getenv("COREPLUS_PG_BIN") or "/usr/lib/postgresql/15/bin"

local WATCHDOG = [[
dir=$1; shift
launcher=$PPID
exec 3<&0 </dev/null >/dev/null 2>&1
"$@" >"$dir/server.log" 2>&1 3<&- &
server=$!
( while read -r _ <&3; do :; done ) &
reader=$!
exec 3<&-
trap '' INT TERM HUP PIPE
echo "$server $reader" >"$dir/pids.new" && mv "$dir/pids.new" "$dir/pids"
parent_of() { read -r _ _ _ p _ <"/proc/$1/stat" 2>/dev/null && echo "$p"; }
( while [ -d "$dir" ] && [ "$(parent_of $$)" = "$launcher" ] && kill -0 "$reader" 2>/dev/null; do sleep 1; done
  kill -KILL "$reader" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
wait "$reader"
kill -INT "$server" 2>/dev/null
i=0
while kill -0 "$server" 2>/dev/null; do
  if [ "$i" -ge 500 ]; then kill -KILL "$server" 2>/dev/null; fi
  sleep 0.02; i=$((i + 1))
done
wait "$server" 2>/dev/null
rm -rf "$dir"
]]

local function running_as_root()
  return capture("id -u"):match("^0") ~= nil
end

-- The command prefix that runs a program as the server's user.
local function as_user()
  if not running_as_root() then return "" end
  return "setpriv --reuid=nobody --regid=nogroup --clear-groups -- "
end

local server = {}
server.__index = server

--- installed() -> true | nil, why
function M.installed()
  if not sh("test -x " .. q(M.BIN .. "/initdb") .. " && test -x " .. q(M.BIN .. "/postgres")) then
    return nil, "PostgreSQL 15 is not installed (" .. M.BIN .. "): scripts/deps installs postgresql-15"
  end
  return true
end

--- start() -> server | nil, why
function M.start()
  if not sh("test -x " .. q(M.BIN .. "/initdb") .. " && test -x " .. q(M.BIN .. "/postgres")) then
    return nil, "PostgreSQL 15 is not installed (" .. M.BIN .. "): scripts/deps installs postgresql-15"
  end
  local dir = capture("mktemp -d /tmp/coreplus-pg.XXXXXXXX"):gsub("%s+$", "")
  assert(dir:match("^/tmp/coreplus%-pg%.%w+$"), "mktemp failed")
  local self = setmetatable({ dir = dir, user = "postgres" }, server)
  local ok, err = pcall(function()
    if running_as_root() then assert(sh("chown nobody:nogroup " .. q(dir))) end
    local out = capture(as_user() .. q(M.BIN .. "/initdb") .. " -D " .. q(dir .. "/data")
      .. " -U postgres -A trust -E UTF8 --no-locale --no-sync 2>&1")
    if not out:find("Success", 1, true) and not sh("test -f " .. q(dir .. "/data/PG_VERSION")) then
      error("initdb failed: " .. out, 0)
    end
    for _ = 1, 5 do
      self.port = dofile("spec/support/redis.lua").free_port()
      local cmd = as_user() .. q(M.BIN .. "/postgres") .. " -D " .. q(dir .. "/data")
        .. " -h 127.0.0.1 -p " .. self.port .. " -k " .. q(dir)
        .. " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40"
        .. " -c shared_buffers=16MB -c logging_collector=off -c log_min_messages=warning"
      self.watch = assert(io.popen("exec sh -c " .. q(WATCHDOG) .. " sh " .. q(dir) .. " " .. cmd, "w"))
      for _ = 1, 300 do
        if sh(q(M.BIN .. "/pg_isready") .. " -q -h 127.0.0.1 -p " .. self.port) then
          self.url = ("postgres://postgres@127.0.0.1:%d/postgres"):format(self.port)
          return
        end
        local log = read_file(dir .. "/server.log") or ""
        local pid = (read_file(dir .. "/pids") or ""):match("^(%d+)")
        if log:find("could not bind", 1, true) or (pid and not sh("kill -0 " .. pid .. " 2>/dev/null")) then
          break
        end
        core.sleep(0.05)
      end
      local log = read_file(dir .. "/server.log") or ""
      self:release()
      if not log:find("could not bind", 1, true) then error("postgres did not start: " .. log, 0) end
    end
    error("postgres found no free port", 0)
  end)
  if not ok then
    self:release()
    sh("rm -rf " .. q(dir))
    return nil, err
  end
  return self
end

--- Runs SQL through psql; returns its output (tuples only, unaligned).
function server:psql(sql)
  return capture(q(M.BIN .. "/psql") .. " -X -q -t -A -h 127.0.0.1 -p " .. self.port .. " -U postgres -d postgres -c "
    .. q(sql) .. " 2>&1")
end

-- Tells the watchdog to stop the server, and waits until it has.
function server:release()
  if not self.watch then return end
  local pids = read_file(self.dir .. "/pids") or ""
  local reader = pids:match("^%d+ (%d+)")
  if reader then sh("kill -KILL " .. reader .. " 2>/dev/null") end
  self.watch:close()   -- waits for the watchdog: the server has stopped
  self.watch = nil
end

function server:stop()
  self:release()
  sh("rm -rf " .. q(self.dir))
  self.url = nil
end

return M
