--- nginx.conf for one mock instance (used by the launcher, outside nginx).
-- Everything lives under the instance's prefix. Modules are loaded by
-- absolute path (a distribution's relative `modules/...` lines would resolve
-- against the prefix), and only when the Lua module is not compiled in
-- (OpenResty). Paths are quoted: TMPDIR may hold spaces.
-- @module coreplus.testing.mock.conf
local format, concat, ipairs = string.format, table.concat, ipairs

local _M = {}

-- An nginx configuration string: double quotes, with \ and " escaped.
local function str(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0") .. '"'
end
_M.quote = str

--- render{prefix=, lua_dir=, port=, tls=, cert=, key=, workers=, user_root=,
--        config_path=, modules = {absolute .so paths, in load order}} -> text
function _M.render(o)
  local q = function(s) return format("%q", s) end
  local p = function(rest) return str(o.prefix .. rest) end
  local lines = {}
  for _, m in ipairs(o.modules or {}) do lines[#lines + 1] = format("load_module %s;", str(m)) end
  local body = {
    o.user_root and "user root;" or "",
    format("worker_processes %d;", o.workers or 1),
    format("pid %s;", p("/nginx.pid")),
    format("error_log %s warn;", p("/logs/error.log")),
    -- A sleeping fault (hang, slow_body) must not hold up a graceful stop.
    "worker_shutdown_timeout 1s;",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off;",
    "  server_tokens off;",
    "  lua_socket_log_errors off;",
    format("  client_body_temp_path %s;", p("/tmp/body")),
    format("  proxy_temp_path %s;", p("/tmp/proxy")),
    format("  fastcgi_temp_path %s;", p("/tmp/fastcgi")),
    format("  uwsgi_temp_path %s;", p("/tmp/uwsgi")),
    format("  scgi_temp_path %s;", p("/tmp/scgi")),
    -- ';;' keeps the default path, where resty.core and cjson live.
    format("  lua_package_path %s;", str(o.lua_dir .. "/?.lua;" .. o.lua_dir .. "/?/init.lua;;")),
    "  lua_shared_dict mock_stats 4m;",
    "  lua_shared_dict mock_rate 16m;",
    "  lua_shared_dict mock_arrivals 8m;",
    "  lua_shared_dict mock_data 64m;",
    "  client_max_body_size 128m;",
    "  client_body_buffer_size 1m;",
    "  keepalive_requests 10000;",
    format("  init_by_lua_block { require('coreplus.testing.mock.server').init(%s) }", q(o.config_path)),
    "  init_worker_by_lua_block { require('coreplus.testing.mock.server').init_worker() }",
    "  server {",
    format("    listen 127.0.0.1:%d%s;", o.port, o.tls and " ssl" or ""),
    o.tls and format("    ssl_certificate %s;", str(o.cert)) or "",
    o.tls and format("    ssl_certificate_key %s;", str(o.key)) or "",
    o.tls and "    ssl_protocols TLSv1.2 TLSv1.3;" or "",
    "    location / {",
    "      default_type application/json;",
    "      content_by_lua_block { require('coreplus.testing.mock.server').handle() }",
    "      log_by_lua_block { require('coreplus.testing.mock.server').log() }",
    "    }",
    "  }",
    "}",
  }
  for _, l in ipairs(body) do if l ~= "" then lines[#lines + 1] = l end end
  return concat(lines, "\n") .. "\n"
end

return _M
