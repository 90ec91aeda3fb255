--- The database a mirror goes to, from its URL:
--
--   sqlite:PATH                                   a file (created when missing)
--   postgres://user[:password]@host[:port]/db     also postgresql://
--
-- User, password and database may be percent-encoded (a password holding
-- `@`, `/` or `:`). `redacted(url)` is the URL as messages show it: the
-- password never appears in an error, a log line or the JSON summary.
local type = type
local tonumber = tonumber
local char = string.char

local _M = {}

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- parse(url) -> {kind = "sqlite", path =} | {kind = "postgres", user =,
-- password =, host =, port =, database =} | nil, why
function _M.parse(url)
  if type(url) ~= "string" or url == "" then
    return nil, "a database URL is required (sqlite:PATH or postgres://...)"
  end
  local path = url:match("^sqlite:(.*)$")
  if path then
    path = path:gsub("^//", "")   -- sqlite:///abs/path as SQLAlchemy writes it
    if path == "" then return nil, "sqlite: needs a file path (sqlite:mirror.db)" end
    if path == ":memory:" then return nil, "sqlite::memory: would keep nothing: give a file path" end
    return { kind = "sqlite", path = path }
  end
  local rest = url:match("^postgres://(.*)$") or url:match("^postgresql://(.*)$")
  if not rest then
    return nil, "unknown database URL '" .. _M.redacted(url) .. "': sqlite:PATH or postgres://user@host[:port]/db"
  end
  -- The credentials run to the last @ (a password may hold one, unencoded).
  local cred, hostpart = rest:match("^(.*)@([^@]*)$")
  if not cred then return nil, "postgres:// URL needs a user: postgres://user[:password]@host[:port]/db" end
  local user, password = cred:match("^([^:]*):(.*)$")
  if not user then user = cred end
  local host, port, database = hostpart:match("^%[([^%]]+)%]:?(%d*)/([^/?#]+)$")
  if not host then host, port, database = hostpart:match("^([^:/]+):?(%d*)/([^/?#]+)$") end
  if not host or user == "" then
    return nil, "postgres URL '" .. _M.redacted(url) .. "' is not postgres://user[:password]@host[:port]/db"
  end
  port = port ~= "" and tonumber(port) or 5432
  if port < 1 or port > 65535 then return nil, "postgres URL: port " .. port .. " is out of range" end
  return { kind = "postgres", user = unescape(user), password = password and unescape(password) or nil,
    host = host, port = port, database = unescape(database) }
end

--- The URL with its password replaced by ***.
function _M.redacted(url)
  if type(url) ~= "string" then return tostring(url) end
  return (url:gsub("^(postgres[%w]*://[^:@/]*):.*@([^@]*)$", "%1:***@%2"))
end

return _M
