--- The mirror in PostgreSQL (lua-dbi-postgresql): `data` is jsonb, times
-- are timestamptz. A practice's lock is a session advisory lock, which the
-- server drops when the connection ends (the process died, or was killed).
local dbi = require "coreplus.sync.dbi"

local _M = {}

_M.BEGIN = "BEGIN"
_M.DISTINCT = "IS DISTINCT FROM"

-- The advisory locks' keys: hashed from a text, in a namespace of ours.
local KEY = "hashtextextended(?, 0)"

-- (libpq's messages name the host and user, never the password)
function _M.connect(where)
  local conn, err = dbi.connect("PostgreSQL", "lua-dbi-postgresql", where.database, where.user, where.password,
    where.host, where.port)
  -- lua-dbi 0.7 loses the server's reason for refusing a login: say where it is
  if not conn and not err.hint and tostring(err.message):find("closed the connection unexpectedly", 1, true) then
    err.hint = "PostgreSQL ended the connection as it opened: most often a database, user or password it does"
      .. " not know, or pg_hba.conf refusing this host; the server's log names which"
  end
  return conn, err
end

-- A statement never waits forever: a hung server or a table someone else
-- locked fails the batch (the next run resumes) instead of hanging the sync.
local STATEMENT_TIMEOUT, LOCK_TIMEOUT = "300s", "60s"

function _M.setup(db)
  db:exec("SET application_name = 'coreplus sync'")
  db:exec("SET client_min_messages = warning")   -- no NOTICEs from IF NOT EXISTS
  db:exec("SET statement_timeout = '" .. STATEMENT_TIMEOUT .. "'")
  db:exec("SET lock_timeout = '" .. LOCK_TIMEOUT .. "'")
end

-- libpq's status says OK until a request fails: ask the server.
function _M.alive(db)
  return db:query("SELECT 1")[1] ~= nil
end

function _M.lock_schema(db)
  db:exec("SELECT pg_advisory_xact_lock(" .. KEY .. ")", "coreplus.sync schema")
end

function _M.lock(db, practice)
  local r = db:query("SELECT pg_try_advisory_lock(" .. KEY .. ")", "coreplus.sync practice " .. practice)[1]
  return r[1] == true or r[1] == "t"
end

function _M.unlock(db, practice)
  db:exec("SELECT pg_advisory_unlock(" .. KEY .. ")", "coreplus.sync practice " .. practice)
end

function _M.close() end

return _M
