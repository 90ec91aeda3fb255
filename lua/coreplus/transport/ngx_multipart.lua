--- multipart/form-data for the OpenResty transport (RFC 7578), as the C core
-- sends it with libcurl's MIME API: the same parts, {name=, data= | path=,
-- filename=, type=}. A part's file is sent from disk a piece at a time while
-- the request is written, never read whole.
-- luacheck: std luajit+ngx_lua
local ngx = ngx
local type, ipairs, tostring = type, ipairs, tostring
local format, find = string.format, string.find
local concat = table.concat
local open = io.open

local _M = {}

local CHUNK = 64 * 1024

-- Unique enough that no part's bytes contain it by chance: it need not be
-- secret, only absent from the data.
local function boundary()
  return "------------------------coreplus" .. ngx.md5(format("%.6f %s %s", ngx.now(), tostring(ngx.worker.pid()),
    tostring(math.random())))
end

local function quoted(v)
  if find(v, '[\r\n%z"]') then return nil end
  return v
end

--- encode(parts) -> content_type, length, pieces | nil, message.
-- pieces: strings, and {path=, size=} for files.
function _M.encode(parts)
  local b = boundary()
  local pieces, length = {}, 0
  local function add(s) pieces[#pieces + 1] = s; length = length + #s end
  for i, p in ipairs(parts) do
    local name = type(p.name) == "string" and quoted(p.name)
    if not name then return nil, format("part %d: a name without CR, LF, NUL or '\"' is needed", i) end
    local head = { "--" .. b, format('Content-Disposition: form-data; name="%s"', name) }
    if p.filename ~= nil then
      local fname = type(p.filename) == "string" and quoted(p.filename)
      if not fname then return nil, format("part %d: bad filename", i) end
      head[2] = head[2] .. format('; filename="%s"', fname)
    end
    if p.type ~= nil then head[#head + 1] = "Content-Type: " .. tostring(p.type) end
    add(concat(head, "\r\n") .. "\r\n\r\n")
    if p.path ~= nil then
      local f, why = open(p.path, "rb")
      if not f then return nil, format("part %d: %s", i, tostring(why)) end
      local size = f:seek("end")
      f:close()
      pieces[#pieces + 1] = { path = p.path, size = size }
      length = length + size
    else
      add(type(p.data) == "string" and p.data or "")
    end
    add("\r\n")
  end
  add("--" .. b .. "--\r\n")
  return "multipart/form-data; boundary=" .. b, length, pieces
end

--- send(sock, pieces) -> true | nil, err: writes the body.
function _M.send(sock, pieces)
  for _, piece in ipairs(pieces) do
    if type(piece) == "string" then
      local ok, err = sock:send(piece)
      if not ok then return nil, err end
    else
      local f, why = open(piece.path, "rb")
      if not f then return nil, tostring(why) end
      local left = piece.size
      while left > 0 do
        local data = f:read(left < CHUNK and left or CHUNK)
        if not data then f:close(); return nil, "the file got shorter while it was sent" end
        local ok, err = sock:send(data)
        if not ok then f:close(); return nil, err end
        left = left - #data
      end
      f:close()
    end
  end
  return true
end

return _M
