-- The ngx transport never calls ngx.sleep(0): ngx.sleep counts whole
-- milliseconds, and a stock nginx (no "delayed events" patch) logs a warning
-- for each zero sleep. A busy limiter waits under 1 ms all the time (30
-- concurrent requests once left 282 warnings in error.log), so such waits are
-- clamped to 1 ms. The proof is error.log itself, read after each case.
local nginx = dofile("spec/support/nginx.lua")
local cjson = require "cjson"

local q, capture = nginx.q, nginx.capture

local WARNING = "ngx.sleep(0) called without delayed events patch"

local CONF = nginx.MAIN .. [[
events { worker_connections 256; }
http {
]] .. nginx.HTTP .. [[
    server {
        listen 127.0.0.1:@P1@;
]] .. nginx.EVAL .. [[
    }
}
]]

describe("the ngx transport's waits", function()
  local srv

  setup(function()
    srv = nginx.start{ name = "ngx-sleep-spec", render = function(vars) return (CONF:gsub("@(%w+)@", vars)) end }
  end)

  teardown(function()
    if srv then srv.stop() end
  end)

  local function eval(code)
    local out = capture(("curl -s --max-time 30 --data-binary %s %s"):format(q(code),
      q("http://127.0.0.1:" .. srv.ports[1] .. "/eval")))
    local ok, r = pcall(cjson.decode, out)
    assert(ok and r.ok, "eval failed: " .. out .. "\n" .. srv.error_log())
    return r.result
  end

  local function warnings()
    local _, n = srv.error_log():gsub(WARNING:gsub("%p", "%%%0"), "")
    return n
  end

  it("the warning is what a plain ngx.sleep of under 1 ms logs (so the checks below can see it)", function()
    eval("ngx.sleep(0.0004) return true")
    assert.is_true(warnings() >= 1, srv.error_log())
  end)

  it("transport.sleep clamps a wait under 1 ms to 1 ms and skips 0 and negative waits", function()
    local before = warnings()
    local r = eval([[
      local sleep = require("coreplus.transport.ngx").sleep
      ngx.update_time(); local t0 = ngx.now()
      sleep(0.0004); sleep(0.00001); sleep(0); sleep(-1); sleep(nil)
      ngx.update_time()
      return ngx.now() - t0
    ]])
    assert.are.equal(before, warnings(), srv.error_log())
    assert.is_true(r >= 0.001, "slept " .. r)
  end)

  it("40 light threads through the shared-dict limiter log no ngx.sleep(0) warning", function()
    local before = warnings()
    local r = eval([[
      local lim = require("coreplus.transport.ngx").limiter{ rate = 10, per = 0.05, key = "sleep-spec" }
      local threads = {}
      for i = 1, 40 do threads[i] = ngx.thread.spawn(function() return lim:acquire() end) end
      for i = 1, 40 do assert(ngx.thread.wait(threads[i])) end
      return lim:stats().granted
    ]])
    assert.are.equal(40, r)
    assert.are.equal(before, warnings(), srv.error_log())
  end)
end)
