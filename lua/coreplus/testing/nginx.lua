--- Finding an nginx that runs Lua, and what its configuration must load.
--
-- The mock runs in whichever nginx the machine has: OpenResty (Lua compiled
-- in), or a distribution's nginx with the Lua module as a dynamic module
-- (Debian: `nginx libnginx-mod-http-lua`), which needs `load_module` lines
-- naming the module files by absolute path.
--
-- Which binary, first match wins: the `nginx` option of `testing.server`,
-- the setting `testing.nginx = path`, `$COREPLUS_NGINX`, then the first of
-- `CANDIDATES` that is installed and has the Lua module.
-- @module coreplus.testing.nginx
-- (helper commands never inherit a sanitizer preload: coreplus.testing.process)
local process = require "coreplus.testing.process"
local q, capture = process.q, process.capture
local io, os, ipairs, error = io, os, ipairs, error
local format, concat = string.format, table.concat

local _M = {}

--- Where to look when nothing names a binary, in order: OpenResty on PATH
-- and in its default prefix, then nginx on PATH and where Linux
-- distributions install it.
_M.CANDIDATES = { "openresty", "/usr/local/openresty/bin/openresty",
  "/usr/local/openresty/nginx/sbin/nginx", "nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx" }

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The absolute path of a command (a name looked up on PATH, or a path),
-- or nil when it is not an executable.
-- @tparam string cmd
-- @treturn string|nil
function _M.which(cmd)
  local out = capture("p=$(command -v " .. q(cmd) .. " 2>/dev/null) && [ -f \"$p\" ] && [ -x \"$p\" ]"
    .. " && printf '%s\\n' \"$p\"")
  return out:match("^(/[^\n]*)\n$")
end

--- What the configure arguments of `nginx -V` say about Lua.
-- @tparam string text the output of `nginx -V`
-- @treturn table `{builtin = bool, modules_path = dir or nil, version = text}`
function _M.parse_version(text)
  local info = { version = text:match("nginx version: ([^\n]+)"), builtin = false,
    modules_path = text:match("%-%-modules%-path=(%S+)"), prefix = text:match("%-%-prefix=(%S+)") }
  -- Compiled in: --add-module=.../ngx_lua-0.10.x (OpenResty) or
  -- .../lua-nginx-module; --add-dynamic-module builds a .so instead.
  for dir in text:gmatch("%-%-add%-module=(%S+)") do
    local base = dir:gsub("/+$", ""):match("([^/]+)$") or dir
    if base:match("^ngx_lua") or base:match("^lua%-nginx%-module") then info.builtin = true end
  end
  return info
end

local cache = {}

--- Inspects one binary: `nginx -V`, then where its Lua module is.
-- @tparam string path the binary
-- @treturn table|nil `{path =, version =, builtin = bool, modules = {absolute .so paths to load, in order}}`
-- @treturn string why not, when the binary is missing or has no Lua module
function _M.inspect(path)
  if cache[path] then return cache[path] end
  local bin = _M.which(path)
  if not bin then return nil, format("%s is not an executable", path) end
  local text = capture(q(bin) .. " -V 2>&1")
  if not text:find("nginx version", 1, true) then
    return nil, format("%s -V does not print an nginx version: %s", bin, text:sub(1, 200))
  end
  local info = _M.parse_version(text)
  info.path = bin
  info.modules = {}
  if not info.builtin then
    -- A dynamic module loads only into the nginx it was built for, so only
    -- this binary's own modules directory counts (its default: prefix/modules).
    local dirs = { info.modules_path or ((info.prefix or "/usr/local/nginx") .. "/modules") }
    for _, d in ipairs(dirs) do
      if readable(d .. "/ngx_http_lua_module.so") then
        -- The Lua module needs the development kit loaded first, when it
        -- was built against it (Debian's is).
        if readable(d .. "/ndk_http_module.so") then info.modules[#info.modules + 1] = d .. "/ndk_http_module.so" end
        info.modules[#info.modules + 1] = d .. "/ngx_http_lua_module.so"
        break
      end
    end
    if #info.modules == 0 then
      return nil, format("%s (%s) has no Lua module: neither compiled in nor ngx_http_lua_module.so in %s",
        bin, info.version or "?", concat(dirs, ", "))
    end
  end
  cache[path] = info
  return info
end

--- The nginx to run, as `inspect` describes it.
-- @tparam[opt] string chosen a binary named by the caller (the `nginx`
--  option, `testing.nginx = path`); otherwise `$COREPLUS_NGINX`, then `CANDIDATES`
-- @treturn table `inspect`'s description; raises when none fits, saying what was tried
function _M.find(chosen)
  chosen = chosen or os.getenv("COREPLUS_NGINX")
  if chosen and chosen ~= "" then
    local info, why = _M.inspect(chosen)
    if not info then error("coreplus.testing: the chosen nginx cannot run the mock: " .. why, 0) end
    return info
  end
  local tried = {}
  for _, c in ipairs(_M.CANDIDATES) do
    local info, why = _M.inspect(c)
    if info then return info end
    tried[#tried + 1] = why
  end
  error("coreplus.testing: no nginx with the Lua module found (install OpenResty, or Debian's"
    .. " nginx and libnginx-mod-http-lua; or set COREPLUS_NGINX to the binary). Tried: "
    .. concat(tried, "; "), 0)
end

return _M
