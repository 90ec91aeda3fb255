--- `--dry-run`: the request a write would send, printed instead of sent.
--
-- The client is built as usual but with a transport that records each
-- request and answers 200 {}; so the library still checks the fields, builds
-- the URL and encodes the body, and what is printed is what would be sent.
-- The token is signed as the library would sign it and shown masked.
-- (The context builds this transport: this module reads nothing of it, so
-- that calls go one way.)
local core = require "coreplus.core"
local sign = require("coreplus.transport.token").sign
local cjson = require "cjson.safe"
local output = require "coreplus.cli.output"

local ipairs = ipairs
local pairs = pairs
local type = type
local tostring = tostring
local format = string.format

local _M = {}

--- A transport that keeps what it is asked to send in `seen`.
function _M.transport(seen)
  return {
    name = "dry-run",
    request = function(opts)
      seen[#seen + 1] = opts
      return { status = 200, headers = {}, body = "{}", elapsed = 0 }
    end,
  }
end

local function token_of(ctx, opts)
  local ok, token = pcall(sign, opts, ctx.sys.now())
  return ok and output.mask(token) or "(not signed: " .. output.strip_position(token) .. ")"
end

--- One recorded request as {method, url, headers, body}; credentials never.
function _M.describe(ctx, opts)
  local headers = { Authorization = "JwToken " .. token_of(ctx, opts), Accept = "application/json",
    ["Content-Type"] = "application/json",
    ["User-Agent"] = opts.user_agent or ("lua-coreplus/" .. core.version .. " (the library's default)") }
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local body = opts.body
  if opts.multipart then
    -- the boundary is chosen by libcurl when the request is really sent
    headers["Content-Type"] = "multipart/form-data; boundary=..."
    body = {}
    for i, p in ipairs(opts.multipart) do
      local size = p.data and #p.data
      if p.path then
        local f = io.open(p.path, "rb")
        size = f and f:seek("end")
        if f then f:close() end
      end
      body[i] = { name = p.name, filename = p.filename, type = p.type, path = p.path, bytes = size,
        json = p.type == "application/json" and p.data and cjson.decode(p.data) or nil }
    end
  end
  if type(body) == "string" then
    local ct = tostring(headers["Content-Type"]):lower()
    local decoded = ct:find("json", 1, true) and cjson.decode(body)
    body = decoded or format("(%d bytes of %s)", #body, headers["Content-Type"])
  end
  return { method = opts.method, url = opts.url, headers = headers, body = body }
end

--- Prints every recorded request; returns the exit status.
function _M.print(ctx, seen)
  local fmt = ctx:format()
  for _, opts in ipairs(seen) do
    local r = _M.describe(ctx, opts)
    if fmt == "table" then
      ctx:print(r.method .. " " .. r.url)
      for _, k in ipairs({ "Authorization", "Content-Type", "Accept", "User-Agent" }) do
        ctx:print(k .. ": " .. tostring(r.headers[k]))
      end
      if r.body ~= nil then
        ctx:print("")
        ctx:print(type(r.body) == "table" and output.json(r.body) or r.body)
      end
    else
      ctx:print(output.json(r))
    end
  end
  if fmt == "table" then ctx:print("(dry run: nothing was sent)") end
  return 0
end

return _M
