-- A private nginx for specs: a conf rendered into a fresh /tmp prefix,
-- started on a free port on 127.0.0.1 and stopped by pid.
--   local nginx = dofile("spec/support/nginx.lua")
--   local srv = nginx.start{ name = "x", ports = 1, render = function(vars) return conf end,
--                            env = { NAME = "value" }, setup = function(prefix) end }
--   srv.prefix, srv.ports[1], srv.error_log(), srv.stop()
--   srv.eval(code) -> the result of code run in a worker (with _M.EVAL at
--     /eval on P1; `t` is the ngx transport); raises with the error log
-- render(vars) gets PREFIX, TOP (the checkout), USER ("user root;" when
-- root) and P1..Pn; it returns the conf text.
local _M = {}

_M.TOP = (os.getenv("PWD") or "."):gsub("/+$", "")

local F = dofile(_M.TOP .. "/spec/support/files.lua")
_M.q, _M.capture, _M.read_file, _M.write_file = F.q, F.capture, F.read, F.write
local q, capture, read_file = F.q, F.capture, F.read

function _M.sleep(s) os.execute(("sleep %.3f"):format(s)) end

-- Pieces of a spec's nginx.conf, with the @VAR@ placeholders render() fills:
-- the main context (Debian's modules by absolute path, pid, error log) ...
_M.MAIN = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
@USER@
worker_processes 2;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/logs/error.log warn;
]]

-- ... the http{} lines every spec server needs (temp paths inside the
-- prefix, the checkout's Lua and LuaJIT build, the project's snippet) ...
_M.HTTP = [[
    access_log off;
    lua_socket_log_errors off;
    client_body_temp_path @PREFIX@/tmp/body;
    proxy_temp_path @PREFIX@/tmp/proxy;
    fastcgi_temp_path @PREFIX@/tmp/fastcgi;
    uwsgi_temp_path @PREFIX@/tmp/uwsgi;
    scgi_temp_path @PREFIX@/tmp/scgi;
    lua_package_path "@TOP@/lua/?.lua;@TOP@/lua/?/init.lua;;";
    lua_package_cpath "@TOP@/build/luajit/?.so;;";
    include @TOP@/nginx/coreplus.conf;
]]

-- ... and a location that runs the posted Lua chunk and returns its result
-- as JSON ({ok=, result=}), for specs that drive code inside a worker.
_M.EVAL = [[
        location = /eval { content_by_lua_block {
            ngx.req.read_body()
            local f, err = loadstring(ngx.req.get_body_data() or "", "=eval")
            if not f then ngx.status = 500; ngx.say(err); return end
            local ok, res = pcall(f)
            ngx.say(require("cjson").encode{ ok = ok, result = res })
        } }
]]
local sleep = _M.sleep

local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  local state = stat and stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

local seeded = false

function _M.start(o)
  if not seeded then
    seeded = true
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  end
  local name = o.name or "spec"
  assert(name:match("^[%w-]+$"))
  local prefix = capture("mktemp -d -t coreplus-" .. name .. ".XXXXXXXX"):gsub("%s+$", "")
  assert(prefix ~= "", "mktemp failed")
  os.execute("mkdir -p " .. q(prefix .. "/logs") .. " " .. q(prefix .. "/tmp") .. " && chmod 755 " .. q(prefix))
  local srv = { prefix = prefix }
  function srv.error_log() return read_file(prefix .. "/logs/error.log") or "" end
  function srv.eval(code)
    local file = prefix .. "/case.lua"
    _M.write_file(file, "local t = require 'coreplus.transport.ngx'\n" .. code)
    local out = capture(("curl -s --max-time 60 --data-binary @%s http://127.0.0.1:%d/eval")
      :format(q(file), srv.ports[1]))
    local ok, v = pcall(require("cjson").decode, out)
    assert(ok and v and v.ok, "eval failed: " .. out .. "\n" .. srv.error_log())
    return v.result
  end
  function srv.stop()
    if srv.pid then
      os.execute("kill -QUIT " .. srv.pid .. " 2>/dev/null")
      local t = 0
      while alive(srv.pid) and t < 10 do sleep(0.02); t = t + 0.02 end
      srv.pid = nil
    end
    if prefix:match("^/.*/coreplus%-[%w-]+%.%w+$") then os.execute("rm -rf " .. q(prefix)) end
  end
  local ok, err = pcall(function()
    if o.setup then o.setup(prefix) end
    local env = {}
    for k, v in pairs(o.env or {}) do env[#env + 1] = k .. "=" .. q(v) end
    local nports = o.ports or 1
    for _ = 1, 10 do
      local base = 20000 + math.random(0, math.floor(40000 / nports) - 1) * nports
      local vars = { PREFIX = prefix, TOP = _M.TOP,
        USER = capture("id -u"):match("^0%s*$") and "user root;" or "" }
      local ports = {}
      for i = 1, nports do
        ports[i] = base + i - 1
        vars["P" .. i] = tostring(ports[i])
      end
      _M.write_file(prefix .. "/nginx.conf", o.render(vars))
      local log = prefix .. "/logs/start.log"
      os.execute(("%s/scripts/lua-env %s /usr/sbin/nginx -p %s -c nginx.conf -e %s >%s 2>&1"):format(q(_M.TOP),
        table.concat(env, " "),
        q(prefix .. "/"), q(prefix .. "/logs/error.log"), q(log)))
      local t = 0
      -- The pid file is created empty first: wait for the pid in it.
      while not tonumber(read_file(prefix .. "/nginx.pid") or "") and t < 3 do sleep(0.02); t = t + 0.02 end
      srv.pid = tonumber(read_file(prefix .. "/nginx.pid") or "")
      if srv.pid then
        srv.ports = ports
        return
      end
      local text = (read_file(log) or "") .. srv.error_log()
      if not text:find("Address already in use", 1, true) then error("nginx did not start: " .. text, 0) end
    end
    error("nginx did not start: no free port", 0)
  end)
  if not ok then
    srv.stop()
    error(err, 2)
  end
  return srv
end

return _M
