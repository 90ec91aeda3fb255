-- File/ and Message/ (the developer docs' Client Files and Messages pages): multipart bodies from
-- independent producers (curl -F, python3-requests' files=, and
-- requests-toolbelt's MultipartEncoder, the encoder the docs recommend) are
-- accepted through nginx, small ones in memory and big ones from its temp
-- file; every part the docs describe is checked and a wrong one refused
-- with a result[] body naming it; accepted uploads are counted in stats and
-- listed, with their SHA-256, at /__mock/uploads.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")
local cjson = require "cjson"

local PY = "/usr/bin/python3"
local q = H.q

local write = dofile("spec/support/files.lua").write

local function sha256_of(path)
  local p = assert(io.popen("sha256sum " .. q(path)))
  local out = p:read("a")
  p:close()
  return out:match("^(%x+)")
end

-- A body of our own for the refusals (the independent producers make the
-- accepted ones): parts {name=, filename=, type=, data=}.
local BOUNDARY = "spec-boundary-5f0c1e"
local function form(parts)
  local out = {}
  for _, p in ipairs(parts) do
    out[#out + 1] = "--" .. BOUNDARY .. "\r\nContent-Disposition: form-data; name=\"" .. p.name .. "\"" ..
      (p.filename and ("; filename=\"" .. p.filename .. "\"") or "") .. "\r\n" ..
      (p.type and ("Content-Type: " .. p.type .. "\r\n") or "") .. "\r\n" .. p.data .. "\r\n"
  end
  out[#out + 1] = "--" .. BOUNDARY .. "--\r\n"
  return table.concat(out)
end

local function post_form(mock, path, parts, o)
  o = o or {}
  o.method, o.path = "POST", path
  o.body = type(parts) == "string" and parts or form(parts)
  o.content_type = o.content_type or ("multipart/form-data; boundary=" .. BOUNDARY)
  return H.request(mock, o)
end

-- Python producers: argv = url, Authorization, User-Agent, then their own.
local PY_FILE = [[
import sys, json, requests
url, auth, ua, client, path = sys.argv[1:6]
data = open(path, "rb").read()
meta = {"name": "scan.pdf", "primaryDomainKey": client, "size": str(len(data)),
        "entity": "client", "parentFolderId": "", "isFolder": False}
r = requests.post(url, headers={"Authorization": auth, "User-Agent": ua},
                  files={"json": (None, json.dumps(meta)), "File": ("scan.pdf", data, "text/plain")}, timeout=20)
print(r.status_code)
print(r.text)
]]

local PY_TOOLBELT_FILE = [[
import sys, json, requests
from requests_toolbelt import MultipartEncoder
url, auth, ua, client, path = sys.argv[1:6]
size = len(open(path, "rb").read())
meta = {"name": "report.txt", "primaryDomainKey": client, "size": str(size), "entity": "client",
        "isFolder": False}
m = MultipartEncoder(fields={"json": json.dumps(meta), "File": ("report.txt", open(path, "rb"), "text/plain")})
r = requests.post(url, data=m, headers={"Authorization": auth, "User-Agent": ua, "Content-Type": m.content_type},
                  timeout=20)
print(r.status_code)
print(r.text)
]]

local PY_TOOLBELT_MESSAGE = [[
import sys, json, requests
from requests_toolbelt import MultipartEncoder
url, auth, ua, p1, p2 = sys.argv[1:6]
files = [("referral.pdf", open(p1, "rb").read()), ("notes.txt", open(p2, "rb").read())]
data = {"Header": {"SendingFacility": ""},
        "MessageContents": [{"AttachedFileDetails": {"Size": len(b), "Name": n}} for n, b in files],
        "Client": {"Firstname": "Ann", "Surname": "Lee", "Gender": "F"}}
fields = [("messageData", json.dumps(data))] + [("file%d" % i, (n, b, "text/plain")) for i, (n, b) in enumerate(files)]
m = MultipartEncoder(fields=fields)
r = requests.post(url, data=m, headers={"Authorization": auth, "User-Agent": ua, "Content-Type": m.content_type},
                  timeout=20)
print(r.status_code)
print(r.text)
]]

local function python(mock, script, path, ...)
  local url = path:find("^https?://") and path or H.url(mock, path)
  local args = { q(url), q("JwToken " .. H.sign(mock, "POST", url)), q(H.UA) }
  for _, a in ipairs{ ... } do args[#args + 1] = q(a) end
  local p = assert(io.popen(H.CLEAN .. PY .. " -c " .. q(script) .. " " .. table.concat(args, " ") .. " 2>&1"))
  local out = p:read("a")
  p:close()
  local status, body = out:match("^(%d+)\n(.*)$")
  return tonumber(status), body and cjson.decode(body), out
end

describe("mock server File/ uploads", function()
  local mock, client, tmp
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, tls = false }
    client = H.get(mock, "Client/?pageSize=1").json.clients[1]
    tmp = os.tmpname()
  end)
  lazy_teardown(function()
    mock:stop()
    os.remove(tmp)
  end)
  before_each(function() mock:reset() end)

  local function meta(over)
    local m = { name = "letter.pdf", primaryDomainKey = client.clientId, size = "5", entity = "client",
      parentFolderId = "", isFolder = false }
    for k, v in pairs(over or {}) do m[k] = v end
    return cjson.encode(m)
  end

  local function refused(res, what)
    assert.are.equal(400, res.status, res.body)
    assert.are.equal(2, res.json.result[1].severity)
    assert.truthy(H.reason(res):find(what, 1, true), res.body)
  end

  it("accepts curl -F, counts the upload and records its bytes' SHA-256", function()
    write(tmp, "%PDF-1.4 binary \0\1\2\r\n--not-a-boundary\r\n")
    local size = #"%PDF-1.4 binary \0\1\2\r\n--not-a-boundary\r\n"
    local res = H.request(mock, { method = "POST", path = "File/", content_type = false,
      extra = "--form-string " .. q("json=" .. meta{ size = tostring(size) }) ..
        " -F " .. q("File=@" .. tmp .. ";filename=letter.pdf;type=text/plain") })
    assert.are.equal(200, res.status, res.body)
    local f = res.json.file
    assert.truthy(f.fileId)
    assert.are.equal("letter.pdf", f.name)
    assert.are.equal(tostring(size), f.size)
    assert.are.equal(client.clientId, f.primaryDomainKey)
    local st = mock:stats()
    assert.are.equal(1, st.uploads)
    assert.are.equal(size, st.upload_bytes)
    local rec = mock:admin("GET", "uploads").files[1]
    assert.are.equal(sha256_of(tmp), rec.sha256)
    assert.are.equal(f.fileId, rec.fileId)
    assert.are.equal("", rec.parentFolderId)
  end)

  it("accepts python3-requests' files=", function()
    write(tmp, ("abc\r\n"):rep(1000))
    local status, body, out = python(mock, PY_FILE, "File/", client.clientId, tmp)
    assert.are.equal(200, status, out)
    assert.are.equal("scan.pdf", body.file.name)
    assert.are.equal(sha256_of(tmp), mock:admin("GET", "uploads").files[1].sha256)
  end)

  it("accepts a 3 MB file from requests-toolbelt's MultipartEncoder (nginx buffers it to disk)", function()
    local f = assert(io.open("/dev/urandom", "rb"))
    write(tmp, f:read(3 * 1048576))
    f:close()
    local status, body, out = python(mock, PY_TOOLBELT_FILE, "File/", client.clientId, tmp)
    assert.are.equal(200, status, out)
    assert.are.equal(tostring(3 * 1048576), body.file.size)
    local st = mock:stats()
    assert.are.equal(3 * 1048576, st.upload_bytes)
    assert.are.equal(sha256_of(tmp), mock:admin("GET", "uploads").files[1].sha256)
  end)

  it("refuses a size that does not match the File part's bytes", function()
    refused(post_form(mock, "File/", { { name = "json", data = meta{ size = "6" } },
      { name = "File", filename = "letter.pdf", type = "text/plain", data = "12345" } }), "has 5 bytes")
    assert.are.equal(0, mock:stats().uploads)
  end)

  it("refuses size as a number (the docs send a string)", function()
    refused(post_form(mock, "File/", { { name = "json", data = meta{ size = 5 } },
      { name = "File", filename = "letter.pdf", data = "12345" } }), "string of digits")
  end)

  local FILE = { name = "File", filename = "letter.pdf", type = "text/plain", data = "12345" }
  -- {what, json part's text or false (none) or a function of meta, parts after it, reason}
  local function with(over) return function() return meta(over) end end
  for _, c in ipairs{
    { "a missing json part", false, { FILE }, "The json part is missing" },
    { "a missing File part", with(), {}, "The File part is missing" },
    { "two File parts", with(), { FILE, FILE }, "given 2 times" },
    { "a File part without a filename", with(), { { name = "File", data = "12345" } }, "no filename" },
    { "an unexpected part", with(), { FILE, { name = "extra", data = "x" } }, "Unexpected part 'extra'" },
    { "a json part that is not JSON", function() return "name=letter.pdf" end, { FILE }, "JSON object" },
    { "a missing name", with{ name = "" }, { FILE }, "name" },
    { "a missing primaryDomainKey", with{ primaryDomainKey = "" }, { FILE }, "primaryDomainKey" },
    { "another entity", with{ entity = "practitioner" }, { FILE }, "entity must be" },
    { "a parentFolderId that is no id", with{ parentFolderId = "root" }, { FILE }, "parentFolderId" },
    { "isFolder true", with{ isFolder = true }, { FILE }, "isFolder must be false" },
  } do
    it("refuses " .. c[1] .. " with a result body naming it", function()
      local parts = {}
      if c[2] then parts[1] = { name = "json", data = c[2]() } end
      for _, x in ipairs(c[3]) do parts[#parts + 1] = x end
      refused(post_form(mock, "File/", parts), c[4])
    end)
  end

  it("accepts a parentFolderId that is a folder id, and isFolder given as the string false", function()
    local res = post_form(mock, "File/", { { name = "json",
      data = meta{ parentFolderId = "0b8f6a2e-3c4d-4e5f-8a7b-9c0d1e2f3a4b", isFolder = "false" } }, FILE })
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("0b8f6a2e-3c4d-4e5f-8a7b-9c0d1e2f3a4b", res.json.file.parentFolderId)
  end)

  it("answers an unknown client with 404", function()
    local res = post_form(mock, "File/", { { name = "json",
      data = meta{ primaryDomainKey = "00000000-0000-4000-8000-000000000001" } }, FILE })
    assert.are.equal(404, res.status, res.body)
    assert.truthy(H.reason(res):find("Client", 1, true))
  end)

  it("refuses a body that is not multipart, or a broken one, with 400", function()
    refused(H.post(mock, "File/", { name = "letter.pdf" }), "multipart/form-data")
    local body = form{ { name = "json", data = meta() }, FILE }
    refused(post_form(mock, "File/", body:sub(1, -20)), "no closing boundary")
  end)

  it("answers a well-formed upload under v2 with the 404 of a path it does not have", function()
    local res = post_form(mock, "File/", { { name = "json", data = meta() }, FILE }, { version = "v2" })
    assert.are.equal(404, res.status, res.body)
    assert.are.equal(0, mock:stats().uploads)
  end)

  it("still wants a token: multipart stands in for application/json, nothing else does", function()
    assert.are.equal(401, post_form(mock, "File/", { FILE }, { auth = false }).status)
    local res = post_form(mock, "File/", { FILE }, { content_type = "text/plain" })
    assert.are.equal(401, res.status)
    -- A JSON endpoint still wants application/json (FAQ cause 2).
    res = post_form(mock, "Client/", { FILE })
    assert.are.equal(401, res.status)
    assert.truthy(select(2, H.reason(res)):find("application/json", 1, true))
  end)
end)

describe("mock server Message/ (secure messages)", function()
  local mock, p1, p2
  lazy_setup(function()
    mock = testing.server{ rate_limit = false, tls = false }
    p1, p2 = os.tmpname(), os.tmpname()
    write(p1, ("%PDF referral\r\n"):rep(300))
    write(p2, "notes\0\255")
  end)
  lazy_teardown(function()
    mock:stop()
    os.remove(p1)
    os.remove(p2)
  end)
  before_each(function() mock:reset() end)

  local function message(over)
    local m = { Header = { SendingFacility = "" },
      MessageContents = { { AttachedFileDetails = { Size = 5, Name = "a.pdf" } } } }
    for k, v in pairs(over or {}) do m[k] = v end
    return cjson.encode(m)
  end
  local A = { name = "file0", filename = "a.pdf", type = "application/pdf", data = "12345" }

  local function refused(res, what)
    assert.are.equal(400, res.status, res.body)
    assert.truthy(H.reason(res):find(what, 1, true), res.body)
  end

  it("accepts messageData and two attachments from requests-toolbelt, under v2 and v2.1", function()
    for _, v in ipairs{ "v2", "v2.1" } do
      local status, body, out = python(mock, PY_TOOLBELT_MESSAGE, H.url(mock, "Message/", v), p1, p2)
      assert.are.equal(200, status, out)
      assert.truthy(body.message.messageId)
    end
    local st = mock:stats()
    assert.are.equal(2, st.messages)
    assert.are.equal(4, st.uploads)
    local m = mock:admin("GET", "uploads").messages[1]
    assert.are.equal("referral.pdf", m.attachments[1].name)
    assert.are.equal(sha256_of(p1), m.attachments[1].sha256)
    assert.are.equal(sha256_of(p2), m.attachments[2].sha256)
    assert.are.equal("Ann", m.messageData.Client.Firstname)
  end)

  it("refuses an attachment whose size differs from its AttachedFileDetails.Size", function()
    refused(post_form(mock, "Message/", { { name = "messageData", data = message() },
      { name = "file0", filename = "a.pdf", data = "123456" } }), "the part has 6 bytes")
    assert.are.equal(0, mock:stats().uploads)
  end)

  for _, c in ipairs{
    { "a missing messageData part", { A }, "The messageData part is missing" },
    { "a missing Header.SendingFacility", { { name = "messageData", data = message{ Header = {} } }, A },
      "SendingFacility" },
    { "empty MessageContents", { { name = "messageData", data = message{ MessageContents = {} } }, A },
      "MessageContents is required" },
    { "a Size given as a string", { { name = "messageData", data = message{ MessageContents = {
      { AttachedFileDetails = { Size = "5", Name = "a.pdf" } } } } }, A }, "Size must be" },
    { "an entry without a Name", { { name = "messageData", data = message{ MessageContents = {
      { AttachedFileDetails = { Size = 5 } } } } }, A }, "Name is required" },
    { "a described file that is not attached", { { name = "messageData", data = message{ MessageContents = {
      { AttachedFileDetails = { Size = 5, Name = "b.pdf" } } } } }, A }, "no attached part" },
    { "an attachment not described", { { name = "messageData", data = message() }, A,
      { name = "file1", filename = "x.txt", data = "x" } }, "is not in MessageContents" },
    { "a part without a filename", { { name = "messageData", data = message() }, { name = "note", data = "hi" } },
      "has no filename" },
    { "a Client Gender not in M/F/U/O", { { name = "messageData", data = message{ Client = { Gender = "Female" } } },
      A }, "Gender" },
  } do
    it("refuses " .. c[1], function()
      refused(post_form(mock, "Message/", c[2]), c[3])
    end)
  end

  it("answers the restricted token (no advanced permissions) with the FAQ's 401 body", function()
    local res = post_form(mock, "Message/", { { name = "messageData", data = message() }, A },
      { access_token = mock.restricted_access_token })
    assert.are.equal(401, res.status)
    assert.are.same({ result = { { severity = 2, reason = "Not authorized for sending secure messages" } } },
      res.json)
  end)
end)
