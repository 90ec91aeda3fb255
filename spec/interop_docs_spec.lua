-- Interoperability with coreplus's own documentation (issue 15 item 7):
-- the docs' Python example (PyJWT + requests), as the page prints it
-- (spec/fixtures/docs_example.py, checked against the docs' text in
-- the directory COREPLUS_DOCS_SEEDS names, when set), gets 200 from the mock once the credentials
-- are filled in and the lines that cannot run today are fixed; and the
-- FAQ's token self-check, in its PyJWT 2 form as the README gives it,
-- verifies this library's tokens (from core.sign, and one captured at the
-- mock from a request through the client).
local testing = require "coreplus.testing"
local config = require "coreplus.config"
local core = require "coreplus.core"
local cjson = require "cjson"

local PY = "/usr/bin/python3"
local SEEDS = os.getenv("COREPLUS_DOCS_SEEDS")
local APP_UA = "docs-example-app/1.0 (+spec)"

local F = dofile("spec/support/files.lua")
local q, read = F.q, F.read

-- Runs a Python script; returns its output (stdout and stderr) and success.
local function python(script, args, env)
  local a = {}
  for i, x in ipairs(args or {}) do a[i] = q(x) end
  local p = assert(io.popen((env or "") .. " " .. PY .. " -c " .. q(script) .. " " .. table.concat(a, " ") .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Replaces the one line matching `pattern` (Lua, anchored to a line) in
-- `code` with `line`; the line must be there exactly once.
local function replace_line(code, pattern, line)
  local n = 0
  local out = {}
  for l in (code .. "\n"):gmatch("(.-)\n") do
    if l:find(pattern) then
      n = n + 1
      out[#out + 1] = line
    else
      out[#out + 1] = l
    end
  end
  assert(n == 1, ("the docs' example has %d lines matching %q (the page changed?)"):format(n, pattern))
  return table.concat(out, "\n")
end

local function py_string(s) return '"' .. s:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"' end

-- The example as the page prints it: from "import jwt" to the comment that
-- announces the print (whose statement the page lost). The pages are not
-- part of this repository, so the fixture is what runs; the page, when at
-- hand, must still say the same.
local FIXTURE = "spec/fixtures/docs_example.py"

local function from_page()
  local text = SEEDS and read(SEEDS .. "/02-json-web-token.txt")
  if not text then return nil end
  local code = text:match("\n(import jwt\n.-# print the returned json to my console)")
  return assert(code, "the Python example was not found in " .. SEEDS .. "/02-json-web-token.txt") .. "\n"
end

local function docs_example()
  return assert(read(FIXTURE), FIXTURE)
end

--- The example with the credentials and the API URL filled in and the
-- claims dictionary's closing brace back (lost in the page's rendering);
-- nothing else changed.
local function filled_in(code, mock)
  code = replace_line(code, "^app_consumer_id = ", "app_consumer_id = " .. py_string(mock.consumer_id))
  code = replace_line(code, "^app_consumer_secret = ", "app_consumer_secret = " .. py_string(mock.consumer_secret))
  code = replace_line(code, "^app_access_token = ", "app_access_token = " .. py_string(mock.access_token))
  code = replace_line(code, '^base_url = ""$', "base_url = " .. py_string(mock.base_url))
  assert(not code:find('"httpMethod": httpMethod%s*\n%s*}'), "the page has its closing brace now")
  code = replace_line(code, '^%s*"httpMethod": httpMethod%s*$', '    "httpMethod": httpMethod\n}')
  return code .. "\nprint(response.status_code)\nprint(response.text)\n"
end

-- The PyJWT 2 fix: jwt.encode returns a str.
local function pyjwt2(code)
  return replace_line(code, "^jwt_str = str%(encoded_jwt_byte, 'utf%-8'%)$", "jwt_str = encoded_jwt_byte")
end

-- An app's own User-Agent in the example's headers.
local function app_user_agent(code)
  return replace_line(code, "^headers = {'Authorization': 'JwToken' %+ ' ' %+ jwt_str, 'content%-type': " ..
    "'application/json'}$", "headers = {'Authorization': 'JwToken' + ' ' + jwt_str, 'content-type': " ..
    "'application/json', 'User-Agent': " .. py_string(APP_UA) .. "}")
end

local function status_and_body(out)
  local status, body = out:match("(%d%d%d)\n(.*)$")
  return tonumber(status), body and cjson.decode(body)
end

describe("the docs' Python example against the mock", function()
  local mock, code, env
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, tls = true }
    env = "REQUESTS_CA_BUNDLE=" .. q(mock.cafile)
    code = docs_example()
  end)
  lazy_teardown(function() mock:stop() end)

  it("runs the example exactly as the docs page prints it", function()
    local page = from_page()
    if not page then
      pending("the documentation page is not at hand: set COREPLUS_DOCS_SEEDS to its folder")
      return
    end
    assert.equal(page, code)
  end)

  it("gets 200 and the clients with the PyJWT 2 line fixed and an app User-Agent", function()
    local out = python(app_user_agent(pyjwt2(filled_in(code, mock))), {}, env)
    local status, body = status_and_body(out)
    assert.are.equal(200, status, out)
    assert.are.equal(50, #body.clients)
    assert.are.same({}, body.clients[1].relatedClients)
    assert.are.equal(537, body.paging.totalRows)
  end)

  it("fails on PyJWT 2 as the page prints it (str() of a str), before sending anything", function()
    local before = mock:stats().requests
    local out, ok = python(app_user_agent(filled_in(code, mock)), {}, env)
    assert.is_falsy(ok)
    assert.truthy(out:find("TypeError", 1, true), out)
    assert.are.equal(before, mock:stats().requests)
  end)

  it("gets 403 with requests' default User-Agent, a generic one", function()
    local out = python(pyjwt2(filled_in(code, mock)), {}, env)
    local status, body = status_and_body(out)
    assert.are.equal(403, status, out)
    assert.truthy(body.result[1].reason:find("User-Agent", 1, true))
  end)
end)

describe("the FAQ's token self-check with PyJWT 2", function()
  -- The block the README gives (its marker: run by spec/interop_docs_spec.lua
  -- (pyjwt2-self-check)), run as it stands with jwtoken and secret
  -- from the command line.
  local function snippet()
    local doc = assert(read("README.md"))
    local marker = "<!%-%- run by spec/interop_docs_spec%.lua %(pyjwt2%-self%-check%) %-%->"
    local block = doc:match(marker .. "\n```python\n(.-)```")
    return "import sys\njwtoken, secret = sys.argv[1], sys.argv[2]\n" .. assert(block, "no snippet in README.md") ..
      "\nimport json\nprint(json.dumps(claims, sort_keys=True))\n"
  end

  local function verify(token, secret)
    local out, ok = python(snippet(), { token, secret })
    local claims = ok and cjson.decode(out:match("(%b{})%s*$") or "null")
    return claims, out
  end

  local URL = "https://127.0.0.1:8443/API/Core/v2.1/client/?pageNumber=1&pageSize=50"

  it("the FAQ's own call is refused by PyJWT 2 (no algorithms=)", function()
    local token = core.sign{ consumer_id = "c", consumer_secret = "s", access_token = "a", url = URL, method = "GET" }
    local out, ok = python("import sys, jwt\njwt.decode(jwt=sys.argv[1], key=sys.argv[2], verify=True, " ..
      "algorithm='HS256')\n", { token, "s" })
    assert.is_falsy(ok)
    assert.truthy(out:find("algorithms", 1, true), out)
  end)

  it("verifies a token from core.sign with the library's default audience", function()
    assert.are.equal("https://coreplus.com.au", config.DEFAULTS.audience)
    local now = os.time()
    local token = core.sign{ consumer_id = "cid", consumer_secret = "the-secret", access_token = "tok",
      url = URL, method = "GET", audience = config.DEFAULTS.audience, now = now }
    local claims, out = verify(token, "the-secret")
    assert.truthy(claims, out)
    assert.are.equal(URL, claims.url)
    assert.are.equal("GET", claims.httpMethod)
    assert.are.equal(60, claims.exp - claims.nbf)
  end)

  it("says InvalidSignatureError for the wrong secret", function()
    local token = core.sign{ consumer_id = "c", consumer_secret = "right", access_token = "a", url = URL,
      method = "GET", audience = config.DEFAULTS.audience }
    local claims, out = verify(token, "wrong")
    assert.is_nil(claims)
    assert.truthy(out:find("InvalidSignatureError", 1, true) or out:find("Signature verification failed", 1, true),
      out)
  end)

  it("verifies the token of a request made through the client, as the mock received it", function()
    local mock = testing.server{ rate_limit = false, tls = false }
    local ok, err = pcall(function()
      local cp = mock:client{ user_agent = APP_UA }
      assert(cp.locations:list{})
      local last = assert(mock:admin("GET", "last-request"))
      local authz
      for k, v in pairs(last.headers) do if k:lower() == "authorization" then authz = v end end
      local token = assert(authz, "no Authorization header"):match("^JwToken (.+)$")
      local claims, out = verify(token, mock.consumer_secret)
      assert.truthy(claims, out)
      assert.are.equal(mock.base_url .. last.uri, claims.url)
      assert.are.equal("GET", claims.httpMethod)
      assert.are.equal(mock.consumer_id, claims.consumerId)
      assert.are.equal(mock.access_token, claims.accessToken)
      assert.is_true(claims.exp - claims.nbf <= 60)
    end)
    mock:stop()
    assert(ok, err)
  end)
end)
