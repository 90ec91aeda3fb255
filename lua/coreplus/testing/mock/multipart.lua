--- A small, strict multipart/form-data reader (RFC 7578 over RFC 2046) for
-- the mock's File/ and Message/ endpoints. No Debian package parses
-- multipart for nginx's Lua module, so this one exists; it is a test peer
-- and refuses what a careful server would refuse rather than guessing.
--
-- It reads the body through a function, chunk by chunk, and keeps at most
-- one chunk plus a delimiter's length in memory, so a 50 MB part buffered
-- to a temp file by nginx is never read whole: a part's bytes either go to
-- a sink (counted, hashed) or are kept (small JSON parts), as the caller
-- chooses per part. Pure Lua (5.1 to 5.4, LuaJIT): the specs run it outside
-- nginx against bodies made by curl -F and python3-requests.
local type, ipairs, pcall, error = type, ipairs, pcall, error
local find, sub, lower, match, format = string.find, string.sub, string.lower, string.match, string.format
local concat = table.concat

local _M = {}

_M.limits = {
  header_bytes = 8192,     -- one part's header block
  headers = 16,            -- header lines per part
  parts = 64,
  kept_bytes = 1048576,    -- a part kept in memory (the JSON parts)
  padding = 64,            -- transport padding after a delimiter (RFC 2046)
  preamble = 65536,
}

local CHUNK = 65536

-- RFC 2046 bcharsnospace plus space (not last), 1 to 70 characters.
local BOUNDARY_CHARS = "^[%w'()+_,%-%./:=? ]+$"

--- params(s) -> {[lower name] = value} | nil, err
-- `; name=token` or `; name="quoted \" string"` pairs (RFC 7231 3.1.1.1).
local function params(s)
  local out, pos = {}, 1
  while true do
    pos = match(s, "^%s*()", pos)
    if pos > #s then return out end
    local name, p = match(s, "^;%s*([!#$%%&'*+%-%.%^_`|~%w]+)=()", pos)
    if not name then return nil, "cannot read the parameters in '" .. s .. "'" end
    local value
    if sub(s, p, p) == '"' then
      local buf, i = {}, p + 1
      while true do
        local c = sub(s, i, i)
        if c == "" then return nil, "unterminated quoted string in '" .. s .. "'" end
        if c == '"' then break end
        if c == "\\" then i = i + 1; c = sub(s, i, i) end
        buf[#buf + 1] = c
        i = i + 1
      end
      value, pos = concat(buf), i + 1
    else
      value, pos = match(s, "^([^;%s]*)()", p)
    end
    name = lower(name)
    if out[name] ~= nil then return nil, "parameter '" .. name .. "' given twice" end
    out[name] = value
  end
end
_M.params = params

--- boundary(content_type) -> boundary | nil, err
function _M.boundary(content_type)
  if type(content_type) ~= "string" then return nil, "the Content-Type header is missing" end
  local mt, rest = match(content_type, "^%s*([^;%s]+)%s*(.*)$")
  if not mt or lower(mt) ~= "multipart/form-data" then
    return nil, "the Content-Type must be multipart/form-data, not '" .. content_type .. "'"
  end
  local p, err = params(rest)
  if not p then return nil, "Content-Type: " .. err end
  local b = p.boundary
  if not b then return nil, "the Content-Type has no boundary parameter" end
  if #b > 70 or not find(b, BOUNDARY_CHARS) or sub(b, -1) == " " then
    return nil, "the boundary '" .. b .. "' is not 1 to 70 of the characters RFC 2046 allows"
  end
  return b
end

--- string_reader(s) / file_reader(fh): read functions for parse().
function _M.string_reader(s)
  local done = false
  return function()
    if done then return nil end
    done = true
    return s
  end
end

function _M.file_reader(fh)
  return function(n) return fh:read(n) end
end

-- One part's header block -> part | nil, err
local function part_of(block, n)
  local part = { headers = {}, size = 0 }
  local count = 0
  for line in (block .. "\r\n"):gmatch("(.-)\r\n") do
    count = count + 1
    if count > _M.limits.headers then return nil, format("part %d has more than %d headers", n, _M.limits.headers) end
    if find(line, "^[ \t]") then return nil, format("part %d: folded header lines are not allowed", n) end
    local name, value = match(line, "^([!#$%%&'*+%-%.%^_`|~%w]+):[ \t]*(.-)[ \t]*$")
    if not name then return nil, format("part %d: cannot read the header line '%s'", n, line) end
    name = lower(name)
    if part.headers[name] then return nil, format("part %d: header %s given twice", n, name) end
    part.headers[name] = value
  end
  local cd = part.headers["content-disposition"]
  if not cd then return nil, format("part %d has no Content-Disposition header", n) end
  local kind, rest = match(cd, "^([^;%s]+)%s*(.*)$")
  if not kind or lower(kind) ~= "form-data" then
    return nil, format("part %d: Content-Disposition must be form-data, not '%s'", n, cd)
  end
  local p, err = params(rest)
  if not p then return nil, format("part %d: Content-Disposition: %s", n, err) end
  if not p.name or p.name == "" then return nil, format("part %d: Content-Disposition has no name", n) end
  part.name, part.filename = p.name, p.filename
  part.content_type = part.headers["content-type"] or "text/plain"
  local cte = part.headers["content-transfer-encoding"]
  if cte and not ({ ["7bit"] = true, ["8bit"] = true, binary = true })[lower(cte)] then
    return nil, format("part %d ('%s'): Content-Transfer-Encoding %s is not supported", n, p.name, cte)
  end
  return part
end

-- The reader behind parse(); a limit passed inside an emitter raises a
-- table {multipart = message}, which parse() turns into nil, message.
local function read_parts(read, boundary, opts)
  local limits = _M.limits
  local delim = "\r\n--" .. boundary
  -- The body's first delimiter has no line break before it: add one.
  local buf, eof = "\r\n", false

  local function more()
    local c = read(CHUNK)
    if c == nil or c == "" then eof = true else buf = buf .. c end
  end
  local function fill(n)
    while #buf < n and not eof do more() end
    return #buf >= n
  end
  local function fail(msg) error({ multipart = msg }, 0) end

  -- Feeds emit() everything up to the next delimiter and drops the
  -- delimiter; false when the body ends first.
  local function to_delimiter(emit)
    while true do
      local i = find(buf, delim, 1, true)
      if i then
        if i > 1 then emit(sub(buf, 1, i - 1)) end
        buf = sub(buf, i + #delim)
        return true
      end
      if eof then return false end
      local keep = #delim - 1
      if #buf > keep then
        emit(sub(buf, 1, #buf - keep))
        buf = sub(buf, #buf - keep + 1)
      end
      more()
    end
  end

  -- After a delimiter: "--" closes the body (the epilogue is ignored);
  -- otherwise optional transport padding, then CRLF.
  local function after_delimiter()
    fill(2)
    if sub(buf, 1, 2) == "--" then return "close" end
    local pad = 0
    while true do
      if not fill(pad + 2) then fail("the body ends inside a boundary line") end
      local c = sub(buf, pad + 1, pad + 1)
      if c ~= " " and c ~= "\t" then break end
      pad = pad + 1
      if pad > limits.padding then fail("too much padding after a boundary") end
    end
    if sub(buf, pad + 1, pad + 2) ~= "\r\n" then
      fail("a boundary is followed by other text (a delimiter must end its line)")
    end
    buf = sub(buf, pad + 3)
  end

  local function header_block(n)
    fill(2)
    if sub(buf, 1, 2) == "\r\n" then fail(format("part %d has no headers", n)) end
    local e
    while true do
      e = find(buf, "\r\n\r\n", 1, true)
      if e or eof or #buf > limits.header_bytes + 4 then break end
      more()
    end
    if not e or e - 1 > limits.header_bytes then
      fail(format("part %d: the headers do not end with an empty line within %d bytes", n, limits.header_bytes))
    end
    local block = sub(buf, 1, e - 1)
    buf = sub(buf, e + 4)
    return block
  end

  local function emitter(part)
    if opts.keep and opts.keep(part) then
      local kept = {}
      part.kept = kept
      return function(s)
        part.size = part.size + #s
        if part.size > limits.kept_bytes then
          fail(format("part '%s' is over %d bytes", part.name, limits.kept_bytes))
        end
        kept[#kept + 1] = s
      end
    end
    local sink = opts.sink and opts.sink(part)
    return function(s)
      part.size = part.size + #s
      if sink then sink(s) end
    end
  end

  local preamble = 0
  if not to_delimiter(function(s)
    preamble = preamble + #s
    if preamble > limits.preamble then fail("the body does not start with the boundary") end
  end) then
    fail("the body holds no boundary line (--" .. boundary .. ")")
  end

  local parts = {}
  while after_delimiter() ~= "close" do
    local n = #parts + 1
    if n > limits.parts then fail("more than " .. limits.parts .. " parts") end
    local part, err = part_of(header_block(n), n)
    if not part then fail(err) end
    parts[n] = part
    if not to_delimiter(emitter(part)) then
      fail(format("the body ends inside part %d ('%s'): no closing boundary", n, part.name))
    end
    if part.kept then part.data, part.kept = concat(part.kept), nil end
  end
  return parts
end

--- parse(read, boundary, opts) -> parts | nil, err
-- read(n): the body's next bytes (any length), nil or "" at its end.
-- opts.keep(part) -> true: the part's bytes go to part.data (at most
--   limits.kept_bytes); otherwise opts.sink(part) (if given) returns a
--   function that receives them chunk by chunk. Every part has name,
--   filename (nil when the disposition has none), content_type (default
--   text/plain), headers ({[lower name] = value}) and size (bytes).
function _M.parse(read, boundary, opts)
  local ok, parts = pcall(read_parts, read, boundary, opts or {})
  if ok then return parts end
  if type(parts) == "table" and parts.multipart then return nil, parts.multipart end
  error(parts, 0)
end

--- named(parts, name) -> the parts with that form name, in order.
function _M.named(parts, name)
  local out = {}
  for _, p in ipairs(parts) do if p.name == name then out[#out + 1] = p end end
  return out
end

return _M
