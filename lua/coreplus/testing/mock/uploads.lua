--- File/ and Message/: the two multipart operations (the developer docs' Client Files and Messages pages).
-- Their parts are checked as strictly as the docs describe them; the bytes
-- of files are counted and hashed, never kept, and every accepted upload is
-- recorded (GET /__mock/uploads) and counted in stats (uploads,
-- upload_bytes, messages).
local json = require "coreplus.testing.mock.json"
local store = require "coreplus.testing.mock.store"
local reply = require "coreplus.testing.mock.reply"
local records = require "coreplus.testing.mock.records"
local multipart = require "coreplus.testing.mock.multipart"
local digest = require "coreplus.testing.mock.digest"

local ngx = ngx
local obj = json.obj
local type, ipairs, tonumber, floor = type, ipairs, tonumber, math.floor
local format, lower, find = string.format, string.lower, string.find
local result, bad, not_found = reply.result, reply.bad, reply.not_found

local H = {}

local GUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

--- The body's parts: those named in `keep` in memory (the JSON parts), the
-- others counted and hashed (part.sha256). -> parts | nil, status, body
local function read_parts(ctx, keep)
  local boundary, err = multipart.boundary(ctx.source and ctx.source.content_type)
  if not boundary then return nil, bad(err) end
  local read, close = ctx.source.reader()
  local parts, perr = multipart.parse(read, boundary, {
    keep = function(p) return keep[p.name] end,
    sink = function(p)
      local d = digest.sha256()
      p.digest = d
      return d.update
    end,
  })
  close()
  if not parts then return nil, bad("The multipart body is not valid: " .. perr) end
  for _, p in ipairs(parts) do
    if p.digest then p.sha256, p.digest = p.digest.hex(), nil end
  end
  return parts
end

--- The one part called `name` -> part | nil, status, body
local function only(parts, name)
  local list = multipart.named(parts, name)
  if #list == 0 then return nil, bad("The " .. name .. " part is missing") end
  if #list > 1 then return nil, bad("The " .. name .. " part is given " .. #list .. " times") end
  return list[1]
end

local function json_part(part)
  local v = json.decode(part.data)
  if type(v) ~= "table" or v[1] ~= nil then
    return nil, bad("The " .. part.name .. " part must hold a JSON object")
  end
  return v
end

local function counted(files)
  local st = ngx.shared.mock_stats
  for _, f in ipairs(files) do
    st:incr("uploads", 1, 0)
    st:incr("upload_bytes", f.size, 0)
  end
end

local function is_false(v)
  return v == false or (type(v) == "string" and lower(v) == "false")
end

--- POST File/: part `json` {name, primaryDomainKey (the clientId), size (the
-- byte count as a string), entity "client", parentFolderId (optional),
-- isFolder false}, part `File` (filename + bytes).
function H.file_upload(ctx)
  local parts, st, body = read_parts(ctx, { json = true })
  if not parts then return st, body end
  for _, p in ipairs(parts) do
    if p.name ~= "json" and p.name ~= "File" then
      return bad("Unexpected part '" .. p.name .. "': File/ takes the parts json and File")
    end
  end
  local jp, jst, jbody = only(parts, "json")
  if not jp then return jst, jbody end
  local file, fst, fbody = only(parts, "File")
  if not file then return fst, fbody end
  if not file.filename or file.filename == "" then return bad("The File part has no filename") end
  local meta, jerr, jerr_body = json_part(jp)
  if not meta then return jerr, jerr_body end
  local err = reply.check_string(meta, "name", true, 255) or reply.check_string(meta, "primaryDomainKey", true)
    or reply.check_string(meta, "entity", true)
  if err then return bad(err) end
  if type(meta.size) ~= "string" or not find(meta.size, "^%d+$") then
    return bad("size must be the file's byte count as a string of digits, e.g. \"1234\"")
  end
  if tonumber(meta.size) ~= file.size then
    return bad(format("size is \"%s\" but the File part has %d bytes", meta.size, file.size))
  end
  if meta.entity ~= "client" then
    return bad("entity must be \"client\" (the only entity supported), not \"" .. meta.entity .. "\"")
  end
  local folder = meta.parentFolderId
  if json.is_null(folder) then folder = "" end
  if type(folder) ~= "string" or (folder ~= "" and not find(folder, GUID)) then
    return bad("parentFolderId must be a folder id (GUID) or empty for the client's root folder")
  end
  if meta.isFolder ~= nil and not is_false(meta.isFolder) then
    return bad("isFolder must be false: File/ uploads a file")
  end
  local client = records.client_record(ctx.data, meta.primaryDomainKey)
  if not client then return not_found("Client") end
  local id = store.new_id()
  store.put("file", id, { fileId = id, name = meta.name, size = file.size, sha256 = file.sha256,
    filename = file.filename, content_type = file.content_type, clientId = client.clientId,
    parentFolderId = folder }, true)
  counted{ file }
  return 200, obj{ "file", obj{ "fileId", id, "name", meta.name, "size", meta.size, "entity", "client",
    "primaryDomainKey", client.clientId, "parentFolderId", folder, "isFolder", false } }
end

local GENDERS = { M = true, F = true, U = true, O = true }
local MARITAL = { S = true, M = true, W = true, D = true, U = true }

--- The messageData's documented shape -> nil | reason
local function message_shape(m)
  if type(m.Header) ~= "table" or type(m.Header.SendingFacility) ~= "string" then
    return "Header.SendingFacility is required (a string, may be empty)"
  end
  local contents = m.MessageContents
  if type(contents) ~= "table" or contents[1] == nil then
    return "MessageContents is required: one entry per attached file"
  end
  for i, c in ipairs(contents) do
    local d = type(c) == "table" and c.AttachedFileDetails
    if type(d) ~= "table" then return format("MessageContents[%d].AttachedFileDetails is required", i) end
    if type(d.Name) ~= "string" or d.Name == "" then
      return format("MessageContents[%d].AttachedFileDetails.Name is required", i)
    end
    if type(d.Size) ~= "number" or d.Size < 0 or d.Size ~= floor(d.Size) then
      return format("MessageContents[%d].AttachedFileDetails.Size must be the file's byte count (a number)", i)
    end
  end
  local client = m.Client
  if client ~= nil and not json.is_null(client) then
    if type(client) ~= "table" then return "Client must be an object" end
    if client.Gender ~= nil and not GENDERS[client.Gender] then return "Client.Gender must be M, F, U or O" end
    if client.MaritalStatus ~= nil and not MARITAL[client.MaritalStatus] then
      return "Client.MaritalStatus must be S, M, W, D or U"
    end
  end
  return nil
end

--- POST Message/: part `messageData` (JSON: Header.SendingFacility,
-- MessageContents[].AttachedFileDetails {Size, Name}), one file part per
-- entry whose filename is Name and whose byte count is Size.
function H.message_send(ctx)
  if not ctx.token.can_send_messages then
    return result(401, "Not authorized for sending secure messages")
  end
  local parts, st, body = read_parts(ctx, { messageData = true })
  if not parts then return st, body end
  local mp, mst, mbody = only(parts, "messageData")
  if not mp then return mst, mbody end
  local m = json.decode(mp.data)
  if type(m) ~= "table" or m[1] ~= nil then return bad("The messageData part must hold a JSON object") end
  local why = message_shape(m)
  if why then return bad(why) end
  local files, used = {}, {}
  for _, p in ipairs(parts) do
    if p ~= mp then
      if not p.filename or p.filename == "" then
        return bad("Part '" .. p.name .. "' has no filename: parts besides messageData are attached files")
      end
      files[#files + 1] = p
    end
  end
  for i, c in ipairs(m.MessageContents) do
    local d, match = c.AttachedFileDetails, nil
    for _, f in ipairs(files) do
      if not used[f] and f.filename == d.Name then match = f; break end
    end
    if not match then
      return bad(format("MessageContents[%d] names the file '%s' but no attached part has that filename", i, d.Name))
    end
    if match.size ~= d.Size then
      return bad(format("MessageContents[%d] gives Size %d for '%s' but the part has %d bytes", i, d.Size, d.Name,
        match.size))
    end
    used[match] = true
  end
  for _, f in ipairs(files) do
    if not used[f] then
      return bad("The attached file '" .. f.filename .. "' (part '" .. f.name .. "') is not in MessageContents")
    end
  end
  local id = store.new_id()
  local attachments = {}
  for i, f in ipairs(files) do
    attachments[i] = { name = f.filename, part = f.name, size = f.size, sha256 = f.sha256,
      content_type = f.content_type }
  end
  store.put("message", id, { messageId = id, messageData = m, attachments = attachments }, true)
  ngx.shared.mock_stats:incr("messages", 1, 0)
  counted(files)
  return 200, obj{ "message", obj{ "messageId", id } }
end

--- Every accepted upload, oldest first: {files = [...], messages = [...]}.
function H.uploads()
  local out = { files = json.arr(), messages = json.arr() }
  for _, id in ipairs(store.ids("file")) do out.files[#out.files + 1] = store.get("file", id) end
  for _, id in ipairs(store.ids("message")) do out.messages[#out.messages + 1] = store.get("message", id) end
  return out
end

return H
