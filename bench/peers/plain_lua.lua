-- A peer for the benchmarks: what a Lua user writes today without
-- lua-coreplus, from Debian's packages: LuaSec's ssl.https over LuaSocket
-- (a new connection per request: LuaSocket's http has no keep-alive),
-- luaossl's HMAC for the token, LuaSocket's mime for base64, lua-cjson for
-- JSON. A fresh token per request, as the docs ask.
--   lua5.4 plain_lua.lua MODE N   with COREPLUS_BASE_URL, COREPLUS_CONSUMER_ID,
--   COREPLUS_CONSUMER_SECRET, COREPLUS_ACCESS_TOKEN, COREPLUS_CAFILE set.
-- MODE: "get" = N GETs of a 100-row client page; "pages" = page through all
-- clients, N per page, in order (on a 429: wait a second, ask again).
-- Prints "cpu_seconds wall_seconds requests rows http_429s".
local https = require "ssl.https"
local ltn12 = require "ltn12"
local mime = require "mime"
local hmac = require "openssl.hmac"
local cjson = require "cjson"
local socket = require "socket"

local env = os.getenv
local base_url = env("COREPLUS_BASE_URL")
local END_POINT = "/API/Core/v2.1/Client/"
local USER_AGENT = "coreplus-bench-plain-lua/1.0 (bench@example.com)"

local function b64url(s)
  return (mime.b64(s):gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end

local function token(url)
  local now = os.time()
  local header = b64url(cjson.encode{ alg = "HS256", typ = "JWT" })
  local payload = b64url(cjson.encode{ iss = "https://bench.example", aud = "https://coreplus.com.au",
    nbf = now, exp = now + 60, consumerId = env("COREPLUS_CONSUMER_ID"),
    accessToken = env("COREPLUS_ACCESS_TOKEN"), url = url, httpMethod = "GET" })
  local signing_input = header .. "." .. payload
  local sig = hmac.new(env("COREPLUS_CONSUMER_SECRET"), "sha256"):final(signing_input)
  return signing_input .. "." .. b64url(sig)
end

local function get(url)
  local chunks = {}
  local _, status = https.request{ url = url, method = "GET", sink = ltn12.sink.table(chunks),
    headers = { ["Authorization"] = "JwToken " .. token(url), ["Content-Type"] = "application/json",
      ["Accept"] = "application/json", ["User-Agent"] = USER_AGENT },
    cafile = env("COREPLUS_CAFILE"), verify = "peer", protocol = "any",
    options = { "all", "no_sslv2", "no_sslv3" } }
  return status, cjson.decode(table.concat(chunks))
end

local mode, n = arg[1], tonumber(arg[2])
local requests, rows, throttled = 0, 0, 0
local cpu0, wall0 = os.clock(), socket.gettime()
if mode == "pages" then
  local page = 1
  while true do
    local status, body = get(base_url .. END_POINT .. ("?pageNumber=%d&pageSize=%d"):format(page, n))
    requests = requests + 1
    if status == 429 then
      throttled = throttled + 1
      socket.sleep(1)
    else
      assert(status == 200, "HTTP " .. tostring(status))
      rows = rows + #body.clients
      if rows >= body.paging.totalRows or #body.clients == 0 then break end
      page = page + 1
    end
  end
else
  for _ = 1, n do
    local status, body = get(base_url .. END_POINT .. "?pageSize=100")
    requests = requests + 1
    if status == 429 then throttled = throttled + 1 end
    rows = rows + #(body.clients or {})
  end
end
print(os.clock() - cpu0, socket.gettime() - wall0, requests, rows, throttled)
