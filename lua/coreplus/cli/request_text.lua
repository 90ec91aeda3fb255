--- What an integrator's own program sends, read from the text they paste:
-- a curl command line, a block of headers (raw HTTP, `curl -v`'s `> `
-- lines, a Python or JSON dict of headers), or an Authorization value
-- alone. `coreplus explain` checks the result (coreplus.cli.request_check).
--
--   parse(text) -> { kind = "curl" | "headers" | "value", authorization =,
--     headers = {lower-case name = value} | nil (not given),
--     url = | nil, method = | nil, notes = {...} }
local pairs = pairs
local concat = table.concat

local _M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- ===== shell words =====

local ANSI = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ["'"] = "'", ['"'] = '"' }

--- The words of a POSIX shell command line: quotes ('...', "...", $'...'),
-- backslash escapes and line continuations; nil, why for an open quote.
function _M.words(line)
  local out, cur, i, n, started = {}, {}, 1, #line, false
  while i <= n do
    local c = line:sub(i, i)
    if c == "\\" and line:sub(i + 1, i + 1) == "\n" then
      i = i + 2
    elseif c == "\\" then
      cur[#cur + 1], started, i = line:sub(i + 1, i + 1), true, i + 2
    elseif c == "'" then
      local e = line:find("'", i + 1, true)
      if not e then return nil, "a quote (') is not closed" end
      cur[#cur + 1], started, i = line:sub(i + 1, e - 1), true, e + 1
    elseif c == "$" and line:sub(i + 1, i + 1) == "'" then
      local j = i + 2
      while j <= n and line:sub(j, j) ~= "'" do
        if line:sub(j, j) == "\\" then
          cur[#cur + 1] = ANSI[line:sub(j + 1, j + 1)] or line:sub(j + 1, j + 1)
          j = j + 2
        else
          cur[#cur + 1] = line:sub(j, j)
          j = j + 1
        end
      end
      if j > n then return nil, "a quote ($') is not closed" end
      started, i = true, j + 1
    elseif c == '"' then
      local j = i + 1
      while j <= n and line:sub(j, j) ~= '"' do
        local d = line:sub(j, j)
        if d == "\\" and line:sub(j + 1, j + 1):find('^["\\$`\n]') then
          if line:sub(j + 1, j + 1) ~= "\n" then cur[#cur + 1] = line:sub(j + 1, j + 1) end
          j = j + 2
        else
          cur[#cur + 1] = d
          j = j + 1
        end
      end
      if j > n then return nil, 'a quote (") is not closed' end
      started, i = true, j + 1
    elseif c:find("%s") then
      if started then out[#out + 1] = concat(cur); cur, started = {}, false end
      i = i + 1
    else
      cur[#cur + 1], started, i = c, true, i + 1
    end
  end
  if started then out[#out + 1] = concat(cur) end
  return out
end

-- ===== curl =====

-- curl's options that take a value (short and long), beyond those read here.
local TAKES = {}
for o in ([[-o --output -e --referer -b --cookie -c --cookie-jar -w --write-out -m --max-time
  --connect-timeout --cacert --capath -E --cert --key --cert-type --key-type -x --proxy --resolve --retry
  --retry-delay --retry-max-time -r --range -K --config --limit-rate -y --speed-time -Y --speed-limit
  --interface --max-redirs -z --time-cond --noproxy -U --proxy-user --ciphers --connect-to -D --dump-header
  --trace --trace-ascii --stderr -Q --quote --unix-socket --url-query --variable --expand-url
  --tls-max --proto --proto-redir -P --ftp-port -t --telnet-option --dns-servers --local-port]]):gmatch("%S+") do
  TAKES[o] = true
end
local SHORT_VALUE = { X = "request", H = "header", A = "user-agent", d = "data", F = "form", u = "user",
  T = "upload-file" }
for c in ("oebcwmExrKyYzUDQPt"):gmatch(".") do SHORT_VALUE[c] = SHORT_VALUE[c] or "other" end
local SHORT_FLAG = { G = "get", I = "head" }
local DATA = { data = true, ["data-raw"] = true, ["data-binary"] = true, ["data-ascii"] = true,
  ["data-urlencode"] = true }

-- One "Name: value" line into h (white space around the value is not part
-- of it, as HTTP reads it); true when the line was a header.
local function header_into(h, line)
  local name, value = line:match("^%s*([%w-]+)%s*:%s*(.-)%s*$")
  if name then h[name:lower()] = value; return true end
  -- curl's "Name;" sends the header empty
  local empty = line:match("^%s*([%w-]+)%s*;%s*$")
  if empty then h[empty:lower()] = ""; return true end
  return false
end

local function parse_curl(words)
  local r = { kind = "curl", notes = {}, headers = {} }
  local set, data, form, get, head, upload = {}, {}, false, false, false, false
  local ua, user
  local function option(name, value)
    if name == "request" then r.method = value
    elseif name == "header" then header_into(set, value)
    elseif name == "user-agent" then ua = value
    elseif DATA[name] then data[#data + 1] = value
    elseif name == "json" then data[#data + 1] = value; set["content-type"] = set["content-type"] or
        "application/json"
    elseif name == "form" or name == "form-string" then form = true
    elseif name == "user" then user = value
    elseif name == "upload-file" then upload = true
    elseif name == "url" then r.url = r.url or value
    elseif name == "oauth2-bearer" then set.authorization = set.authorization or ("Bearer " .. value)
    end
  end
  local i = 2
  while i <= #words do
    local w = words[i]
    local long, attached = w:match("^%-%-([%w-]+)=(.*)$")
    if not long then long = w:match("^%-%-([%w-]+)$") end
    if long then
      local needs = TAKES["--" .. long] or DATA[long] or ({ request = 1, header = 1, ["user-agent"] = 1,
        json = 1, form = 1, ["form-string"] = 1, user = 1, ["upload-file"] = 1, url = 1, ["oauth2-bearer"] = 1 })[long]
      if long == "get" then get = true elseif long == "head" then head = true end
      if needs then
        local value = attached
        if value == nil then i = i + 1; value = words[i] or "" end
        option(long, value)
      end
    elseif w:match("^%-%a") then
      local j = 2
      while j <= #w do
        local c = w:sub(j, j)
        if SHORT_FLAG[c] == "get" then get = true elseif SHORT_FLAG[c] == "head" then head = true end
        local takes = SHORT_VALUE[c]
        if takes then
          local value = w:sub(j + 1)
          if value == "" then i = i + 1; value = words[i] or "" end
          option(takes, value)
          break
        end
        j = j + 1
      end
    elseif not r.url then
      r.url = w
    end
    i = i + 1
  end
  if get and #data > 0 and r.url then
    r.url = r.url .. (r.url:find("?", 1, true) and "&" or "?") .. concat(data, "&")
    data = {}
  end
  r.method = r.method or (head and "HEAD") or ((#data > 0 or form) and "POST") or (upload and "PUT") or "GET"
  -- What curl adds by itself.
  if set["user-agent"] == nil then
    set["user-agent"] = ua or "curl/<version>"
    if not ua then r.notes[#r.notes + 1] = "curl sends its own User-Agent (curl/<version>) unless -A is given" end
  end
  if set["content-type"] == nil and form then set["content-type"] = "multipart/form-data" end
  if set["content-type"] == nil and #data > 0 then set["content-type"] = "application/x-www-form-urlencoded" end
  if set.authorization == nil and user then set.authorization = "Basic (from -u)" end
  for k, v in pairs(set) do if v ~= "" then r.headers[k] = v end end
  r.authorization = r.headers.authorization
  return r
end

-- ===== header blocks =====

local function parse_headers(text)
  local r = { kind = "headers", notes = {}, headers = {} }
  local lines = 0
  if text:match("^%s*{") then
    -- a dict of headers (Python, JSON): 'Name': 'value'
    for name, value in text:gmatch("[\"']([%w-]+)[\"']%s*:%s*[\"']([^\"']*)[\"']") do
      r.headers[name:lower()] = value
      lines = lines + 1
    end
  else
    for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
      local line = raw:gsub("\r$", ""):gsub("^[><] ", "")
      local method, target = line:match("^%s*(%u+)%s+(%S+)%s+HTTP/[%d.]+%s*$")
      if method then
        r.method, r.url = method, target
        lines = lines + 1
      elseif header_into(r.headers, line) then
        lines = lines + 1
      end
    end
  end
  -- One header line alone says nothing of the others.
  if lines < 2 then r.kind, r.headers = "value", nil end
  local host = r.headers and r.headers.host
  if r.url and r.url:sub(1, 1) == "/" then
    if host then
      r.url = "https://" .. host .. r.url
      r.notes[#r.notes + 1] = "the request line gives a path: the URL is taken as https://" .. host .. " + that path"
    else
      r.url = nil
      r.notes[#r.notes + 1] = "the request line gives a path and there is no Host header: the URL is unknown"
    end
  end
  r.authorization = r.headers and r.headers.authorization or (r.kind == "value" and text:match(
    "^%s*[Aa]uthorization%s*:%s*(.-)%s*$")) or nil
  return r
end

--- parse(text) -> the request (see above), or nil, why.
function _M.parse(text)
  text = trim(text or "")
  if text == "" then return nil, "nothing to explain: give a header value, a header block or a curl command line" end
  local line = text:gsub("^%$%s+", "")
  if line:match("^curl%s") then
    local words, why = _M.words(line)
    if not words then return nil, "the curl command line cannot be read: " .. why end
    return parse_curl(words)
  end
  if text:find("\n") or text:match("^[%w-]+%s*:") or text:match("^{") or text:match("^%u+%s+%S+%s+HTTP/") then
    local r = parse_headers(text)
    if r.authorization or r.url then return r end
  end
  return { kind = "value", notes = {}, authorization = text }
end

return _M
