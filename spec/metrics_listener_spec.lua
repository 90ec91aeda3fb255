-- The /metrics listener of processes that are not servers (coreplus sync
-- --watch --metrics): LuaSocket on 127.0.0.1, answering scrapes while the
-- process polls, and never held by a client that stops talking.
local listener = require "coreplus.metrics.listener"
local socket = require "socket"

local F = dofile("spec/support/files.lua")
local q = F.q

-- Runs a shell command in the background and polls l until it has finished;
-- returns its output.
local function while_polling(l, cmd)
  local dir = F.tmpdir()
  os.execute(("( %s >%s 2>&1; touch %s ) &"):format(cmd, q(dir .. "/out"), q(dir .. "/done")))
  for _ = 1, 200 do
    l:poll(0.02)
    if F.read(dir .. "/done") then break end
  end
  local out = F.read(dir .. "/out")
  os.execute("rm -rf " .. q(dir))
  return out
end

describe("metrics listener", function()
  local l, renders

  before_each(function()
    renders = 0
    l = assert(listener.new{ port = 0, client_timeout = 0.3, render = function()
      renders = renders + 1
      return "# TYPE x counter\nx 1\n"
    end })
  end)

  after_each(function() l:close() end)

  it("answers GET /metrics with the text and the format's Content-Type", function()
    local out = while_polling(l, "curl -s -i --max-time 5 http://127.0.0.1:" .. l.port .. "/metrics")
    assert.truthy(out:find("^HTTP/1.1 200 OK\r\n"), out)
    assert.truthy(out:find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", 1, true), out)
    assert.truthy(out:find("\r\n\r\n# TYPE x counter\nx 1\n$"), out)
    assert.equal(1, renders)
  end)

  it("answers 404 elsewhere, 405 to other methods, and HEAD without a body", function()
    local base = "http://127.0.0.1:" .. l.port
    assert.equal("404", while_polling(l, "curl -s -o /dev/null -w '%{http_code}' " .. base .. "/"))
    assert.equal("405", while_polling(l, "curl -s -o /dev/null -w '%{http_code}' -X POST " .. base .. "/metrics"))
    local head = while_polling(l, "curl -s -I " .. base .. "/metrics")
    assert.truthy(head:find("^HTTP/1.1 200"), head)
    assert.truthy(head:find("Content-Length: 21\r\n", 1, true), head)
  end)

  it("listens on loopback only", function()
    local _, err = pcall(listener.new, { host = "0.0.0.0", port = 0, render = function() return "" end })
    assert.truthy(tostring(err):find("loopback", 1, true))
    assert.equal("127.0.0.1", (l.server:getsockname()))
  end)

  it("is not held by a client that connects and says nothing", function()
    -- another process holds a connection open for 4 s without a word
    os.execute(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; sleep 4' >/dev/null 2>&1 &"):format(l.port))
    local t0 = socket.gettime()
    l:poll(0.5)
    local took = socket.gettime() - t0
    assert.is_true(took < 2, "poll took " .. took .. " s")
    -- and the next scrape is answered
    assert.truthy(while_polling(l, "curl -s --max-time 5 http://127.0.0.1:" .. l.port .. "/metrics"):find("x 1"))
  end)

  it("returns from a long poll once stop() says so", function()
    local stopping = false
    local l2 = assert(listener.new{ port = 0, render = function() stopping = true; return "x 1\n" end,
      stop = function() return stopping end })
    os.execute("curl -s -o /dev/null --max-time 5 http://127.0.0.1:" .. l2.port .. "/metrics &")
    local t0 = socket.gettime()
    l2:poll(20)
    l2:close()
    assert.is_true(socket.gettime() - t0 < 10)
  end)
end)
