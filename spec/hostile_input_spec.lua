-- Hostile input: whatever a caller passes, the library either sends exactly
-- what was meant (ids and query values escaped) or raises an error that names
-- the argument -- never a header split, a path traversal, a crash or a
-- message from deep inside (issue 9).
local coreplus = require "coreplus"
local core = require "coreplus.core"
local stub_mod = require "coreplus.testing.stub"

local SECRET = "hostile-spec-secret-0123456789"

local function stub()
  local s = stub_mod.new{ consumer_secret = SECRET }
  s:on("GET", "Client/*", { body = { client = { id = 1 } } })
  s:on("GET", "Client/", { body = { clients = {}, paging = { totalRows = 0 } } })
  s:on("POST", "Appointment/", { body = { appointment = { appointmentId = "a7" } } })
  return s
end

local function options(over)
  local o = { base_url = "https://coreplus.example", consumer_id = "cid-1",
    consumer_secret = SECRET, access_token = "tok-1", transport = stub() }
  for k, v in pairs(over or {}) do o[k] = v end
  return o
end

local function client(over)
  local o = options(over)
  return coreplus.new(o), o.transport
end

-- Runs f, which must raise; returns the message.
local function raised(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error, got success")
  return tostring(err)
end

-- Control characters shown as \13 etc., so that test names stay one line.
local function show(v)
  return (tostring(v):gsub("%c", function(c) return "\\" .. c:byte() end))
end

local BOOKING = { startDateTime = "2026-01-01T10:00+10:00", endDateTime = "2026-01-01T10:30+10:00",
  practitioner = { id = "p" }, locationId = "l", clients = { { id = "c" } } }

local function booking(extra)
  local b = {}
  for k, v in pairs(BOOKING) do b[k] = v end
  for k, v in pairs(extra or {}) do b[k] = v end
  return b
end

local function names(msg, arg)
  assert.truthy(msg:find("'" .. arg .. "'", 1, true), ("%q does not name '%s'"):format(msg, arg))
end

-- A local port nobody listens on: requests that get past validation fail
-- with a network error at once (127.0.0.1 only, no outside traffic).
local CLOSED = "http://127.0.0.1:9"

describe("CR/LF in options", function()
  for _, name in ipairs{ "base_url", "consumer_id", "consumer_secret", "access_token", "issuer",
    "audience", "user_agent", "cafile", "capath", "version" } do
    for _, bad in ipairs{ "a\r\nX-Injected: 1", "a\nb", "a\0b" } do
      it(("coreplus.new refuses %s in '%s', naming it"):format(show(bad), name), function()
        local value = name == "base_url" and "https://h.example/" .. bad or bad
        local msg = raised(function() coreplus.new(options{ [name] = value }) end)
        names(msg, name)
      end)
    end
  end
end)

describe("CR/LF in core.request fields", function()
  local creds = { consumer_id = "c", consumer_secret = "s", access_token = "t" }
  local function req(over)
    local o = { method = "GET", url = CLOSED .. "/x", connect_timeout = 1, timeout = 2 }
    for k, v in pairs(over) do o[k] = v end
    return function() return core.request(o) end
  end
  local cases = {
    { "header value", { headers = { ["X-A"] = "a\r\nX-Injected: 1" } }, "headers" },
    { "header name", { headers = { ["X-A\r\nX-Injected"] = "1" } }, "headers" },
    { "user_agent", { user_agent = "ua\r\nX-Injected: 1" }, "user_agent" },
    { "url", { url = CLOSED .. "/a\r\nX-Injected: 1" }, "url" },
    { "method", { method = "GET /x HTTP/1.1\r\n" }, "method" },
    { "issuer", { issuer = "i\nX", credentials = creds }, "issuer" },
    { "audience", { audience = "a\rX", credentials = creds }, "audience" },
    { "consumer_id", { credentials = { consumer_id = "c\n", consumer_secret = "s", access_token = "t" } },
      "consumer_id" },
    { "access_token", { credentials = { consumer_id = "c", consumer_secret = "s", access_token = "t\r\n" } },
      "access_token" },
    { "cafile", { cafile = "/tmp/ca\n.pem" }, "cafile" },
  }
  for _, c in ipairs(cases) do
    it("refuses CR/LF in " .. c[1] .. " before sending, naming the field", function()
      names(raised(req(c[2])), c[3])
    end)
  end

  it("refuses an Authorization header next to credentials (no second token smuggled in)", function()
    names(raised(req{ headers = { Authorization = "JwToken x" }, credentials = creds }), "headers")
  end)
end)

describe("ids in paths", function()
  local cp, s = client()
  local function sent_path(id)
    local res, err = cp.clients:get(id)
    assert.is_truthy(res, tostring(err))
    return s.requests[#s.requests].url:match("/Client/(.*)$")
  end

  for _, c in ipairs{
    { "a/b", "a%2Fb" }, { "a?b", "a%3Fb" }, { "a#b", "a%23b" }, { "a b", "a%20b" },
    { "../Invoice", "..%2FInvoice" }, { "%2e%2e", "%252e%252e" }, { "a\r\nb", "a%0D%0Ab" },
    { "caf\195\169", "caf%C3%A9" }, { 12, "12" },
  } do
    it(("escapes %s so that it stays one path segment"):format(show(c[1])), function()
      assert.equals(c[2], sent_path(c[1]))
    end)
  end

  for _, id in ipairs{ "..", ".", "" } do
    it(("refuses the id %q, naming 'id'"):format(id), function()
      names(raised(function() cp.clients:get(id) end), "id")
    end)
  end

  it("refuses ids that are tables, booleans, functions or nil, naming 'id'", function()
    for _, id in ipairs{ {}, true, print, false } do
      names(raised(function() cp.clients:get(id) end), "id")
    end
    names(raised(function() cp.clients:get() end), "id")
  end)

  it("refuses a NaN or infinite numeric id, naming 'id'", function()
    names(raised(function() cp.clients:get(0 / 0) end), "id")
    names(raised(function() cp.appointments:update(math.huge, {}) end), "id")
  end)

  it("refuses a huge id, naming 'id', and sends nothing", function()
    local before = #s.requests
    names(raised(function() cp.clients:get(("9"):rep(1e6)) end), "id")
    assert.equals(before, #s.requests)
  end)

  it("cp:request refuses paths with '..', '?', '#', spaces or CR/LF", function()
    for _, p in ipairs{ "Client/../Invoice", "Client/?x=1", "Client/#x", "Client/a b", "Client/\r\nX: 1" } do
      assert.truthy(raised(function() cp:request("GET", p) end):find("bad argument #2 to 'request'", 1, true))
    end
  end)
end)

describe("query parameters", function()
  local cp, s = client()
  it("escapes CR/LF, '&', '=' and '#' in values (they cannot end the query or split a header)", function()
    assert.is_truthy(cp.clients:list{ name = "a\r\nb&c=d#e" })
    assert.truthy(s.requests[#s.requests].url:find("name=a%0D%0Ab%26c%3Dd%23e", 1, true))
  end)

  it("refuses non-scalar values, naming the parameter", function()
    names(raised(function() cp.clients:list{ name = print } end), "name")
    names(raised(function() cp.clients:list{ name = { {} } } end), "name")
    names(raised(function() cp.clients:list{ name = 0 / 0 } end), "name")
  end)

  it("refuses non-string parameter names and a non-table parameter argument", function()
    assert.truthy(raised(function() cp.clients:list{ [1] = "x" } end):find("parameter name", 1, true))
    assert.truthy(raised(function() cp.clients:list("pageSize=1") end):find("table of parameters expected", 1, true))
  end)

  it("refuses a URL too long to send (2 MB query) with an error naming 'url', before connecting", function()
    local real = coreplus.new{ base_url = CLOSED, allow_http = true, consumer_id = "c",
      consumer_secret = SECRET, access_token = "t", retries = 0, connect_timeout = 1, user_agent = "spec/1.0",
      issuer = "https://spec.example" }
    names(raised(function() real.clients:list{ name = ("x"):rep(2e6) } end), "url")
  end)
end)

describe("non-string and huge arguments", function()
  it("coreplus.new refuses a non-table, unknown options and wrong types by name", function()
    assert.truthy(raised(function() coreplus.new("https://x") end):find("options table expected", 1, true))
    names(raised(function() coreplus.new(options{ colour = "blue" }) end), "colour")
    names(raised(function() coreplus.new(options{ rate = "10" }) end), "rate")
    names(raised(function() coreplus.new(options{ consumer_secret = 12345 }) end), "consumer_secret")
    names(raised(function() coreplus.new(options{ access_token = {} }) end), "access_token")
    names(raised(function() coreplus.new(options{ timeout = 0 / 0 }) end), "timeout")
  end)

  for _, name in ipairs{ "consumer_id", "consumer_secret", "access_token", "issuer", "user_agent" } do
    it(("coreplus.new refuses a 2 MB '%s', naming it"):format(name), function()
      names(raised(function() coreplus.new(options{ [name] = ("x"):rep(2e6) }) end), name)
    end)
  end

  it("cp:request refuses a non-string method and a non-table options argument", function()
    local cp = client()
    assert.truthy(raised(function() cp:request(1, "Client/") end):find("bad argument #1 to 'request'", 1, true))
    assert.truthy(raised(function() cp:request("GET", {}) end):find("bad argument #2 to 'request'", 1, true))
    assert.truthy(raised(function() cp:request("GET", "Client/", "x") end)
      :find("bad argument #3 to 'request'", 1, true))
  end)

  it("core.request refuses a non-table and wrong field types by name", function()
    assert.truthy(raised(function() core.request("x") end):find("bad argument #1", 1, true))
    names(raised(function() core.request{ method = "GET", url = 5 } end), "url")
    names(raised(function() core.request{ method = "GET", url = CLOSED, body = {} } end), "body")
    names(raised(function() core.request{ method = "GET", url = CLOSED, timeout = "5" } end), "timeout")
    names(raised(function() core.request{ method = "GET", url = CLOSED, credentials = "s" } end), "credentials")
  end)

  it("core.jwt_decode and base64url_decode refuse a 5 MB input without decoding it", function()
    local big = ("A"):rep(5 * 1024 * 1024)
    assert.is_nil((core.jwt_decode(big, SECRET)))
    assert.truthy(raised(function() core.base64url_decode(big) end):find("bad argument #1", 1, true))
  end)

  it("a 20 MB string body is sent as it is (no copy blow-up) and fails only on the network", function()
    local real = coreplus.new{ base_url = CLOSED, allow_http = true, consumer_id = "c",
      consumer_secret = SECRET, access_token = "t", retries = 0, connect_timeout = 1, user_agent = "spec/1.0",
      issuer = "https://spec.example" }
    local res, err = real:request("POST", "Appointment/", { body = ("x"):rep(2e7) })
    assert.is_nil(res)
    assert.equals("network", err.kind)
  end)
end)

describe("bodies", function()
  local cp, s = client()
  it("refuses a cyclic table, naming 'body', and sends nothing", function()
    local t = {}
    t.self = t
    local before = #s.requests
    names(raised(function() cp.appointments:book(booking{ notes = t }) end), "body")
    assert.equals(before, #s.requests)
  end)

  it("refuses a table nested 10,000 deep, naming 'body'", function()
    local deep = {}
    local t = deep
    for _ = 1, 10000 do t.a = {}; t = t.a end
    names(raised(function() cp:request("POST", "Appointment/", { body = deep }) end), "body")
  end)

  it("refuses functions, userdata and non-table bodies, naming 'body'", function()
    names(raised(function() cp:request("POST", "Appointment/", { body = { f = print } }) end), "body")
    names(raised(function() cp:request("POST", "Appointment/", { body = { io.stdout } }) end), "body")
    names(raised(function() cp:request("POST", "Appointment/", { body = print }) end), "body")
    names(raised(function() cp:request("POST", "Appointment/", { body = true }) end), "body")
  end)

  it("refuses non-table booking fields by operation name", function()
    assert.truthy(raised(function() cp.appointments:book("x") end):find("appointments:book", 1, true))
    assert.truthy(raised(function() cp.appointments:update("1", 5) end):find("appointments:update", 1, true))
    assert.truthy(raised(function() cp.appointments:cancel("1", "x") end):find("appointments:cancel", 1, true))
  end)

  it("sends a body with CR/LF and quotes inside values as escaped JSON", function()
    assert.is_truthy(cp.appointments:book(booking{ notes = "a\r\nX-Injected: 1\"}" }))
    local raw = s.requests[#s.requests].raw_body
    assert.is_nil(raw:find("\r", 1, true))
    assert.is_nil(raw:find("\n", 1, true))
    assert.equals("a\r\nX-Injected: 1\"}", s.requests[#s.requests].body.notes)
  end)
end)
