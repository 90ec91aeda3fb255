--- Hand-built requests for the mock's specs: tokens from the C core's
-- signer (or assembled by hand to break them), sent with the curl CLI so
-- the specs do not depend on the client code under test.
local core = require "coreplus.core"
local cjson = require "cjson.safe"

local H = {}

-- Under `make check` the sanitizer runtime is in LD_PRELOAD; curl must not
-- inherit it (it deadlocks): coreplus.testing.process.CLEAN.
local CLEAN = require("coreplus.testing.process").CLEAN
H.CLEAN = CLEAN

H.UA = "coreplus-mock-spec/1.0 (+busted)"
H.MELBOURNE = "39D62534-501C-49CD-9DA9-6FA8D6A81F48"

local F = dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "spec/support") .. "/files.lua")
local q = F.q
H.q = q

function H.b64url(s)
  local b = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  return ((s:gsub(".", function(x)
    local r, byte = "", x:byte()
    for i = 8, 1, -1 do r = r .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b:sub(c + 1, c + 1)
  end))
end

--- claims(mock, method, url, overrides) -> a claims table as the client
-- would sign it (now = the local clock).
function H.claims(mock, method, url, over)
  local now = os.time()
  local c = { iss = "https://spec.example", aud = "https://coreplus.com.au", nbf = now, exp = now + 60,
    consumerId = mock.consumer_id, accessToken = mock.access_token, url = url, httpMethod = method }
  for k, v in pairs(over or {}) do
    if v == false then c[k] = nil else c[k] = v end
  end
  return c
end

--- A token over arbitrary claims, HS256 with `secret` (default the mock's).
function H.token_of(claims, secret, mock)
  return core.jwt_encode(cjson.encode(claims), secret or mock.consumer_secret)
end

--- sign(mock, method, url, {access_token=, now=}) via core.sign.
function H.sign(mock, method, url, o)
  o = o or {}
  return core.sign{ consumer_id = o.consumer_id or mock.consumer_id,
    consumer_secret = o.consumer_secret or mock.consumer_secret,
    access_token = o.access_token or mock.access_token, url = url, method = method,
    issuer = "https://spec.example", audience = "https://coreplus.com.au", now = o.now }
end

local function read(path) return F.read(path) or "" end

--- The absolute URL of an API path under `version` (default: the mock's
-- own, v2.1).
function H.url(mock, path, version)
  if not version then return mock:url(path) end
  return require("coreplus.url").api_base(mock.base_url, version) .. (path or "")
end

--- "YYYY-MM" of the month `ahead` months after this one (default 2: a
-- fixture month wholly in the future, where every slot can be booked).
function H.future_month(ahead)
  local t = os.date("!*t")
  local y, m = t.year, t.month + (ahead or 2)
  while m > 12 do y, m = y + 1, m - 12 end
  return ("%04d-%02d"):format(y, m)
end

--- request(mock, o) -> {status=, headers={lower-case}, body=, json=, curl_rc=}
-- o: method (GET), path (API path) or url, version ("v2": the path under
--    that version), body (string or table),
--    token (string; default: signed for this request), auth (whole
--    Authorization value; false = none), ua (false = none),
--    content_type (false = none), headers {name=value}, access_token,
--    max_time (s), extra (raw curl args)
function H.request(mock, o)
  local method = o.method or "GET"
  local url = o.url or H.url(mock, o.path, o.version)
  local body = o.body
  if type(body) == "table" then body = cjson.encode(body) end
  local auth = o.auth
  if auth == nil then
    auth = "JwToken " .. (o.token or H.sign(mock, method, url, { access_token = o.access_token }))
  end
  local hfile, bfile, dfile = os.tmpname(), os.tmpname(), os.tmpname()
  local args = { "curl -sS --max-time " .. (o.max_time or 10), "-X " .. method, "-D " .. q(hfile),
    "-o " .. q(bfile), "-w '%{http_code}'" }
  if mock.cafile then args[#args + 1] = "--cacert " .. q(mock.cafile) end
  args[#args + 1] = "-H " .. q("User-Agent: " .. (o.ua == false and "" or (o.ua or H.UA)))
  if o.content_type ~= false then
    args[#args + 1] = "-H " .. q("Content-Type: " .. (o.content_type or "application/json"))
  end
  args[#args + 1] = "-H 'Accept: application/json'"
  if auth then args[#args + 1] = "-H " .. q("Authorization: " .. auth) end
  for k, v in pairs(o.headers or {}) do args[#args + 1] = "-H " .. q(k .. ": " .. v) end
  if body then
    local f = assert(io.open(dfile, "wb"))
    f:write(body)
    f:close()
    args[#args + 1] = "--data-binary @" .. q(dfile)
  end
  if o.extra then args[#args + 1] = o.extra end
  args[#args + 1] = q(url)
  local p = io.popen(CLEAN .. table.concat(args, " ") .. " 2>/dev/null; echo \" $?\"")
  local out = p:read("a")
  p:close()
  local code, rc = out:match("^(%d*)%s+(%d+)%s*$")
  local res = { status = tonumber(code) or 0, curl_rc = tonumber(rc), headers = {}, body = read(bfile) }
  for line in read(hfile):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then res.headers[k:lower()] = v end
  end
  res.json = cjson.decode(res.body)
  os.remove(hfile); os.remove(bfile); os.remove(dfile)
  return res
end

function H.get(mock, path, o)
  o = o or {}
  o.path = path
  return H.request(mock, o)
end

function H.post(mock, path, body, o)
  o = o or {}
  o.method, o.path, o.body = "POST", path, body
  return H.request(mock, o)
end

--- burst(mock, path, n) -> list of statuses: n GETs of one URL with one
-- token (the mock does not forbid reuse) over one curl process, so they
-- arrive within a few milliseconds of each other.
function H.burst(mock, path, n, o)
  o = o or {}
  local url = mock:url(path)
  local token = H.sign(mock, "GET", url, { access_token = o.access_token })
  local args = { "curl -sS --max-time 10", "-w '%{http_code}\\n'",
    o.parallel and "--parallel --parallel-immediate --parallel-max " .. n or "",
    "-H " .. q("User-Agent: " .. H.UA), "-H 'Content-Type: application/json'",
    "-H " .. q("Authorization: JwToken " .. token) }
  if mock.cafile then args[#args + 1] = "--cacert " .. q(mock.cafile) end
  for _ = 1, n do args[#args + 1] = q(url) .. " -o /dev/null" end
  local p = io.popen(CLEAN .. table.concat(args, " ") .. " 2>/dev/null")
  local out = p:read("a")
  p:close()
  local codes = {}
  for c in out:gmatch("%d+") do codes[#codes + 1] = tonumber(c) end
  return codes
end

function H.count(list, x)
  local n = 0
  for _, v in ipairs(list) do if v == x then n = n + 1 end end
  return n
end

function H.reason(res)
  local r = res.json and res.json.result and res.json.result[1]
  return r and r.reason, r and r.detail
end

return H
