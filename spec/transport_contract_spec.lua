-- The transport contract (lua/coreplus/transport/init.lua), one set of cases
-- run against each transport: the C core (curl, in this process), the ngx
-- transport (inside nginx: spec/support/ngx_harness.lua) and the test stub.
-- Each case is Lua code run where the transport lives, with
--   T        the transport
--   U        the base URL of a server with the harness's /raw/ responses
--   D        the same server on a port where no connection is ever pooled
--   OTHER    the same server over TLS with a certificate no trusted CA signed
--   C        credentials (the stub checks them; the others send them)
--   RESET()  forgets the requests seen;  SEEN(path) -> how many reached path
--   LIMITED  whether the transport has a limiter
-- The stub answers the same paths from routes registered below, as the
-- server would. A case a transport cannot run (no limiter, no network) is
-- left out for it, and the count of cases per transport is checked.
local testing = require "coreplus.testing"
local cjson = require "cjson"

local harness = dofile("spec/support/ngx_harness.lua")

local CREDENTIALS = { consumer_id = "c", consumer_secret = "s3cret", access_token = "a" }

-- What every case may use, defined where the transport lives.
local PRELUDE = [[
local C = { consumer_id = "c", consumer_secret = "s3cret", access_token = "a" }
local function fields(x)   -- a result's or error's fields, for the spec to read
  local out = {}
  for k, v in pairs(x) do
    if type(v) ~= "table" or k == "headers" then out[k] = v end
  end
  return out
end
]]

local CASES = {
  {
    name = "answers any status with a result carrying the contract's fields",
    code = [[
      local ok = assert(T.request{ url = U .. "/raw/sized?n=5", credentials = C })
      local refused = assert(T.request{ url = U .. "/raw/status?s=503", credentials = C })
      return { ok = fields(ok), refused = fields(refused) }]],
    check = function(r)
      local fields = require("coreplus.transport").RESULT
      for _, res in ipairs{ r.ok, r.refused } do
        for k, always in pairs(fields) do
          if always then assert.is_not_nil(res[k], "field " .. k) end
        end
        for k in pairs(res) do assert.is_not_nil(fields[k], "a field outside the contract: " .. k) end
        assert.is_true(res.sent)
        assert.are.equal("string", type(res.body))
        assert.is_true(res.elapsed >= 0 and res.waited >= 0)
        for name in pairs(res.headers) do assert.are.equal(name:lower(), name) end
      end
      assert.are.equal(200, r.ok.status)
      assert.are.equal("xxxxx", r.ok.body)
      assert.are.equal(503, r.refused.status)
    end,
  },
  {
    name = "says a connection never made is an error, unsent, naming the request",
    code = [[
      local res, err = T.request{ url = CLOSED .. "/raw/sized", credentials = C }
      return { res = res ~= nil, err = fields(err) }]],
    check = function(r)
      assert.is_false(r.res)
      assert.are.equal("network", r.err.kind)
      assert.is_false(r.err.sent)
      assert.are.equal("GET", r.err.method)
      assert.truthy(r.err.url:find("/raw/sized", 1, true))
      assert.are.equal("string", type(r.err.message))
    end,
  },
  {
    name = "sends nothing once the deadline has passed: timeout, unsent",
    code = [[
      RESET()
      local res, err = T.request{ url = U .. "/raw/sized?n=1", credentials = C, deadline = T.now() - 1 }
      return { res = res ~= nil, err = fields(err), seen = SEEN("/raw/sized") }]],
    check = function(r)
      assert.is_false(r.res)
      assert.are.equal("timeout", r.err.kind)
      assert.is_false(r.err.sent)
      assert.are.equal(0, r.seen)
    end,
  },
  {
    name = "fails at once, unsent, when the limiter's wait would pass the deadline",
    limiter = true,
    code = [[
      RESET()
      local lim = T.limiter{ rate = 1, per = 5, key = "contract-a " .. T.now() }
      local first = T.request{ url = U .. "/raw/sized?n=1", credentials = C, limiter = lim }
      local t0 = T.now()
      local res, err = T.request{ url = U .. "/raw/sized?n=1", credentials = C, limiter = lim,
        deadline = t0 + 0.5 }
      return { first = first and first.status, res = res ~= nil, err = fields(err),
        seen = SEEN("/raw/sized"), waited = T.now() - t0 }]],
    check = function(r)
      assert.are.equal(200, r.first)
      assert.is_false(r.res)
      assert.are.equal("timeout", r.err.kind)
      assert.is_false(r.err.sent)
      assert.truthy(r.err.message:find("rate limit wait", 1, true), r.err.message)
      assert.are.equal(1, r.seen)
      assert.is_true(r.waited < 0.5, "it waited for nothing: " .. r.waited)
    end,
  },
  {
    name = "counts the limiter's wait against the deadline",
    limiter = true,
    code = [[
      local lim = T.limiter{ rate = 1, per = 1, key = "contract-b " .. T.now() }
      assert(T.request{ url = U .. "/raw/sized?n=1", credentials = C, limiter = lim })
      -- about 1 s of wait, then a 1.5 s answer: past a 2 s deadline
      local res, err = T.request{ url = U .. "/raw/slow?s=1.5", credentials = C, limiter = lim,
        timeout = 2, deadline = T.now() + 2 }
      return { res = res ~= nil, err = fields(err) }]],
    check = function(r)
      assert.is_false(r.res)
      assert.are.equal("timeout", r.err.kind)
    end,
  },
  {
    name = "ends an answer slower than the deadline: timeout, sent, for GET and POST alike",
    network = true,
    code = [[
      local out = {}
      for _, method in ipairs{ "GET", "POST" } do
        local t0 = T.now()
        local res, err = T.request{ method = method, url = D .. "/raw/slow?s=3", credentials = C,
          body = method == "POST" and "{}" or nil, timeout = 1, deadline = t0 + 1 }
        out[method] = { res = res ~= nil, err = fields(err), took = T.now() - t0 }
      end
      return out]],
    check = function(r)
      for _, method in ipairs{ "GET", "POST" } do
        assert.is_false(r[method].res)
        assert.are.equal("timeout", r[method].err.kind)
        assert.is_true(r[method].err.sent)
        assert.is_true(r[method].took < 2.5, method .. " took " .. r[method].took)
      end
    end,
  },
  {
    name = "refuses a certificate no trusted CA signed: tls, unsent",
    network = true,
    code = [[
      local res, err = T.request{ url = OTHER .. "/raw/sized?n=1", credentials = C }
      return { res = res ~= nil, err = fields(err) }]],
    check = function(r)
      assert.is_false(r.res)
      assert.are.equal("tls", r.err.kind)
      assert.is_false(r.err.sent)
    end,
  },
  {
    name = "stops reading a body over max_body, sized or chunked: too_large, sent",
    network = true,
    code = [[
      local out = {}
      for _, path in ipairs{ "/raw/sized?n=5000", "/raw/bigchunks?k=4" } do
        local res, err = T.request{ url = U .. path, credentials = C, max_body = 100 }
        out[#out + 1] = { res = res ~= nil, err = fields(err) }
      end
      return out]],
    check = function(r)
      for _, x in ipairs(r) do
        assert.is_false(x.res)
        assert.are.equal("too_large", x.err.kind)
        assert.is_true(x.err.sent)
      end
    end,
  },
  {
    name = "sends a request once: a connection closed without an answer is an error, sent",
    code = [[
      RESET()
      local out = {}
      for _, method in ipairs{ "GET", "POST" } do
        local res, err = T.request{ method = method, url = D .. "/raw/drop", credentials = C,
          body = method == "POST" and "{}" or nil }
        out[method] = { res = res ~= nil, err = fields(err) }
      end
      out.seen = SEEN("/raw/drop")
      return out]],
    check = function(r)
      for _, method in ipairs{ "GET", "POST" } do
        assert.is_false(r[method].res)
        assert.are.equal("network", r[method].err.kind)
        assert.is_true(r[method].err.sent)
      end
      assert.are.equal(2, r.seen)
    end,
  },
  {
    name = "sends a request that is not idempotent on a connection of its own",
    network = true,
    code = [[
      assert(T.request{ url = U .. "/raw/sized?n=1", credentials = C })
      assert(T.request{ url = U .. "/raw/sized?n=1", credentials = C })
      local get = assert(T.request{ url = U .. "/raw/sized?n=1", credentials = C })
      local post = assert(T.request{ method = "POST", url = U .. "/raw/sized?n=1", body = "{}", credentials = C })
      local put = assert(T.request{ method = "PUT", url = U .. "/raw/sized?n=1", body = "{}", credentials = C })
      return { get = get.new_connection, post = post.new_connection, put = put.new_connection }]],
    check = function(r)
      assert.is_false(r.get)
      assert.is_true(r.post)
      assert.is_true(r.put)
    end,
  },
  {
    name = "raises on misuse before anything is sent",
    code = [[
      RESET()
      local bad_url = pcall(T.request, { url = "ftp://127.0.0.1/raw/sized", credentials = C })
      local bad_body = pcall(T.request, { method = "POST", url = U .. "/raw/sized", body = {}, credentials = C })
      local not_table = pcall(T.request, "GET /raw/sized")
      return { bad_url = bad_url, bad_body = bad_body, not_table = not_table, seen = SEEN("/raw/sized") }]],
    check = function(r)
      assert.is_false(r.bad_url)
      assert.is_false(r.bad_body)
      assert.is_false(r.not_table)
      assert.are.equal(0, r.seen)
    end,
  },
  {
    name = "streams requests through a pipeline, each result under its id",
    code = [[
      local p = T.pipeline{ concurrency = 2 }
      local a = p:add{ url = U .. "/raw/sized?n=1", credentials = C }
      local b = p:add{ url = U .. "/raw/sized?n=2", credentials = C }
      local full = pcall(p.add, p, { url = U .. "/raw/sized?n=3", credentials = C })
      local got = {}
      for _ = 1, 2 do
        local id, res = p:next()
        got[id] = res and #res.body
      end
      local empty = p:next()
      p:close()
      return { a = a, b = b, full = full, got = got, empty = empty == nil }]],
    check = function(r)
      assert.are_not.equal(r.a, r.b)
      assert.is_false(r.full)
      assert.are.equal(1, r.got[tostring(r.a)] or r.got[r.a])
      assert.are.equal(2, r.got[tostring(r.b)] or r.got[r.b])
      assert.is_true(r.empty)
    end,
  },
}

-- The stub's answers for the harness's paths (the server's, as routes).
local function stub_transport()
  local stub = testing.stub{ consumer_secret = CREDENTIALS.consumer_secret }
  stub:on("GET", "raw/sized", function(req)
    if req.url:find("127.0.0.1:2/", 1, true) then   -- the closed port
      return { error = { kind = "network", sent = false, message = "connection refused" } }
    end
    return { body = ("x"):rep(tonumber(req.query.n) or 10) }
  end)
  stub:on("POST", "raw/sized", { body = "x" })
  stub:on("GET", "raw/status", function(req) return { status = tonumber(req.query.s), body = {} } end)
  for _, m in ipairs{ "GET", "POST" } do
    stub:on(m, "raw/drop", { error = { kind = "network", sent = true, message = "closed without an answer" } })
  end
  return stub
end

-- Runs a case's code where the transport lives; returns its value.
local drivers = {
  curl = function(h)
    local env = setmetatable({ T = require("coreplus.transport").resolve("curl"), U = h.plain, D = h.spare,
      CLOSED = h.closed, OTHER = h.other, LIMITED = true }, { __index = _G })
    local F = dofile("spec/support/files.lua")
    local base = {}
    env.SEEN = function(path)
      local n = tonumber(F.capture("curl -s " .. F.q(h.plain .. "/raw/seen?path=" .. path))) or 0
      return n - (base[path] or 0)
    end
    env.RESET = function()
      for _, path in ipairs{ "/raw/sized", "/raw/drop" } do base[path] = 0; base[path] = env.SEEN(path) end
    end
    return function(code)
      local chunk = assert(load(PRELUDE .. code, "=case", "t", env))
      return chunk()
    end
  end,
  ngx = function(h)
    return function(code)
      local json = h.run(harness.fmt([[
        local T, U, D, CLOSED, OTHER, LIMITED = t, $1, $2, $3, $4, true
        local d = ngx.shared.spec_counts
        local base = {}
        local function SEEN(path) return (d:get(path) or 0) - (base[path] or 0) end
        local function RESET()
          for _, path in ipairs{ "/raw/sized", "/raw/drop" } do base[path] = d:get(path) or 0 end
        end
      ]], h.plain, h.spare, h.closed, h.other) .. PRELUDE .. "return (function() " .. code .. " end)()")
      return json
    end
  end,
  stub = function()
    local stub = stub_transport()
    local env = setmetatable({ T = require("coreplus.transport").resolve(stub), U = "https://127.0.0.1:1",
      D = "https://127.0.0.1:1", CLOSED = "https://127.0.0.1:2", LIMITED = false }, { __index = _G })
    local mark = {}
    env.SEEN = function(path) return stub:calls(nil, path) - (mark[path] or 0) end
    env.RESET = function() for _, p in ipairs{ "/raw/sized", "/raw/drop" } do mark[p] = stub:calls(nil, p) end end
    return function(code)
      local chunk = assert(load(PRELUDE .. code, "=case", "t", env))
      return chunk()
    end
  end,
}

-- Which cases each transport runs: the stub has no limiter and no network.
local function applies(name, case)
  if name == "stub" then return not case.limiter and not case.network end
  return true
end

local EXPECTED = { curl = #CASES, ngx = #CASES, stub = #CASES - 6 }

describe("the transport contract", function()
  local h

  setup(function() h = harness.start() end)
  teardown(function() if h then h.stop() end end)

  for _, name in ipairs{ "curl", "ngx", "stub" } do
    describe(name, function()
      local run

      setup(function()
        run = drivers[name](h)
      end)

      for _, case in ipairs(CASES) do
        if applies(name, case) then
          it(case.name, function()
            -- the same shapes everywhere: through JSON, as from nginx
            case.check(cjson.decode(cjson.encode(run(case.code))))
          end)
        end
      end

      it("runs " .. EXPECTED[name] .. " cases of the contract", function()
        local n = 0
        for _, case in ipairs(CASES) do if applies(name, case) then n = n + 1 end end
        assert.are.equal(EXPECTED[name], n)
      end)
    end)
  end
end)
