-- core.request against the mock coreplus server: signing, connection reuse,
-- TLS, timeouts, size caps, header hygiene. Timing bounds are deliberately
-- loose (2-core CI machines are noisy); figures belong in bench/.
local core = require "coreplus.core"
local testing = require "coreplus.testing"

describe("core.request", function()
  local mock, cred, limiter

  -- Every request goes through one limiter: the mock enforces 10 per second.
  local function req(o)
    o.limiter = o.limiter or limiter
    o.cafile = o.cafile == nil and mock.cafile or o.cafile or nil
    if o.credentials == nil then o.credentials = cred end
    if o.credentials == false then o.credentials = nil end
    return core.request(o)
  end

  setup(function()
    mock = testing.server{ tls = true }
    cred = { consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
      access_token = mock.access_token }
    limiter = core.limiter{ rate = 10, per = 1, key = mock.base_url .. " request_spec" }
  end)

  teardown(function()
    if mock then mock:stop() end
    if limiter then limiter:close() end
  end)

  -- An it that sends through a limiter of its own (a slow one) leaves
  -- arrivals in the mock's window that `limiter` never saw: each it starts
  -- with the mock's window empty, in whatever order they run.
  before_each(function() mock:reset() end)

  describe("signing", function()
    it("sends a token the mock accepts, for the exact URL with its query", function()
      local before = mock:stats()
      local res, err = req{ url = mock:url("Client/?pageSize=2&pageNumber=1") }
      assert.is_nil(err)
      assert.equals(200, res.status)
      assert.equals(before.auth_failures, mock:stats().auth_failures)
    end)

    it("signs each method, with a body", function()
      local res = assert(req{ method = "post", url = mock:url("Client/"),
        body = '{"firstName":"Ada","lastName":"Lovelace"}' })
      assert.is_true(res.status < 500)
      assert.are_not.equal(401, res.status)
    end)

    it("sends unsigned when credentials are omitted (the mock refuses it)", function()
      local res = assert(req{ url = mock:url("Client/"), credentials = false })
      assert.equals(401, res.status)
    end)

    it("honours now_offset: a token from a clock an hour behind is refused", function()
      local res = assert(req{ url = mock:url("Client/"), now_offset = -3600 })
      assert.equals(401, res.status)
    end)

    it("sends the token core.sign makes for the same claims (one token builder)", function()
      local url = mock.base_url .. "/__mock/echo-headers?x=1"
      local res = assert(req{ method = "put", url = url, issuer = "i", body = "{}" })
      local seen = require("cjson").decode(res.body).headers
      local auth
      for k, v in pairs(seen) do
        if k:lower() == "authorization" then auth = type(v) == "table" and v[1] or v end
      end
      local token = assert(auth):match("^JwToken (.+)$")
      local claims = require("cjson").decode(core.base64url_decode(token:match("^[^.]+%.([^.]+)")))
      assert.equal(token, core.sign{ consumer_id = cred.consumer_id, consumer_secret = cred.consumer_secret,
        access_token = cred.access_token, url = url, method = "PUT", issuer = "i", now = claims.nbf })
    end)

    it("sends the JSON headers and a User-Agent naming the library", function()
      local res = assert(req{ url = mock.base_url .. "/__mock/echo-headers" })
      local seen = require("cjson").decode(res.body).headers
      local h = {}
      for k, v in pairs(seen) do h[k:lower()] = type(v) == "table" and v[1] or v end
      assert.equals("application/json", h["content-type"])
      assert.equals("application/json", h["accept"])
      assert.matches("^lua%-coreplus/" .. core.version:gsub("%.", "%%.") .. " %(libcurl/", h["user-agent"])
      assert.matches("^JwToken [%w_-]+%.[%w_-]+%.[%w_-]+$", h["authorization"])
    end)
  end)

  describe("connections", function()
    it("reuses one connection for 20 sequential requests", function()
      local before = mock:stats().connections
      local ports, news = {}, 0
      for _ = 1, 20 do
        local res = assert(req{ url = mock:url("Location/") })
        assert.equals(200, res.status)
        ports[res.local_port] = true
        if res.new_connection then news = news + 1 end
      end
      local n = 0
      for _ in pairs(ports) do n = n + 1 end
      assert.equals(1, n)
      assert.is_true(news <= 1)
      assert.is_true(mock:stats().connections - before <= 1)
    end)

    it("refuses a closed port as a network error that was not sent", function()
      local res, err = req{ url = "https://127.0.0.1:1/API/Core/v2.1/Client/", connect_timeout = 2 }
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.is_false(err.sent)
      assert.is_number(err.curl_code)
      assert.equals(err.message, tostring(err))
    end)
  end)

  describe("TLS", function()
    it("fails with kind tls without the mock's CA", function()
      local res, err = req{ url = mock:url("Client/"), cafile = false }
      assert.is_nil(res)
      assert.equals("tls", err.kind)
      assert.is_false(err.sent)
    end)

    it("fails with kind tls when the host name is not the certificate's", function()
      local host = "not-the-mock.test"
      local res, err = req{ url = "https://" .. host .. ":" .. mock.port .. "/API/Core/v2.1/Client/",
        resolve = { host .. ":" .. mock.port .. ":127.0.0.1" } }
      assert.is_nil(res)
      assert.equals("tls", err.kind)
      assert.is_false(err.sent)
    end)

    it("skips verification only when insecure = true is given", function()
      local res = assert(req{ url = mock:url("Location/"), cafile = false, insecure = true })
      assert.equals(200, res.status)
      assert.has_error(function() req{ url = mock:url("Location/"), insecure = "yes" } end)
    end)
  end)

  describe("limits", function()
    it("times out with kind timeout, within the timeout and some slack", function()
      local t0 = core.monotonic()
      local res, err = req{ url = mock:url("Location/"), timeout = 0.5,
        headers = { ["X-Mock-Latency"] = "3" } }
      local took = core.monotonic() - t0
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.is_true(err.sent)
      assert.is_true(took >= 0.45 and took < 2.0, "took " .. took)
    end)

    it("times out a connect that never completes, as not sent", function()
      local f = assert(io.popen("/usr/bin/python3 spec/support/blackhole.py 3"))
      local port = assert(tonumber(f:read("l")), "blackhole port")
      finally(function() f:close() end)
      local t0 = core.now()
      local res, err = req{ url = ("https://127.0.0.1:%d/API/Core/v2.1/Client/"):format(port),
        connect_timeout = 1, timeout = 5 }
      local took = core.now() - t0
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.is_false(err.sent)
      assert.is_true(took >= 0.9 and took < 3, "took " .. took)
    end)

    it("aborts a body over max_body with kind too_large", function()
      local res, err = req{ url = mock:url("Client/?pageSize=50"), max_body = 1000 }
      assert.is_nil(res)
      assert.equals("too_large", err.kind)
    end)

    it("aborts a streamed 20 MiB body at the default cap", function()
      local res, err = req{ url = mock:url("Client/"), headers = { ["X-Mock-Fault"] = "big_body" } }
      assert.is_nil(res)
      assert.equals("too_large", err.kind)
    end)
  end)

  describe("deadline (the whole exchange, limiter wait included)", function()
    it("fails at once, unsent, when the limiter's wait would pass it, saying what ran out", function()
      local slow = core.limiter{ rate = 1, per = 10, margin = 0 }
      assert(req{ url = mock:url("Location/"), limiter = slow })
      local before = mock:stats().requests
      local t0 = core.monotonic()
      local res, err = req{ url = mock:url("Location/"), limiter = slow, deadline = core.now() + 1 }
      local took = core.monotonic() - t0
      slow:close()
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.is_false(err.sent)
      assert.matches("the rate limit wait %([%d.]+ s%) would pass the deadline", err.message)
      assert.is_true(took < 5, "took " .. took)   -- not the 9 s the wait would take
      assert.equals(before, mock:stats().requests)
    end)

    it("clamps the transfer's timeout to what is left", function()
      local t0 = core.monotonic()
      local res, err = req{ url = mock:url("Location/"), deadline = core.now() + 0.5,
        headers = { ["X-Mock-Latency"] = "3" } }
      local took = core.monotonic() - t0
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.matches("the transfer passed the deadline", err.message, 1, true)
      assert.is_true(took >= 0.4 and took < 1.5, "took " .. took)
    end)

    it("fails at once when it has passed already", function()
      local res, err = req{ url = mock:url("Location/"), deadline = core.now() - 1 }
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.is_false(err.sent)
      assert.matches("the deadline had passed", err.message, 1, true)
    end)

    it("is refused unless it is core.now() seconds", function()
      for _, bad in ipairs{ "soon", -5, 0 / 0, math.huge } do
        assert.error_matches(function() req{ url = mock:url("Location/"), deadline = bad } end,
          "'deadline'")
      end
    end)
  end)

  describe("headers", function()
    it("returns response header names in lower case", function()
      local res = assert(req{ url = mock:url("Location/") })
      assert.is_string(res.headers["content-type"])
      for k in pairs(res.headers) do assert.equals(k:lower(), k) end
      assert.is_number(res.elapsed)
      assert.is_string(res.body)
    end)

    it("reads the headers of a status line without a reason phrase", function()
      -- "HTTP/1.1 204" then CRLF: libcurl takes the status, so must we the headers.
      local py = [[
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); d = b""
while b"\r\n\r\n" not in d: d += c.recv(4096)
c.sendall(b"HTTP/1.1 204\r\nX-Seen: yes\r\nContent-Length: 0\r\n\r\n"); c.close()
]]
      local f = assert(io.popen("/usr/bin/python3 -c '" .. py .. "'"))
      local port = assert(tonumber(f:read("l")), "server port")
      local res, err = core.request{ url = ("http://127.0.0.1:%d/"):format(port), timeout = 5 }
      f:close()
      assert.is_nil(err)
      assert.equals(204, res.status)
      assert.equals("yes", res.headers["x-seen"])
    end)

    it("sends a header given an empty value, with the value empty", function()
      local res = assert(req{ url = mock.base_url .. "/__mock/echo-headers",
        headers = { ["X-Empty"] = "", ["X-Full"] = "1" } })
      local seen = require("cjson").decode(res.body).headers
      local h = {}
      for k, v in pairs(seen) do h[k:lower()] = type(v) == "table" and v[1] or v end
      assert.equals("1", h["x-full"])
      assert.equals("", h["x-empty"])
    end)

    it("refuses CR or LF in header values, url, method and user_agent before sending", function()
      local before = mock:stats().requests
      local bad = {
        { headers = { ["X-A"] = "a\r\nX-Injected: 1" }, field = "headers" },
        { headers = { ["X-A"] = "a\nb" }, field = "headers" },
        { headers = { ["Bad Name"] = "a" }, field = "headers" },
        { url = mock:url("Client/") .. "\r\nX: 1", field = "url" },
        { method = "GET\r\n", field = "method" },
        { user_agent = "ua\r\nX: 1", field = "user_agent" },
      }
      for _, b in ipairs(bad) do
        local o = { url = b.url or mock:url("Client/"), headers = b.headers, method = b.method,
          user_agent = b.user_agent }
        local ok, msg = pcall(req, o)
        assert.is_false(ok)
        assert.matches("'" .. b.field .. "'", msg)
      end
      assert.equals(before, mock:stats().requests)
    end)

    it("never puts the secret or the token in an error", function()
      local _, err = req{ url = mock:url("Location/"), timeout = 0.3,
        headers = { ["X-Mock-Latency"] = "2" } }
      for _, v in pairs(err) do
        if type(v) == "string" then
          assert.is_nil(v:find(mock.consumer_secret, 1, true))
          assert.is_nil(v:find("JwToken", 1, true))
        end
      end
    end)

    it("returns a redirect as its 3xx response and does not follow it", function()
      local before = mock:stats().echo_requests
      local res = assert(req{ url = mock:url("Client/"), headers = { ["X-Mock-Fault"] = "redirect" } })
      assert.equals(302, res.status)
      assert.is_string(res.headers.location)
      assert.equals(before, mock:stats().echo_requests)
    end)
  end)
end)
