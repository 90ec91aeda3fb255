-- coreplus.transport.ngx inside nginx: HTTP/1.1 framing (Content-Length,
-- chunked, close-delimited), max_body, timeouts, TLS verification, keep-alive,
-- request_many and the shared-dict limiter. Each case is Lua code POSTed to an
-- /eval location of a private nginx (2 workers), which also serves the raw
-- responses the cases read, over plain HTTP and over TLS.
local testing = require "coreplus.testing"
local cjson = require "cjson"

local nginx = dofile("spec/support/nginx.lua")

local q, capture, read_file, write_file = nginx.q, nginx.capture, nginx.read_file, nginx.write_file

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
        listen 127.0.0.1:@P3@ ssl;
        ssl_certificate @PREFIX@/other/server.crt;
        ssl_certificate_key @PREFIX@/other/server.key;
@RAW@
    }
}
]]

local function start_harness()
  local h = nginx.start{ name = "ngx-spec", ports = 3,
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
  h.closed = "http://127.0.0.1:" .. (p[3] + 1)   -- nothing listens there (probably)
  return h
end

describe("coreplus.transport.ngx", function()
  local h

  -- run(code) -> the value the code returns inside nginx (decoded JSON).
  local function run(code)
    write_file(h.prefix .. "/case.lua", "local t = require 'coreplus.transport.ngx'\n" .. code)
    local out = capture(("curl -s --max-time 30 --data-binary @%s %s"):format(q(h.prefix .. "/case.lua"),
      q(h.plain .. "/eval")))
    local v = cjson.decode(out)
    assert(v and v.ok, "eval failed: " .. out .. "\n" .. (read_file(h.prefix .. "/logs/error.log") or ""))
    return v.result
  end

  local function fmt(code, ...)
    local args = { ... }
    return (code:gsub("%$(%d)", function(i) return ("%q"):format(args[tonumber(i)]) end))
  end

  setup(function()
    h = start_harness()
  end)

  teardown(function()
    if h then h.stop() end
  end)

  describe("HTTP/1.1 framing", function()
    it("reads a chunked body", function()
      local r = run(fmt("local res = assert(t.request{ url = $1 }) return res", h.plain .. "/raw/chunked"))
      assert.are.equal(200, r.status)
      assert.are.equal("hello chunked world", r.body)
      assert.are.equal("chunked", r.headers["transfer-encoding"])
    end)

    it("reads a Content-Length body", function()
      local r = run(fmt("return assert(t.request{ url = $1 })", h.plain .. "/raw/sized?n=70000"))
      assert.are.equal(70000, #r.body)
    end)

    it("reads a body delimited by the server closing the connection", function()
      local r = run(fmt("return assert(t.request{ url = $1 })", h.plain .. "/raw/close"))
      assert.are.equal("until close", r.body)
    end)

    it("reads a 204 without a body", function()
      local r = run(fmt("return assert(t.request{ url = $1 })", h.plain .. "/raw/empty"))
      assert.are.equal(204, r.status)
      assert.are.equal("", r.body)
    end)

    it("refuses bodies over max_body with kind too_large (sized and chunked)", function()
      local r = run(fmt([[
        local _, e1 = t.request{ url = $1, max_body = 1000 }
        local _, e2 = t.request{ url = $2, max_body = 2500 }
        local ok = t.request{ url = $1, max_body = 5000 }
        return { e1 = e1, e2 = e2, ok = ok and #ok.body }]], h.plain .. "/raw/sized?n=5000",
        h.plain .. "/raw/bigchunks?k=4"))
      assert.are.equal("too_large", r.e1.kind)
      assert.are.equal("too_large", r.e2.kind)
      assert.are.equal(5000, r.ok)
    end)

    it("joins repeated response headers and lower-cases names", function()
      local r = run(fmt("return assert(t.request{ url = $1 })", h.plain .. "/raw/echo"))
      assert.are.equal("a, b", r.headers["x-multi"])
    end)

    it("sends the JSON headers, a library User-Agent, Host with the port, and the body", function()
      local r = run(fmt([[
        local res = assert(t.request{ method = "POST", url = $1, body = '{"a":1}',
          headers = { ["X-Extra"] = "yes" } })
        return require("cjson").decode(res.body)]], h.plain .. "/raw/echo?x=1&y=2"))
      assert.are.equal("POST", r.method)
      assert.are.equal("/raw/echo?x=1&y=2", r.uri)
      assert.are.equal('{"a":1}', r.body)
      assert.are.equal("application/json", r.headers["content-type"])
      assert.are.equal("application/json", r.headers.accept)
      assert.are.equal("yes", r.headers["x-extra"])
      assert.are.equal(h.plain:match("//(.*)$"), r.headers.host)
      assert.truthy(r.headers["user-agent"]:find("^lua%-coreplus/"), r.headers["user-agent"])
    end)

    it("signs with core.sign: Authorization carries a token for the exact URL and method", function()
      local r = run(fmt([[
        local res = assert(t.request{ method = "GET", url = $1, now_offset = 0,
          credentials = { consumer_id = "c1", consumer_secret = "s3cret", access_token = "a1" } })
        local auth = require("cjson").decode(res.body).headers.authorization
        local claims = require("coreplus.jwt").decode(auth:match("^JwToken (.+)$"), "s3cret")
        return { url = claims.url, method = claims.httpMethod, nbf = claims.nbf, now = ngx.time() }]],
        h.plain .. "/raw/echo?pageSize=2"))
      assert.are.equal(h.plain .. "/raw/echo?pageSize=2", r.url)
      assert.are.equal("GET", r.method)
      assert.is_true(math.abs(r.nbf - r.now) <= 1)
    end)
  end)

  describe("failures", function()
    it("times out with kind timeout", function()
      local r = run(fmt("local res, err = t.request{ url = $1, timeout = 0.3 } return err",
        h.plain .. "/raw/slow?s=2"))
      assert.are.equal("timeout", r.kind)
    end)

    it("reports a refused connection as network, never sent", function()
      local r = run(fmt("local res, err = t.request{ url = $1 } return err", h.closed .. "/x"))
      assert.are.equal("network", r.kind)
      assert.is_false(r.sent)
    end)

    it("needs nginx's resolver for host names (none here): network, never sent", function()
      local r = run([[local res, err = t.request{ url = "http://coreplus.invalid/x" } return err]])
      assert.are.equal("network", r.kind)
      assert.is_false(r.sent)
      assert.truthy(r.message:find("resolver", 1, true), r.message)
    end)

    it("raises on a bad URL or a body that is not a string", function()
      local r = run([[
        local ok1, e1 = pcall(t.request, { url = "ftp://x/" })
        local ok2, e2 = pcall(t.request, { url = "http://127.0.0.1/", body = {} })
        local ok3 = pcall(t.request, { url = "http://127.0.0.1/\r\nX: y" })
        return { ok1, tostring(e1), ok2, tostring(e2), ok3 }]])
      assert.is_false(r[1]); assert.truthy(r[2]:find("url", 1, true))
      assert.is_false(r[3]); assert.truthy(r[4]:find("body", 1, true))
      assert.is_false(r[5])
    end)
  end)

  describe("TLS", function()
    it("verifies a server whose CA is in lua_ssl_trusted_certificate", function()
      local r = run(fmt("return assert(t.request{ url = $1 })", h.tls .. "/raw/chunked"))
      assert.are.equal("hello chunked world", r.body)
    end)

    it("refuses a server whose CA is not trusted, with kind tls, never sent", function()
      local r = run(fmt("local res, err = t.request{ url = $1 } return err", h.other .. "/raw/chunked"))
      assert.are.equal("tls", r.kind)
      assert.is_false(r.sent)
    end)

    it("talks to it anyway with insecure = true", function()
      local r = run(fmt("return assert(t.request{ url = $1, insecure = true })", h.other .. "/raw/chunked"))
      assert.are.equal(200, r.status)
    end)
  end)

  describe("keep-alive", function()
    for _, which in ipairs{ "plain", "tls" } do
      it("reuses the connection for the next request (" .. which .. ")", function()
        local r = run(fmt([[
          local a = assert(t.request{ url = $1 })
          local b = assert(t.request{ url = $1 })
          local ja, jb = require("cjson").decode(a.body), require("cjson").decode(b.body)
          return { a.new_connection, b.new_connection, ja.conn, jb.conn }]], h[which] .. "/raw/echo"))
        assert.is_false(r[2])
        assert.are.equal(r[3], r[4])
      end)
    end

    -- Decision #17: only idempotent methods may be sent again, and PUT is not
    -- one of them (the C core never repeats it either).
    it("re-sends a GET once on a fresh connection when the pooled one was dropped, never a PUT", function()
      local r = run(fmt([[
        local d = ngx.shared.spec_counts
        d:flush_all()
        assert(t.request{ url = $1 })                         -- pools a connection
        local get = t.request{ url = $1 }                     -- dropped, sent again
        local gets = d:get("GET")
        assert(t.request{ url = $1 })                         -- pools a fresh one
        local put, err = t.request{ method = "PUT", url = $1, body = "{}" }
        return { get = get and get.status, gets = gets, put = put and put.status,
          puts = d:get("PUT"), kind = err and err.kind, sent = err and err.sent }]],
        h.plain .. "/raw/drop_reused"))
      assert.are.equal(200, r.get)
      assert.is_true(r.gets >= 3)   -- earlier specs may have left pooled connections too
      assert.is_nil(r.put)
      assert.are.equal(1, r.puts)
      assert.are.equal("network", r.kind)
      assert.is_true(r.sent)
    end)

    it("does not pool a connection the server closes", function()
      local r = run(fmt([[
        local a = assert(t.request{ url = $1 })
        local b = assert(t.request{ url = $2 })
        return { a.body, b.new_connection }]], h.plain .. "/raw/close", h.plain .. "/raw/close"))
      assert.are.equal("until close", r[1])
      assert.is_true(r[2])
    end)
  end)

  describe("a Redis shared limit", function()
    it("reads the password up to the last @ and never shows any of it", function()
      local r = run([[
        local lim = t.limiter{ rate = 10, per = 1, key = "k", shared = "redis://:p@ss/w@127.0.0.1:1/0",
          on_redis_error = "fail", redis_timeout = 0.2 }
        local d, err = lim:reserve()
        return { d = d, msg = err and err.message }]])
      assert.is_nil(r.d)
      assert.truthy(r.msg:find("redis://:***@127.0.0.1:1/0", 1, true), r.msg)
      assert.is_nil(r.msg:find("ss", 1, true), r.msg)
    end)
  end)

  describe("request_many", function()
    it("runs requests concurrently and returns results in input order", function()
      local r = run(fmt([[
        local list = {}
        for i = 1, 6 do list[i] = { url = $1 .. "&i=" .. i } end
        list[4] = { url = $2 }
        local t0 = t.now()
        local res = t.request_many(list, { concurrency = 6 })
        local out = { elapsed = t.now() - t0, uris = {} }
        for i, x in ipairs(res) do
          out.uris[i] = x.error and ("error:" .. x.error.kind) or x.body
        end
        return out]], h.plain .. "/raw/slow?s=0.3", h.closed .. "/nothing"))
      assert.is_true(r.elapsed < 0.9, "elapsed " .. r.elapsed)
      assert.are.equal("error:network", r.uris[4])
      for _, i in ipairs{ 1, 2, 3, 5, 6 } do assert.are.equal("late\n", r.uris[i]) end
    end)
  end)

  describe("pipeline", function()
    it("streams results as they finish, refuses more than its capacity, and closes", function()
      local r = run(fmt([[
        local p = t.pipeline{ concurrency = 2 }
        local slow = p:add{ url = $1 .. "?s=0.4" }
        local fast = p:add{ url = $1 .. "?s=0.1" }
        local full = not pcall(p.add, p, { url = $1 })
        local bad = not pcall(p.add, p, { url = "nope" })
        local first = p:next()
        local third = p:add{ url = $1 .. "?s=0.05" }
        local second = p:next()
        local last, res = p:next()
        local empty = p:next()
        p:add{ url = $1 .. "?s=5" }
        local t0 = t.now()
        p:close()
        return { order = { first, second, last }, ids = { slow, fast, third }, full = full, bad = bad,
          body = res.body, empty = empty == nil, closed_quickly = t.now() - t0 < 0.1 }]],
        h.plain .. "/raw/slow"))
      assert.are.same({ 2, 3, 1 }, r.order)
      assert.are.same({ 1, 2, 3 }, r.ids)
      assert.is_true(r.full)
      assert.is_true(r.bad)
      assert.are.equal("late\n", r.body)
      assert.is_true(r.empty)
      assert.is_true(r.closed_quickly)
    end)
  end)

  describe("the shared-dict limiter", function()
    it("lets rate requests go at once and holds the next one for per + margin", function()
      local r = run([[
        local lim = t.limiter{ rate = 3, per = 0.5, key = "spec-a-" .. ngx.now() }
        local d = {}
        for i = 1, 4 do
          local delay, n = lim:reserve()
          d[i] = delay
          lim:sent(n)
        end
        return d]])
      assert.are.equal(0, r[1]); assert.are.equal(0, r[3])
      assert.is_true(r[4] > 0.5 and r[4] < 0.6, "delay " .. r[4])
    end)

    it("keeps a later booking waiting while an earlier one is still connecting", function()
      local r = run([[
        local lim = t.limiter{ rate = 1, per = 0.2, key = "spec-b-" .. ngx.now() }
        local _, n1 = lim:reserve()           -- pending: not sent yet
        local _, n2 = lim:reserve()
        local waiting = lim:ready(n2)         -- > 0 while n1 is pending
        ngx.sleep(0.3)
        local still = lim:ready(n2)           -- n1 still pending: still waiting
        lim:sent(n1)
        local after = lim:ready(n2)           -- per + margin from n1's real departure
        return { waiting, still, after }]])
      assert.is_true(r[1] > 0)
      assert.is_true(r[2] > 0)
      assert.is_true(r[3] > 0.15 and r[3] <= 0.26, "after " .. r[3])   -- per 0.2 + margin 0.05
    end)

    it("stops waiting for a pending booking whose owner missed its hold deadline", function()
      local r = run([[
        local lim = t.limiter{ rate = 1, per = 5, key = "spec-e-" .. ngx.now() }
        local _, n1 = lim:reserve()
        lim:hold(n1, 0.2)                     -- then its light thread "dies"
        local _, n2 = lim:reserve()
        local before = lim:ready(n2)
        ngx.sleep(0.3)
        return { before, lim:ready(n2) }]])
      assert.is_true(r[1] > 0)
      assert.are.equal(0, r[2])
    end)

    it("forgets a cancelled booking", function()
      local r = run([[
        local lim = t.limiter{ rate = 1, per = 5, key = "spec-c-" .. ngx.now() }
        local _, n1 = lim:reserve()
        lim:cancel(n1)
        local d2 = lim:reserve()
        return { d2 }]])
      assert.are.equal(0, r[1])
    end)

    it("refuses to split the limit per worker when the shared dict is missing", function()
      local r = run([[
        local saved = t.dict_name
        t.dict_name = "no_such_dict"
        local ok, err = pcall(t.limiter, { rate = 10, per = 1 })
        t.dict_name = saved
        return { ok, tostring(err) }]])
      assert.is_false(r[1])
      assert.truthy(r[2]:find("lua_shared_dict no_such_dict", 1, true), r[2])
    end)

    it("uses the C core's shared file with shared = path", function()
      local r = run(fmt([[
        local lim = t.limiter{ rate = 2, per = 0.5, key = "spec-f", shared = $1 }
        local d = {}
        for i = 1, 3 do
          local delay, n = lim:reserve()
          d[i] = delay
          lim:sent(n)
        end
        local st = lim:stats()
        return { d = d, shared = st.shared }]], h.prefix .. "/limit.shm"))
      assert.are.equal(h.prefix .. "/limit.shm", r.shared)
      assert.are.equal(0, r.d[1])
      assert.is_true(r.d[3] > 0.45, "delay " .. r.d[3])
    end)

    it("is shared by both workers (acquire from concurrent requests)", function()
      local key = "spec-d-" .. os.time()
      local code = ([[
        local lim = t.limiter{ rate = 2, per = 0.5, key = %q }
        lim:acquire()
        return { pid = ngx.worker.pid(), at = t.now() }]]):format(key)
      write_file(h.prefix .. "/case.lua", "local t = require 'coreplus.transport.ngx'\n" .. code)
      local out = capture(("seq 8 | xargs -P 8 -I{} curl -s --max-time 10 --data-binary @%s %s; echo")
        :format(q(h.prefix .. "/case.lua"), q(h.plain .. "/eval")))
      local at, pids = {}, {}
      for line in out:gmatch('{[^\n]*}') do
        local v = cjson.decode(line)
        if v and v.ok then
          at[#at + 1] = v.result.at
          pids[v.result.pid] = true
        end
      end
      assert.are.equal(8, #at)
      table.sort(at)
      -- Any 3 consecutive departures span at least per (2 per 0.5 s).
      for i = 3, #at do assert.is_true(at[i] - at[i - 2] >= 0.5 - 0.002, "gap at " .. i) end
      local n = 0
      for _ in pairs(pids) do n = n + 1 end
      assert.is_true(n >= 1)
    end)
  end)
end)
