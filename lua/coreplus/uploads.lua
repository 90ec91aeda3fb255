--- Multipart operations: a client file (File/) and a secure message with
-- attachments (Message/). The library builds every part; a `path` is sent
-- from disk by the transport (the C core streams it with libcurl's MIME API),
-- never read whole here. Both are POSTs whose outcome may be unknown after a
-- failure: the engine never repeats them then (outcome = "unknown").
--
--   cp.files:upload{ clientId =, name =, data = | path =, parentFolderId = }
--   cp.messages:send(messageData, { { name =, data = | path = }, ... })
local cjson = require "cjson.safe"
local errors = require "coreplus.errors"
local misuse = require "coreplus.misuse"

local type = type
local ipairs = ipairs
local pairs = pairs
local tostring = tostring
local format = string.format
local raise = misuse.raise

local _M = {}

-- The size of one attachment ({name=, data=|path=}), checked against the
-- engine's max_upload: size | nil, err (a missing or unreadable file, too big).
local function measure(eng, a, what)
  if type(a) ~= "table" then raise("bad argument '%s' (table expected, got %s)", what, type(a)) end
  if type(a.name) ~= "string" or a.name == "" or a.name:find("[%c\"/\\]") then
    raise("%s: 'name' must be a file name without quotes, slashes or control characters", what)
  end
  if (a.data == nil) == (a.path == nil) then raise("%s: give either 'data' or 'path'", what) end
  local size
  if a.data ~= nil then
    if type(a.data) ~= "string" then raise("%s: 'data' must be a string", what) end
    size = #a.data
  else
    if type(a.path) ~= "string" then raise("%s: 'path' must be a string", what) end
    local f, why = io.open(a.path, "rb")
    if not f then
      return nil, errors.new{ kind = "validation", message = "cannot read " .. tostring(why),
        hint = "nothing was sent: check the file's path and permissions" }
    end
    size = f:seek("end")
    f:close()
    if not size then
      return nil, errors.new{ kind = "validation", message = "cannot read the size of " .. a.path }
    end
  end
  if size > eng.max_upload then
    return nil, errors.new{ kind = "too_large", message = format("%s is %d bytes, over max_upload (%d bytes)",
      a.name, size, eng.max_upload), hint = "nothing was sent: raise `max_upload` if coreplus accepts larger files" }
  end
  return size
end

local function file_part(name, a)
  return { name = name, filename = a.name, type = "text/plain", data = a.data, path = a.path }
end

local function unwrap(decoded, key)
  return type(decoded[key]) == "table" and decoded[key] or decoded
end

--- cp.files:upload{clientId=, name=, data=|path=, parentFolderId=} -> record | nil, err
function _M.upload(res, f)
  if type(f) ~= "table" then raise("bad argument to 'files:upload' (table of fields expected, got %s)", type(f)) end
  for _, k in ipairs{ "clientId", "name" } do
    if f[k] == nil or f[k] == "" then raise("files:upload: missing required field '%s'", k) end
  end
  for k in pairs(f) do
    if k ~= "clientId" and k ~= "name" and k ~= "data" and k ~= "path" and k ~= "parentFolderId" then
      raise("files:upload: unknown field '%s'", tostring(k))
    end
  end
  local eng = res.engine
  local size, err = measure(eng, f, "files:upload")
  if not size then return nil, err end
  local meta = { name = f.name, primaryDomainKey = f.clientId, size = tostring(size), entity = "client",
    parentFolderId = f.parentFolderId or "", isFolder = false }
  local decoded
  decoded, err = eng:call("POST", res.row.path, { route = res:route("upload"),
    multipart = { { name = "json", data = cjson.encode(meta), type = "application/json" }, file_part("File", f) } })
  if not decoded then return nil, err end
  return unwrap(decoded, "file")
end

--- cp.messages:send(messageData, attachments) -> record | nil, err.
-- MessageContents[i].AttachedFileDetails (Name, Size) is filled in from
-- attachments[i]; a message without MessageContents gets one per attachment.
function _M.send(res, data, attachments)
  if type(data) ~= "table" then raise("bad argument #1 to 'messages:send' (table expected, got %s)", type(data)) end
  if attachments ~= nil and type(attachments) ~= "table" then
    raise("bad argument #2 to 'messages:send' (list of attachments expected, got %s)", type(attachments))
  end
  attachments = attachments or {}
  local eng = res.engine
  local md = {}
  for k, v in pairs(data) do md[k] = v end
  md.Header = md.Header or { SendingFacility = "" }
  local contents = {}
  for i, c in ipairs(type(md.MessageContents) == "table" and md.MessageContents or {}) do contents[i] = c end
  local parts = {}
  for i, a in ipairs(attachments) do
    local size, err = measure(eng, a, format("attachment %d", i))
    if not size then return nil, err end
    local c = {}
    for k, v in pairs(contents[i] or {}) do c[k] = v end
    c.AttachedFileDetails = { Name = a.name, Size = size }
    contents[i] = c
    parts[#parts + 1] = file_part("File", a)
  end
  if #contents == 0 then raise("messages:send: the message has no MessageContents and no attachments") end
  md.MessageContents = contents
  local json, jerr = cjson.encode(md)
  if not json then raise("bad argument #1 to 'messages:send' (%s)", tostring(jerr)) end
  table.insert(parts, 1, { name = "messageData", data = json, type = "application/json" })
  local decoded, err = eng:call("POST", res.row.path, { route = res:route("send"),
    multipart = parts })
  if not decoded then return nil, err end
  return unwrap(decoded, "message")
end

return _M
