-- The mock's multipart/form-data reader, outside nginx: bodies made by
-- independent producers (python3-requests' files=, requests-toolbelt's
-- MultipartEncoder, the encoder coreplus's docs recommend) read back byte
-- for byte, whatever the chunking; malformed bodies refused by name.
-- (curl -F is the producer in spec/mock_uploads_spec.lua, through nginx.)
local multipart = require "coreplus.testing.mock.multipart"

local PY = "/usr/bin/python3"

local F = dofile("spec/support/files.lua")
local q = F.q
local function read_file(path) return assert(F.read(path), path) end

-- Runs a Python producer that writes the body to argv[1] and prints the
-- Content-Type; returns content_type, body.
local function produce(script)
  local out = os.tmpname()
  local p = assert(io.popen(PY .. " -c " .. q(script) .. " " .. q(out) .. " 2>&1"))
  local ct = p:read("a"):gsub("%s+$", "")
  assert(p:close(), ct)
  local body = read_file(out)
  os.remove(out)
  return ct, body
end

-- Every byte value, CR LF pairs, a fake delimiter line and dashes.
local NASTY = [[
import sys
b = bytes(range(256)) * 3 + b"\r\n--\r\n--x\r\n\r\n" + b"-" * 100
]]

local REQUESTS = NASTY .. [[
import requests
r = requests.Request("POST", "http://127.0.0.1/", files={
  "json": (None, '{"name":"letter.pdf","size":"9"}'),
  "File": ("letter.pdf", b, "text/plain"),
}).prepare()
open(sys.argv[1], "wb").write(r.body)
print(r.headers["Content-Type"])
]]

local TOOLBELT = NASTY .. [[
from requests_toolbelt import MultipartEncoder
m = MultipartEncoder(fields=[("messageData", '{"Header":{}}'),
  ("file1", ("a.pdf", b, "application/pdf")), ("file2", ("empty.txt", b"", "text/plain"))])
open(sys.argv[1], "wb").write(m.to_string())
print(m.content_type)
]]

local function nasty()
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  local b = table.concat(t)
  return b:rep(3) .. "\r\n--\r\n--x\r\n\r\n" .. ("-"):rep(100)
end

-- A reader that hands out `n` bytes at a time.
local function chunked(s, n)
  local pos = 1
  return function()
    if pos > #s then return nil end
    local c = s:sub(pos, pos + n - 1)
    pos = pos + n
    return c
  end
end

local function parse(ct, body, n, opts)
  local b = assert(multipart.boundary(ct))
  return multipart.parse(n and chunked(body, n) or multipart.string_reader(body), b,
    opts or { keep = function() return true end })
end

describe("mock multipart reader", function()
  it("reads python3-requests' files= body byte for byte, in chunks of any size", function()
    local ct, body = produce(REQUESTS)
    for _, n in ipairs{ false, 1, 2, 3, 7, 64, 4096 } do
      local parts = assert(parse(ct, body, n or nil))
      assert.equal(2, #parts)
      assert.equal("json", parts[1].name)
      assert.is_nil(parts[1].filename)
      assert.equal('{"name":"letter.pdf","size":"9"}', parts[1].data)
      assert.equal("File", parts[2].name)
      assert.equal("letter.pdf", parts[2].filename)
      assert.equal("text/plain", parts[2].content_type)
      assert.equal(nasty(), parts[2].data, "chunk size " .. tostring(n))
      assert.equal(#nasty(), parts[2].size)
    end
  end)

  it("reads requests-toolbelt's MultipartEncoder body (the docs' advice), empty parts too", function()
    local ct, body = produce(TOOLBELT)
    local parts = assert(parse(ct, body, 5))
    assert.equal(3, #parts)
    assert.same({ "messageData", "file1", "file2" }, { parts[1].name, parts[2].name, parts[3].name })
    assert.equal(nasty(), parts[2].data)
    assert.equal("application/pdf", parts[2].content_type)
    assert.equal("", parts[3].data)
    assert.equal(0, parts[3].size)
  end)

  it("streams parts it is not told to keep into a sink, holding none of them", function()
    local ct, body = produce(REQUESTS)
    local got = {}
    local parts = assert(parse(ct, body, 10, {
      keep = function(p) return p.name == "json" end,
      sink = function(p) return function(s) got[#got + 1] = p.name .. ":" .. #s end end,
    }))
    assert.is_nil(parts[2].data)
    assert.equal(#nasty(), parts[2].size)
    assert.is_true(#got > 10)
    for _, g in ipairs(got) do assert.truthy(g:find("^File:%d+$")) end
  end)

  it("reads a body from a file in chunks (nginx buffers big bodies to a temp file)", function()
    local ct, body = produce(REQUESTS)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write(body); f:close()
    local fh = assert(io.open(path, "rb"))
    local parts = assert(multipart.parse(multipart.file_reader(fh), assert(multipart.boundary(ct)),
      { keep = function() return true end }))
    fh:close()
    os.remove(path)
    assert.equal(nasty(), parts[2].data)
  end)

  describe("Content-Type", function()
    it("takes the boundary plain or quoted, any case of the type", function()
      assert.equal("abc", multipart.boundary("multipart/form-data; boundary=abc"))
      assert.equal("a b:c", multipart.boundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'))
    end)

    for ct, why in pairs{
      ["application/json"] = "multipart/form-data",
      ["multipart/mixed; boundary=x"] = "multipart/form-data",
      ["multipart/form-data"] = "no boundary",
      ["multipart/form-data; boundary="] = "not 1 to 70",
      ["multipart/form-data; boundary=" .. ("x"):rep(71)] = "not 1 to 70",
      ["multipart/form-data; boundary=a<b"] = "not 1 to 70",
      ['multipart/form-data; boundary="ab "'] = "not 1 to 70",
      ['multipart/form-data; boundary="ab'] = "unterminated",
      ["multipart/form-data; boundary=a; boundary=b"] = "twice",
    } do
      it("refuses '" .. ct .. "'", function()
        local b, err = multipart.boundary(ct)
        assert.is_nil(b)
        assert.truthy(err:find(why, 1, true), err)
      end)
    end

    it("refuses a missing Content-Type", function()
      assert.truthy(select(2, multipart.boundary(nil)):find("missing", 1, true))
    end)
  end)

  describe("malformed bodies", function()
    local OK_PART = 'Content-Disposition: form-data; name="a"\r\n\r\nx'
    local cases = {
      { "no boundary at all", "hello", "no boundary line" },
      { "no closing boundary", "--B\r\n" .. OK_PART, "no closing boundary" },
      { "a part without headers", "--B\r\n\r\nx\r\n--B--", "no headers" },
      { "headers without the empty line", "--B\r\nContent-Disposition: form-data; name=\"a\"", "do not end" },
      { "no Content-Disposition", "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--", "no Content-Disposition" },
      { "a disposition that is not form-data", "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--",
        "must be form-data" },
      { "a part without a name", "--B\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nx\r\n--B--",
        "has no name" },
      { "a folded header", "--B\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--B--", "folded" },
      { "a header given twice", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n" ..
        "Content-Type: a/b\r\ncontent-type: a/c\r\n\r\nx\r\n--B--", "twice" },
      { "a header line without a colon",
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nnonsense\r\n\r\nx\r\n--B--", "cannot read the header" },
      { "base64 transfer encoding", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n" ..
        "Content-Transfer-Encoding: base64\r\n\r\neA==\r\n--B--", "base64" },
      { "a delimiter followed by text", "--B\r\n" .. OK_PART .. "\r\n--Bxyz\r\n", "followed by other text" },
      { "a body that ends in a boundary line", "--B\r\n" .. OK_PART .. "\r\n--B", "boundary line" },
    }
    for _, c in ipairs(cases) do
      it("refuses " .. c[1], function()
        for _, n in ipairs{ false, 1, 3 } do
          local parts, err = parse("multipart/form-data; boundary=B", c[2], n or nil)
          assert.is_nil(parts)
          assert.truthy(err and err:find(c[3], 1, true), tostring(err))
        end
      end)
    end

    it("accepts a preamble, transport padding and an epilogue (RFC 2046)", function()
      local body = "preamble text\r\n--B  \t\r\n" .. OK_PART .. "\r\n--B--\r\nepilogue"
      local parts = assert(parse("multipart/form-data; boundary=B", body, 2))
      assert.equal(1, #parts)
      assert.equal("x", parts[1].data)
    end)

    it("stops at the limits: parts kept in memory, the number of parts, header bytes", function()
      local limits = multipart.limits
      local saved = { limits.kept_bytes, limits.parts, limits.header_bytes }
      limits.kept_bytes, limits.parts, limits.header_bytes = 10, 2, 100
      local ok, e = pcall(function()
        local big = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n" .. ("x"):rep(11) .. "\r\n--B--"
        local _, err = parse("multipart/form-data; boundary=B", big, 4)
        assert.truthy(err:find("over 10 bytes", 1, true), err)
        local three = "--B\r\n" .. OK_PART .. "\r\n--B\r\n" .. OK_PART .. "\r\n--B\r\n" .. OK_PART .. "\r\n--B--"
        _, err = parse("multipart/form-data; boundary=B", three)
        assert.truthy(err:find("more than 2 parts", 1, true), err)
        local long = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: " .. ("p"):rep(200) ..
          "\r\n\r\nx\r\n--B--"
        _, err = parse("multipart/form-data; boundary=B", long, 7)
        assert.truthy(err:find("within 100 bytes", 1, true), err)
      end)
      limits.kept_bytes, limits.parts, limits.header_bytes = saved[1], saved[2], saved[3]
      assert(ok, e)
    end)
  end)
end)
