--- The mirror's database: SQLite or PostgreSQL through lua-dbi (Debian's
-- lua-dbi-sqlite3 / lua-dbi-postgresql), parameterised statements only,
-- every value bound as text (docs/decisions.md#sync-bindings).
--
--   local db, err = db.open("sqlite:mirror.db")     -- migrates the schema
--   db:transaction(function() db:upsert("clients", "north", records, now) end)
--
-- Every method raises a `database` error object on failure, except open,
-- transaction, lock and close, which return nil, err. A transaction never
-- spans a yield: the sync's tasks share one connection, and each batch of
-- writes runs to its commit before any other task runs.
local errors = require "coreplus.errors"
local schema = require "coreplus.sync.schema"
local url = require "coreplus.sync.url"

local select = select
local pairs = pairs
local ipairs = ipairs
local pcall = pcall
local error = error
local tostring = tostring
local setmetatable = setmetatable
local format = string.format
local concat = table.concat
local rep = string.rep
local tonumber = tonumber
local unpack = table.unpack or rawget(_G, "unpack")   -- LuaJIT: the global

local _M = {}
local DB = {}
DB.__index = DB

--- Rows per INSERT statement: larger batches are split, the rest in powers
-- of two, so each table needs at most a handful of prepared statements.
local CHUNK = 64

local db_error = require("coreplus.sync.dbi").error

local function pack(...) return { n = select("#", ...), ... } end

-- lua-dbi's messages carry newlines and the server's context lines.
local function one_line(s)
  return (tostring(s):gsub("%s*\n%s*", " "):gsub("%s+$", ""))
end

--- A cached prepared statement; raises a database error.
function DB:prepare(sql)
  local st = self.stmts[sql]
  if st then return st end
  local err
  st, err = self.conn:prepare(sql)
  if not st then error(db_error(one_line(err)), 0) end
  self.stmts[sql] = st
  return st
end

--- exec(sql, ...) -> the statement (affected(), rows()); raises.
function DB:exec(sql, ...)
  local st = self:prepare(sql)
  local ok, err = st:execute(...)
  if not ok then error(db_error(one_line(err)), 0) end
  return st
end

--- query(sql, ...) -> list of rows (arrays).
function DB:query(sql, ...)
  local st = self:exec(sql, ...)
  local out = {}
  for row in st:rows() do
    local copy = {}
    for i = 1, #st:columns() do copy[i] = row[i] end
    out[#out + 1] = copy
  end
  return out
end

--- transaction(fn, ...) -> true, what fn returned | nil, err: runs fn
-- between BEGIN and COMMIT, ROLLBACK when it raises.
function DB:transaction(fn, ...)
  if self.in_transaction then error("coreplus.sync: nested transaction", 2) end
  local ok, err = pcall(self.exec, self, self.dialect.BEGIN)
  if not ok then return nil, err end
  self.in_transaction = true
  local res = pack(pcall(fn, ...))
  self.in_transaction = false
  if res[1] then
    ok, err = pcall(self.exec, self, "COMMIT")
    if ok then return true, unpack(res, 2, res.n) end
  else
    err = res[2]
  end
  pcall(self.exec, self, "ROLLBACK")
  if not errors.is_error(err) then err = db_error(one_line(err)) end
  return nil, err
end

-- ===== rows =====

-- The INSERT ... ON CONFLICT of n rows into tbl.
local function upsert_sql(self, tbl, n)
  local key = tbl.name .. "#" .. n
  local sql = self.upserts[key]
  if sql then return sql end
  local cols, sets = { "practice", "id", "data" }, { "data = excluded.data" }
  for _, c in ipairs(tbl.columns) do
    cols[#cols + 1] = c[1]
    sets[#sets + 1] = c[1] .. " = excluded." .. c[1]
  end
  cols[#cols + 1] = "synced_at"
  sets[#sets + 1] = "synced_at = excluded.synced_at"
  local row = "(" .. rep("?", #cols, ",") .. ")"
  sql = format("INSERT INTO %s (%s) VALUES %s ON CONFLICT (practice, id) DO UPDATE SET %s"
    .. " WHERE %s.data %s excluded.data", tbl.name, concat(cols, ", "), rep(row, n, ","), concat(sets, ", "),
    tbl.name, self.dialect.DISTINCT)
  self.upserts[key] = sql
  return sql
end

--- upsert(resource, practice, rows, synced_at) -> written, unchanged.
-- `rows`: {{id =, data = JSON text, values = {filter column values}}, ...};
-- a row whose data is already stored as it is stays untouched (its
-- synced_at too). An id given twice counts once, the last one kept.
function DB:upsert(resource, practice, rows, synced_at)
  local tbl = schema.TABLES[resource]
  local last, list = {}, {}
  for i, r in ipairs(rows) do last[r.id] = i end
  for i, r in ipairs(rows) do if last[r.id] == i then list[#list + 1] = r end end
  local written, i, ncols = 0, 1, #tbl.columns
  while i <= #list do
    local n = #list - i + 1
    if n >= CHUNK then n = CHUNK else
      local p = 1
      while p * 2 <= n do p = p * 2 end
      n = p
    end
    local params, k = {}, 0
    for j = i, i + n - 1 do
      local r = list[j]
      params[k + 1], params[k + 2], params[k + 3] = practice, r.id, r.data
      k = k + 3
      for c = 1, ncols do params[k + c] = r.values[c] end
      k = k + ncols + 1
      params[k] = synced_at
    end
    written = written + self:exec(upsert_sql(self, tbl, n), unpack(params, 1, k)):affected()
    i = i + n
  end
  return written, #list - written
end

--- ids(resource, practice) -> the ids of the practice's rows.
function DB:ids(resource, practice)
  local out = {}
  for i, r in ipairs(self:query(format("SELECT id FROM %s WHERE practice = ?", resource), practice)) do
    out[i] = r[1]
  end
  return out
end

--- The practice's appointments starting in [from, to) that are not
-- cancelled: those the window's list must show (a cancelled one it never
-- shows again; asking after it each run would cost a request for nothing).
function DB:live_appointments(practice, from, to)
  local out = {}
  for i, r in ipairs(self:query("SELECT id FROM appointments WHERE practice = ? AND starts_at >= ? AND starts_at < ?"
    .. " AND (status IS NULL OR status <> 'Cancelled')", practice, from, to)) do out[i] = r[1] end
  return out
end

--- delete(resource, practice, ids) -> how many rows went.
function DB:delete(resource, practice, ids)
  local n = 0
  for _, id in ipairs(ids) do
    n = n + self:exec(format("DELETE FROM %s WHERE practice = ? AND id = ?", resource), practice, id):affected()
  end
  return n
end

--- ids_where(resource, practice, column, value) -> ids of the rows whose column = value.
function DB:ids_where(resource, practice, column, value)
  local out = {}
  for i, r in ipairs(self:query(format("SELECT id FROM %s WHERE practice = ? AND %s = ?", resource, column),
    practice, value)) do out[i] = r[1] end
  return out
end

--- count(resource, practice) -> rows the practice has in the table.
function DB:count(resource, practice)
  local n = self:query(format("SELECT count(*) FROM %s WHERE practice = ?", resource), practice)[1][1]
  return math.floor(tonumber(n))
end

--- The timezoneId of the practice's first location (by id), or nil.
function DB:first_timezone(practice)
  local r = self:query("SELECT timezone_id FROM locations WHERE practice = ? AND timezone_id IS NOT NULL"
    .. " ORDER BY id LIMIT 1", practice)[1]
  return r and r[1] or nil
end

-- ===== the state table =====

--- state(practice, resource) -> {cursor =, detail = JSON text, succeeded_at =} | nil
function DB:state(practice, resource)
  local r = self:query("SELECT cursor, detail FROM sync_state WHERE practice = ? AND resource = ?",
    practice, resource)[1]
  if not r then return nil end
  return { cursor = r[1], detail = r[2] }
end

--- set_state(practice, resource, cursor, detail, succeeded_at)
function DB:set_state(practice, resource, cursor, detail, succeeded_at)
  self:exec("INSERT INTO sync_state (practice, resource, cursor, detail, succeeded_at) VALUES (?, ?, ?, ?, ?)"
    .. " ON CONFLICT (practice, resource) DO UPDATE SET cursor = excluded.cursor, detail = excluded.detail,"
    .. " succeeded_at = excluded.succeeded_at", practice, resource, cursor, detail, succeeded_at)
end

-- ===== the schema =====

-- Brings the schema to the version this code knows, in one transaction
-- (taken by one process at a time: the dialect's schema lock).
function DB:migrate()
  return self:transaction(function()
    self.dialect.lock_schema(self)
    self:exec("CREATE TABLE IF NOT EXISTS sync_schema (version integer PRIMARY KEY, applied_at "
      .. schema.TYPES[self.kind].timestamp .. " NOT NULL)")
    local have = self:query("SELECT max(version) FROM sync_schema")[1][1]
    have = tonumber(have) or 0
    local known = #schema.MIGRATIONS
    if have > known then
      error(db_error(format("the database holds schema version %d; this coreplus knows up to %d", have, known),
        "update lua-coreplus, or sync into another database"), 0)
    end
    for v = have + 1, known do
      for _, sql in ipairs(schema.MIGRATIONS[v](self.kind)) do self:exec(sql) end
      self:exec("INSERT INTO sync_schema (version, applied_at) VALUES (?, ?)", tostring(v), _M.timestamp())
    end
    self.version = known
    return true
  end)
end

--- The schema version in the database (after open: the current one).
function DB:schema_version() return self.version end

-- ===== practices: one sync at a time =====

--- lock(practice) -> true | nil, err (kind "locked"): no other sync of this
-- practice runs against this database, in this process or another; the
-- database releases the lock when this process ends, however it ends.
function DB:lock(practice)
  if self.locks[practice] then
    return nil, errors.new{ kind = "locked", message = "practice '" .. practice .. "' is already being synced"
      .. " by this process" }
  end
  local ok, got = pcall(self.dialect.lock, self, practice)
  if not ok then return nil, got end
  if not got then
    return nil, errors.new{ kind = "locked", message = "another sync of practice '" .. practice
      .. "' is running against " .. self.name, hint = "wait for it to end; a sync that died releases its"
      .. " lock with its process" }
  end
  self.locks[practice] = true
  return true
end

function DB:unlock(practice)
  if not self.locks[practice] then return end
  self.locks[practice] = nil
  pcall(self.dialect.unlock, self, practice)
end

--- Whether the connection still works (a PostgreSQL server restarted
-- since: no).
function DB:alive()
  if not self.conn then return false end
  local ok, yes = pcall(self.dialect.alive, self)
  return ok and yes
end

--- Closes the connection (and the practices' locks). Safe to repeat.
function DB:close()
  if not self.conn then return end
  for p in pairs(self.locks) do self:unlock(p) end
  for _, st in pairs(self.stmts) do pcall(st.close, st) end
  self.stmts = {}
  pcall(self.dialect.close, self)
  pcall(self.conn.close, self.conn)
  self.conn = nil
end

-- ===== opening =====

--- now as the tables store times: UTC, "2025-09-01T10:00:00Z".
function _M.timestamp(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch or os.time()))
end

--- open(url) -> db | nil, err: connects and migrates the schema.
-- @tparam string u `sqlite:PATH` or `postgres://user[:password]@host[:port]/db`
function _M.open(u)
  local where, why = url.parse(u)
  if not where then return nil, errors.new{ kind = "database", message = why } end
  local dialect = require("coreplus.sync." .. where.kind)
  local self = setmetatable({ kind = where.kind, dialect = dialect, name = url.redacted(u), stmts = {},
    upserts = {}, locks = {}, where = where }, DB)
  local ok, conn, err = pcall(dialect.connect, where)
  if not ok or not conn then
    return nil, errors.is_error(conn) and conn or err or db_error(one_line(conn))
  end
  self.conn = conn
  local set_up, serr = pcall(dialect.setup, self)
  if not set_up then self:close(); return nil, serr end
  local migrated, merr = self:migrate()
  if not migrated then self:close(); return nil, merr end
  return self
end

_M.one_line = one_line
return _M
