--- nginx.conf for one mock instance (used by the launcher, outside nginx).
-- Everything lives under the instance's prefix; modules are loaded by
-- absolute path because Debian's relative `modules/...` lines resolve
-- against the prefix.
local format, concat, ipairs = string.format, table.concat, ipairs

local _M = {}

_M.modules_dir = "/usr/lib/nginx/modules"

--- render{prefix=, lua_dir=, port=, tls=, cert=, key=, workers=, user_root=,
--        config_path=} -> text
function _M.render(o)
  local q = function(s) return format("%q", s) end
  local lines = {
    format("load_module %s/ndk_http_module.so;", _M.modules_dir),
    format("load_module %s/ngx_http_lua_module.so;", _M.modules_dir),
    o.user_root and "user root;" or "",
    format("worker_processes %d;", o.workers or 1),
    format("pid %s/nginx.pid;", o.prefix),
    format("error_log %s/logs/error.log warn;", o.prefix),
    -- A sleeping fault (hang, slow_body) must not hold up a graceful stop.
    "worker_shutdown_timeout 1s;",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off;",
    "  server_tokens off;",
    "  lua_socket_log_errors off;",
    format("  client_body_temp_path %s/tmp/body;", o.prefix),
    format("  proxy_temp_path %s/tmp/proxy;", o.prefix),
    format("  fastcgi_temp_path %s/tmp/fastcgi;", o.prefix),
    format("  uwsgi_temp_path %s/tmp/uwsgi;", o.prefix),
    format("  scgi_temp_path %s/tmp/scgi;", o.prefix),
    -- ';;' keeps the default path, where resty.core and cjson live.
    format('  lua_package_path "%s/?.lua;%s/?/init.lua;;";', o.lua_dir, o.lua_dir),
    "  lua_shared_dict mock_stats 4m;",
    "  lua_shared_dict mock_rate 16m;",
    "  lua_shared_dict mock_data 64m;",
    "  client_max_body_size 128m;",
    "  client_body_buffer_size 1m;",
    "  keepalive_requests 10000;",
    format("  init_by_lua_block { require('coreplus.testing.mock.server').init(%s) }", q(o.config_path)),
    "  init_worker_by_lua_block { require('coreplus.testing.mock.server').init_worker() }",
    "  server {",
    format("    listen 127.0.0.1:%d%s;", o.port, o.tls and " ssl" or ""),
    o.tls and format("    ssl_certificate %s;", o.cert) or "",
    o.tls and format("    ssl_certificate_key %s;", o.key) or "",
    o.tls and "    ssl_protocols TLSv1.2 TLSv1.3;" or "",
    "    location / {",
    "      default_type application/json;",
    "      content_by_lua_block { require('coreplus.testing.mock.server').handle() }",
    "      log_by_lua_block { require('coreplus.testing.mock.server').log() }",
    "    }",
    "  }",
    "}",
  }
  local out = {}
  for _, l in ipairs(lines) do if l ~= "" then out[#out + 1] = l end end
  return concat(out, "\n") .. "\n"
end

return _M
