-- The booking page over plain HTTP (curl): the HTML contract (labelled
-- fields, phone viewport, no script), CSRF on every POST, no coreplus secret
-- or token in any page, only future times, the person's details checked,
-- and examples/openresty/run started and stopped as a user would. The
-- browser specs (spec/browser_spec.lua) walk the same pages in Chromium.
local testing = require "coreplus.testing"
local dates = require "coreplus.dates"

local nginx = dofile("spec/support/nginx.lua")
local openresty = dofile("spec/support/openresty.lua")

local q, capture, read_file, sleep = nginx.q, nginx.capture, nginx.read_file, nginx.sleep

local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- A visitor with a cookie jar. get/post return status, body, headers text.
local function visitor(base, dir)
  local jar = dir .. "/jar." .. tostring(math.random(1, 1e9))
  local v = {}
  local function run(args)
    local out = capture(("curl -s --max-time 30 -b %s -c %s -D - %s"):format(q(jar), q(jar), args))
    local head, body = out:match("^(.-\r\n\r\n)(.*)$")
    head = head or ""
    -- a 303 is followed by hand, so that each page can be looked at
    return tonumber(head:match("^HTTP/1.1 (%d+)")), body or "", head
  end
  function v.get(path) return run(q(base .. path)) end
  function v.post(path, form, extra)
    local parts = {}
    for k, val in pairs(form) do parts[#parts + 1] = escape(k) .. "=" .. escape(val) end
    return run(("%s --data-binary %s %s"):format(extra or "", q(table.concat(parts, "&")), q(base .. path)))
  end
  return v
end

local values = openresty.input_values

local function unescape(s)
  return (s:gsub("&amp;", "&"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&lt;", "<"):gsub("&gt;", ">"))
end

local function query(t)
  local parts = {}
  for i = 1, #t, 2 do parts[#parts + 1] = t[i] .. "=" .. escape(t[i + 1]) end
  return table.concat(parts, "&")
end

describe("the booking page (HTTP)", function()
  local mock, service, pages

  setup(function()
    math.randomseed(os.time())
    mock = testing.server{ tls = true }
    service = openresty.start{ mock = mock, workers = 2, name = "booking-page-spec" }
    pages = {}
  end)

  teardown(function()
    if service then service.stop() end
    if mock then mock:stop() end
  end)

  -- Walks the first choices to the details page; returns the visitor, the
  -- details page's html and its form fields.
  local function to_details()
    local v = visitor(service.url, service.prefix)
    local _, html = v.get("/")
    pages[#pages + 1] = html
    local loc = values(html, "location")[1]
    _, html = v.get("/practitioner?" .. query{ "location", loc })
    pages[#pages + 1] = html
    local prac, kind = values(html, "practitioner")[1], values(html, "type")[1]
    _, html = v.get("/date?" .. query{ "location", loc, "practitioner", prac, "type", kind })
    pages[#pages + 1] = html
    local day = values(html, "date")[1]
    local status
    status, html = v.get("/time?" .. query{ "location", loc, "practitioner", prac, "type", kind, "date", day })
    assert.are.equal(200, status, html)
    pages[#pages + 1] = html
    local starts = values(html, "start")
    local head
    status, html, head = v.get("/details?" .. query{ "location", loc, "practitioner", prac, "type", kind,
      "start", unescape(starts[1]) })
    assert.are.equal(200, status, html)
    pages[#pages + 1] = html
    local form = {}
    for _, k in ipairs{ "location", "practitioner", "type", "start", "csrf", "once" } do
      form[k] = unescape(assert(values(html, k)[1], "no field " .. k))
    end
    return v, html, form, head, starts
  end

  local function person(form, last)
    form.firstName, form.lastName = "Ada", last
    form.dobDay, form.dobMonth, form.dobYear = "10", "12", "1985"
    return form
  end

  it("pages are labelled forms without script, sized for phones, never cached, with a strict CSP", function()
    local _, html, _, head = to_details()
    assert.truthy(html:find('<meta name="viewport" content="width=device-width, initial-scale=1">', 1, true))
    assert.is_nil(html:lower():find("<script", 1, true))
    for id in html:gmatch('<input id="([%w]+)"') do
      assert.truthy(html:find('<label for="' .. id .. '"', 1, true), "no label for " .. id)
    end
    assert.truthy(head:find("Cache-Control: no-store", 1, true), head)
    assert.truthy(head:find("Content-Security-Policy: default-src 'none'", 1, true), head)
    assert.truthy(head:find("HttpOnly; SameSite=Lax", 1, true), head)
  end)

  it("offers only times that start in the future", function()
    local _, _, _, _, starts = to_details()
    assert.is_true(#starts > 0)
    for _, s in ipairs(starts) do
      assert.is_true(dates.parse(unescape(s)).epoch > os.time(), s)
    end
  end)

  it("refuses a POST without the session's CSRF token, without the cookie, or from another origin", function()
    local v, _, form = to_details()
    person(form, "Csrf")
    local good = form.csrf
    form.csrf = good:sub(2) .. "A"
    assert.are.equal(403, (v.post("/details", form)))
    form.csrf = good
    assert.are.equal(403, (v.post("/details", form, "-H 'Origin: http://evil.example'")))
    local stranger = visitor(service.url, service.prefix)
    assert.are.equal(403, (stranger.post("/details", form)))
    -- Nothing was booked or created for this person.
    local page = assert(mock:client().clients:list{ name = "Csrf" })
    assert.are.equal(0, #page.items)
    -- The same form with its token books.
    local status, _, head = v.post("/details", form, "-H " .. q("Origin: " .. service.url))
    assert.are.equal(303, status, head)
    assert.truthy(head:match("\r\nLocation: [^\r]*/booked%?a=[%w%-]+&s=[%w_%-]+\r\n"), head)
  end)

  it("checks the person's details and keeps what was typed", function()
    local v, _, form = to_details()
    form.firstName, form.lastName, form.dobDay, form.dobMonth, form.dobYear = "Ada", "", "31", "2", "1985"
    form.email = "not an address"
    local status, html = v.post("/details", form)
    assert.are.equal(400, status)
    assert.truthy(html:find("There is a problem", 1, true))
    assert.truthy(html:find("Enter your last name", 1, true))
    assert.truthy(html:find("Date of birth must be a real date", 1, true))
    assert.truthy(html:find("Enter an email address like", 1, true))
    assert.truthy(html:find('value="Ada"', 1, true))
  end)

  it("never writes a coreplus credential or token into a page or a header", function()
    local v, _, form = to_details()
    local _, _, head = v.post("/details", person(form, "Secretless"))
    local location = head:match("\r\nLocation: ([^\r]+)")
    local _, booked = v.get(location:gsub("^https?://[^/]+", ""))
    assert.truthy(booked:find("Booked", 1, true))
    pages[#pages + 1] = head .. booked
    local all = table.concat(pages, "\n")
    for _, secret in ipairs{ mock.consumer_secret, mock.access_token, mock.consumer_id } do
      assert.is_nil(all:find(secret, 1, true))
    end
    assert.is_nil(all:find("JwToken", 1, true))
    assert.is_nil(all:find("eyJ", 1, true))   -- the start of any JWT
  end)

  it("answers an unknown page 404 and a wrong method 405 with Allow", function()
    local v = visitor(service.url, service.prefix)
    assert.are.equal(404, (v.get("/nowhere")))
    local status, _, head = v.post("/", { x = "1" })
    assert.are.equal(405, status)
    assert.truthy(head:find("\r\nAllow: GET, HEAD\r\n", 1, true), head)
  end)

  it("opens a confirmation or cancel page only from a signed link", function()
    local v = visitor(service.url, service.prefix)
    local list = assert(mock:client().appointments:list{ startDate = dates.date(os.time()),
      endDate = dates.date(os.time() + 86400 * 7), timezoneId = "39D62534-501C-49CD-9DA9-6FA8D6A81F48" })
    local id = list.items[1].appointmentId
    assert.are.equal(404, (v.get("/booked?a=" .. id .. "&s=forged")))
    assert.are.equal(404, (v.get("/cancel?a=" .. id)))
  end)
end)

describe("examples/openresty/run", function()
  -- Started as a terminal would (SIGINT not ignored), on a port of its own.
  local function start(port, dir)
    local log = dir .. "/run.log"
    os.execute(("cd %s && /usr/bin/python3 -c %s examples/openresty/run --port %d --latency 0 >%s 2>&1 & echo $! >%s")
      :format(q(nginx.TOP), q("import signal,os,sys; signal.signal(signal.SIGINT, signal.SIG_DFL); " ..
        "os.execvp(sys.argv[1], sys.argv[1:])"), port, q(log), q(dir .. "/run.pid")))
    local pid = tonumber(read_file(dir .. "/run.pid"))
    local t = 0
    while t < 60 do
      if capture("curl -s --max-time 2 http://127.0.0.1:" .. port .. "/"):find("Book an appointment", 1, true) then
        return pid, log
      end
      sleep(0.1); t = t + 0.1
    end
    error("run did not serve the page: " .. (read_file(log) or ""))
  end

  local function gone(pid, port, log)
    local t = 0
    while t < 15 do
      local alive = os.execute("kill -0 " .. pid .. " 2>/dev/null")
      if not alive then break end
      sleep(0.1); t = t + 0.1
    end
    assert.is_falsy(os.execute("kill -0 " .. pid .. " 2>/dev/null"), "run still running")
    assert.are.equal("", capture("curl -s --max-time 2 http://127.0.0.1:" .. port .. "/health"))
    local text = read_file(log) or ""
    assert.truthy(text:find("booking service stopped", 1, true), text)
    local prefix = text:match("nginx prefix (/%S*coreplus%-openresty%.%w+)")
    assert.truthy(prefix, text)
    assert.is_nil(read_file(prefix .. "/nginx.conf"), "prefix left behind")
  end

  for _, signal in ipairs{ "TERM", "INT" } do
    it("serves the page at http://127.0.0.1:PORT/ and stops cleanly on SIG" .. signal, function()
      local dir = capture("mktemp -d /tmp/coreplus-run-spec.XXXXXX"):gsub("%s+$", "")
      local port = testing.free_port()
      local pid, log = start(port, dir)
      os.execute("kill -" .. signal .. " " .. pid)
      gone(pid, port, log)
      os.execute("rm -rf " .. q(dir))
    end)
  end
end)

describe("nginx/coreplus.conf", function()
  it("collides with nothing a user's own http{} block may set", function()
    local srv = nginx.start{ name = "snippet-spec", render = function(vars)
      return (nginx.MAIN .. [[
events { worker_connections 64; }
http {
    lua_ssl_verify_depth 3;
    lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
    resolver 127.0.0.1 ipv6=off;
    resolver_timeout 2s;
]] .. nginx.HTTP .. [[
    server { listen 127.0.0.1:@P1@; location / { return 204; } }
}
]]):gsub("@(%w+)@", vars)
    end }
    local code = capture("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" .. srv.ports[1] .. "/")
    local log = srv.error_log()
    srv.stop()
    assert.are.equal("204", code, log)
    assert.is_nil(log:find("duplicate", 1, true), log)
  end)
end)
