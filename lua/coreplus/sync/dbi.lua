--- lua-dbi, loaded when a mirror is opened: a missing binding is a
-- database error naming the Debian package, not a Lua error.
local _M = {}

--- connect(driver, package, ...) -> connection | nil, err
function _M.connect(driver, package_name, ...)
  local db_error = require("coreplus.sync.db").error
  local ok, DBI = pcall(require, "DBI")
  if not ok then
    return nil, db_error("lua-dbi is not installed", "apt-get install " .. package_name)
  end
  local conn, err = DBI.Connect(driver, ...)
  if not conn then
    err = tostring(err):gsub("%s*\n%s*", " ")
    if err:find("not found", 1, true) and err:find(driver, 1, true) then
      return nil, db_error("lua-dbi has no " .. driver .. " driver", "apt-get install " .. package_name)
    end
    return nil, db_error(err)
  end
  conn:autocommit(true)
  return conn
end

return _M
