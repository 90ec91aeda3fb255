--- The mirror in SQLite (lua-dbi-sqlite3): a file, nothing to start.
-- WAL, so that readers of the mirror never wait for a sync; BEGIN
-- IMMEDIATE, so that two writers queue (busy_timeout) instead of failing.
-- A practice's lock is an exclusive transaction held on a small file of its
-- own beside the database (PATH.sync-<digest>.lock): SQLite takes it with the
-- operating system's file locks, which go when the process goes, SIGKILL
-- included, so a dead sync never blocks the next one.
local dbi = require "coreplus.sync.dbi"
local core = require "coreplus.core"

local _M = {}

_M.BEGIN = "BEGIN IMMEDIATE"
_M.DISTINCT = "IS NOT"   -- SQLite's IS DISTINCT FROM

-- How long a write waits for another process's transaction to end.
local BUSY_MS = 30000

function _M.connect(where)
  return dbi.connect("SQLite3", "lua-dbi-sqlite3", where.path)
end

function _M.setup(db)
  db:exec("PRAGMA busy_timeout = " .. BUSY_MS)
  db:query("PRAGMA journal_mode = WAL")
  -- WAL + NORMAL: a crash or kill loses no committed transaction; a power
  -- cut may lose the last ones, with their cursors (a later run reads again).
  db:exec("PRAGMA synchronous = NORMAL")
end

function _M.lock_schema() end

function _M.alive() return true end   -- a file: nothing to lose   -- BEGIN IMMEDIATE already lets one writer in

-- A name for the practice's lock file that any label can have.
local function lock_path(db, practice)
  local digest = core.jwt_encode(practice, "coreplus sync lock"):match("([^.]+)$"):sub(1, 16)
  return db.where.path .. ".sync-" .. digest .. ".lock"
end

function _M.lock(db, practice)
  local conn, err = dbi.connect("SQLite3", "lua-dbi-sqlite3", lock_path(db, practice))
  if not conn then error(err, 0) end
  local st = conn:prepare("BEGIN EXCLUSIVE")
  local ok = st and st:execute()
  if not ok then
    if st then st:close() end
    conn:close()
    return false
  end
  db.lock_conns = db.lock_conns or {}
  db.lock_conns[practice] = { conn = conn, st = st }
  return true
end

function _M.unlock(db, practice)
  local held = db.lock_conns and db.lock_conns[practice]
  if not held then return end
  db.lock_conns[practice] = nil
  held.st:close()
  held.conn:close()   -- ends the transaction: the lock goes
end

function _M.close() end

return _M
