-- A private nginx (2 workers) for the specs of the ngx transport: an /eval
-- location that runs posted Lua code inside a worker, and raw responses
-- (chunked, sized, close-delimited, slow, empty, dropped, echoed, any
-- status) served over plain HTTP, over TLS with a trusted CA and over TLS
-- with an untrusted one. Used by spec/transport_ngx_spec.lua and
-- spec/transport_contract_spec.lua.
--   local harness = dofile("spec/support/ngx_harness.lua")
--   local h = harness.start()   h.run(code)   h.stop()
local testing = require "coreplus.testing"
local cjson = require "cjson"

local nginx = dofile("spec/support/nginx.lua")

local q, capture, read_file, write_file = nginx.q, nginx.capture, nginx.read_file, nginx.write_file

local _M = {}

-- The raw responses, the same on every server.
local RAW = [[
        location = /raw/chunked { content_by_lua_block {
            ngx.print("hello "); ngx.flush(true); ngx.print("chunked "); ngx.flush(true); ngx.print("world")
        } }
        location = /raw/sized { content_by_lua_block {
            local n = tonumber(ngx.var.arg_n) or 10
            ngx.header["Content-Length"] = n
            ngx.print(string.rep("x", n))
        } }
        location = /raw/bigchunks { content_by_lua_block {
            for _ = 1, tonumber(ngx.var.arg_k) or 4 do ngx.print(string.rep("y", 1000)); ngx.flush(true) end
        } }
        location = /raw/close {
            chunked_transfer_encoding off;
            content_by_lua_block { ngx.print("until "); ngx.flush(true); ngx.print("close") }
        }
        location = /raw/slow { content_by_lua_block { ngx.sleep(tonumber(ngx.var.arg_s) or 2); ngx.say("late") } }
        location = /raw/empty { return 204; }
        location = /raw/drop_reused { content_by_lua_block {
            -- answers the first request of a connection; closes the connection
            -- on any later one without a byte of answer (a server's idle close)
            ngx.shared.spec_counts:incr(ngx.req.get_method(), 1, 0)
            if tonumber(ngx.var.connection_requests) > 1 then return ngx.exit(444) end
            ngx.say("first")
        } }
        location = /raw/status { content_by_lua_block {
            ngx.status = tonumber(ngx.var.arg_s) or 200
            ngx.header["Content-Type"] = "application/json"
            ngx.print('{"status":', ngx.status, '}')
        } }
        location = /raw/drop { content_by_lua_block { ngx.exit(444) } }
        location = /raw/seen { content_by_lua_block {
            ngx.print(ngx.shared.spec_counts:get(ngx.var.arg_path) or 0)
        } }
        location = /raw/echo { content_by_lua_block {
            ngx.req.read_body()
            ngx.header["X-Multi"] = { "a", "b" }
            ngx.say(require("cjson").encode{ headers = ngx.req.get_headers(), method = ngx.req.get_method(),
                uri = ngx.var.request_uri, body = ngx.req.get_body_data() or "",
                conn = ngx.var.connection, reqs = ngx.var.connection_requests })
        } }
]]

local CONF = nginx.MAIN .. [[
worker_shutdown_timeout 2s;
events { worker_connections 256; }
http {
]] .. nginx.HTTP .. [[
    lua_ssl_trusted_certificate @PREFIX@/trusted.pem;
    lua_shared_dict spec_counts 1m;
    lua_shared_dict spec_small 24k;
    # every request to a /raw/ path is counted by its path (/raw/seen?path= says)
    access_by_lua_block { ngx.shared.spec_counts:incr(ngx.var.uri, 1, 0) }
    server {
        listen 127.0.0.1:@P1@;
]] .. nginx.EVAL .. [[
@RAW@
    }
    server {
        listen 127.0.0.1:@P2@ ssl;
        ssl_certificate @PREFIX@/good/server.crt;
        ssl_certificate_key @PREFIX@/good/server.key;
@RAW@
    }
    server {
        listen 127.0.0.1:@P4@;
@RAW@
    }
    server {
        listen 127.0.0.1:@P3@ ssl;
        ssl_certificate @PREFIX@/other/server.crt;
        ssl_certificate_key @PREFIX@/other/server.key;
@RAW@
    }
}
]]

--- start() -> a harness: h.plain, h.tls (a trusted CA), h.other (an
-- untrusted one), h.spare (plain HTTP on a port of its own, for requests
-- that must not find a pooled connection), h.closed (nothing listens), h.prefix, h.stop(); and
-- h.run(code): the value Lua code returns inside nginx, where `t` is the
-- ngx transport (decoded JSON).
function _M.start()
  local h = nginx.start{ name = "ngx-spec", ports = 4,
    setup = function(prefix)
      for _, d in ipairs{ "good", "other" } do os.execute("mkdir -p " .. q(prefix .. "/" .. d)) end
      testing.make_certs(prefix .. "/good")
      testing.make_certs(prefix .. "/other")          -- its CA is not trusted
      write_file(prefix .. "/trusted.pem", read_file(prefix .. "/good/ca.crt"))
    end,
    render = function(vars)
      return (CONF:gsub("@RAW@", RAW):gsub("@(%w+)@", vars))
    end }
  local p = h.ports
  h.plain = "http://127.0.0.1:" .. p[1]
  h.tls = "https://127.0.0.1:" .. p[2]
  h.other = "https://127.0.0.1:" .. p[3]
  h.spare = "http://127.0.0.1:" .. p[4]           -- the same as plain, where no connection is pooled
  h.closed = "http://127.0.0.1:" .. (p[4] + 1)   -- nothing listens there (probably)
  function h.run(code)
    write_file(h.prefix .. "/case.lua", "local t = require 'coreplus.transport.ngx'\n" .. code)
    local out = capture(("curl -s --max-time 30 --data-binary @%s %s"):format(q(h.prefix .. "/case.lua"),
      q(h.plain .. "/eval")))
    local v = cjson.decode(out)
    assert(v and v.ok, "eval failed: " .. out .. "\n" .. (read_file(h.prefix .. "/logs/error.log") or ""))
    return v.result
  end
  return h
end

--- fmt(code, ...): code with $1, $2, ... replaced by the arguments, quoted.
function _M.fmt(code, ...)
  local args = { ... }
  return (code:gsub("%$(%d)", function(i) return ("%q"):format(args[tonumber(i)]) end))
end

return _M

