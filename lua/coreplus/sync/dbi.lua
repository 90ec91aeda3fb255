--- lua-dbi, loaded when a mirror is opened: a missing binding is a
-- database error naming the Debian package, not a Lua error.
local errors = require "coreplus.errors"

local _M = {}

--- A `database` error object.
local function db_error(message, hint)
  return errors.new{ kind = "database", message = message, hint = hint }
end
_M.error = db_error

-- What installs a driver: the Debian package, or its rock (the rock does not
-- depend on lua-dbi: only `coreplus sync` needs it).
local function install_hint(package_name)
  return "apt-get install " .. package_name .. " (LuaRocks: luarocks install "
    .. package_name:gsub("^lua%-dbi", "luadbi") .. ")"
end

--- connect(driver, package, ...) -> connection | nil, err
function _M.connect(driver, package_name, ...)
  local ok, DBI = pcall(require, "DBI")
  if not ok then
    return nil, db_error("lua-dbi is not installed", install_hint(package_name))
  end
  local conn, err = DBI.Connect(driver, ...)
  if not conn then
    err = tostring(err):gsub("%s*\n%s*", " "):gsub("[%s.]+$", "")   -- one line, no stop before the hint
    if err:find("not found", 1, true) and err:find(driver, 1, true) then
      return nil, db_error("lua-dbi has no " .. driver .. " driver", install_hint(package_name))
    end
    return nil, db_error(err)
  end
  conn:autocommit(true)
  return conn
end

return _M
