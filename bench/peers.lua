-- Runs the peers in bench/peers/ against a mock, each as its own process:
--   peers.run(mock, peer, mode, n, {access_token =}) -> {cpu=, wall=, requests=, rows=, throttled=}
--   peers.start(...) -> handle (the same, not waited for); peers.finish(handle) -> result
--   peers.floor(mock, n) -> CPU seconds per kept-alive libcurl transfer, body bytes
-- peer: "docs_python" (modes new, session, pages, pages-new), "plain_lua"
-- (get, pages) or "curl_loop" (get, pages). Each prints
-- "cpu wall requests rows 429s".
local core = require "coreplus.core"

local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local dir = ((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench") .. "/peers"

local COMMAND = {
  docs_python = "/usr/bin/python3 " .. q(dir .. "/docs_python.py"),
  -- Debian's own paths, not the repository's: the peer knows nothing of lua-coreplus
  plain_lua = "env -u LUA_PATH -u LUA_CPATH lua5.4 " .. q(dir .. "/plain_lua.lua"),
  curl_loop = "bash " .. q(dir .. "/curl_loop.sh"),
}

local function environment(mock, o)
  return table.concat({
    "COREPLUS_BASE_URL=" .. q(mock.base_url), "COREPLUS_CONSUMER_ID=" .. q(mock.consumer_id),
    "COREPLUS_CONSUMER_SECRET=" .. q(mock.consumer_secret),
    "COREPLUS_ACCESS_TOKEN=" .. q(o and o.access_token or mock.access_token),
    "COREPLUS_CAFILE=" .. q(mock.cafile) }, " ")
end

function M.start(mock, peer, mode, n, o)
  local cmd = assert(COMMAND[peer], peer)
  local f = assert(io.popen(environment(mock, o) .. " " .. cmd .. " " .. q(mode) .. " " .. q(n) .. " 2>&1"))
  return { f = f, label = peer .. " " .. mode }
end

function M.finish(h)
  local out = h.f:read("a")
  local ok = h.f:close()
  local cpu, wall, requests, rows, throttled = out:match("(%S+)%s+(%S+)%s+(%d+)%s+(%d+)%s+(%d+)%s*$")
  if not ok or not cpu then error("peer " .. h.label .. " failed: " .. out, 0) end
  return { cpu = tonumber(cpu), wall = tonumber(wall), requests = tonumber(requests),
    rows = tonumber(rows), throttled = tonumber(throttled) }
end

function M.run(mock, peer, mode, n, o)
  return M.finish(M.start(mock, peer, mode, n, o))
end

-- bench/peers/floor.c, built once per run into build/bench/.
local built
local function floor_binary()
  local bin = "build/bench/floor"
  if built then return bin end
  built = true
  local cmd = ("mkdir -p build/bench && cc -O2 -std=c99 %s $(pkg-config --cflags --libs libcurl) -o %s")
    :format(q(dir .. "/floor.c"), bin)
  assert(os.execute(cmd), "cannot build " .. dir .. "/floor.c")
  return bin
end

function M.floor(mock, n, path)
  local url = mock:url(path)
  local token = core.sign{ consumer_id = mock.consumer_id, consumer_secret = mock.consumer_secret,
    access_token = mock.access_token, url = url, method = "GET" }
  local f = assert(io.popen(table.concat({ floor_binary(), q(url), q(mock.cafile), q("JwToken " .. token), q(n) },
    " ") .. " 2>&1"))
  local out = f:read("a")
  f:close()
  local per, bytes = out:match("^(%S+) (%d+)")
  if not per then error("floor failed: " .. out, 0) end
  return tonumber(per), tonumber(bytes)
end

return M
