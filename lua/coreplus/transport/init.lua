--- Picks the transport: the C core (libcurl) by default, the non-blocking
-- nginx one inside OpenResty, or any table that has `request` (a stub).
local type = type
local error = error

local _M = {}

-- ngx's cosockets exist only in some phases; elsewhere libcurl is the way.
local function ngx_usable()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return false end
  local phase = ngx.get_phase()
  return phase == "rewrite" or phase == "access" or phase == "content" or phase == "timer"
    or phase == "ssl_cert" or phase == "ssl_session_fetch"
end

function _M.resolve(choice)
  if choice == nil then
    choice = ngx_usable() and "ngx" or "curl"
  end
  if choice == "curl" then return require "coreplus.transport.curl" end
  if choice == "ngx" then return require "coreplus.transport.ngx" end
  if type(choice) == "table" and type(choice.request) == "function" then return choice end
  error("coreplus.new: option 'transport' must be \"curl\", \"ngx\" or a table with a request function", 4)
end

return _M
