--- Finding the client a person says they are, and creating one only when
-- none matches: `find_or_create(cp, fields) -> client, created | nil, err`.
-- It books web forms without duplicating clients (examples/book_from_form.lua,
-- the OpenResty booking page); `cp.clients:find_or_create(fields)` is the
-- same function with the clients resource in place of the client.
--
-- coreplus documents no search filter on Client/ (the developer docs' Client
-- pages). Third-party code sends `name=`, which a server may honour as a
-- substring, match some other way, or ignore and answer every client. So the
-- filter is only a hint:
--   1. the first page is asked for with `name = <last name>`: a last name is
--      inside the name however a server spells it ("First Last", "Last,
--      First", the last name alone);
--   2. each row is verified here: first name and last name (trimmed, case and
--      runs of spaces ignored) and the date of birth (its yyyy-mm-dd part);
--   3. when that page is the whole answer (totalRows, or a short page, says
--      so) it settles the question; otherwise (the filter was ignored and
--      this is the first page of every client, or many share the name) the
--      rest is read page by page, with the same hint, until a row matches;
--   4. only when no row matches is the client created.
-- The one thing taken on trust is an empty answer to the hint: it is read as
-- "no such client" (a server that ignores the filter answers every client).
local errors = require "coreplus.errors"
local raise = require("coreplus.misuse").raise

local type, ipairs, pairs = type, ipairs, pairs

local _M = {}

local PAGE_SIZE = require("coreplus.defaults").max_page_size   -- fewest requests per row read

local function squeeze(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%s+", " "))
end

local function folded(s)
  return type(s) == "string" and squeeze(s):lower() or nil
end

-- Raises at the caller's line: these are the caller's mistakes.
local function checked(cp, fields)
  if type(cp) ~= "table" or (type(cp.clients) ~= "table" and type(cp.row) ~= "table") then
    raise("bad argument #1 to 'find_or_create' (a coreplus client expected)")
  end
  if type(fields) ~= "table" then
    raise("bad argument #2 to 'find_or_create' (table of fields expected, got %s)", type(fields))
  end
  for _, name in ipairs{ "firstName", "lastName", "dateOfBirth" } do
    local v = fields[name]
    if type(v) ~= "string" or not v:find("%S") then
      raise("find_or_create: missing required field '%s'", name)
    end
  end
  if not squeeze(fields.dateOfBirth):match("^%d%d%d%d%-%d%d%-%d%d$") then
    raise("find_or_create: field 'dateOfBirth' must be yyyy-mm-dd")
  end
  for _, name in ipairs{ "email", "phone" } do
    if fields[name] ~= nil and type(fields[name]) ~= "string" then
      raise("find_or_create: field '%s' must be a string", name)
    end
  end
  return { first = folded(fields.firstName), last = folded(fields.lastName),
    dob = squeeze(fields.dateOfBirth) }
end

local function matches(row, want)
  return type(row) == "table" and folded(row.firstName) == want.first and folded(row.lastName) == want.last
    and type(row.dateOfBirth) == "string" and row.dateOfBirth:sub(1, 10) == want.dob
end

local function first_match(items, want)
  for _, row in ipairs(items) do
    if matches(row, want) then return row end
  end
  return nil
end

-- Whether the first page is all the server would give for this query: by
-- what it sent (rows the pager dropped as not matching count too).
local function whole_answer(page)
  local got = page.received or #page.items
  local total = page.server_total or page.total
  if total then return total <= got end
  return got < PAGE_SIZE
end

local function create(cp, fields)
  local sent = { firstName = squeeze(fields.firstName), lastName = squeeze(fields.lastName),
    dateOfBirth = squeeze(fields.dateOfBirth) }
  if fields.email and fields.email:find("%S") then sent.email = squeeze(fields.email) end
  if fields.phone and fields.phone:find("%S") then sent.phoneNumberMobile = squeeze(fields.phone) end
  local record, err = (cp.clients or cp):create(sent)
  if not record then return nil, err end
  if type(record) ~= "table" or type(record.clientId) ~= "string" then
    return nil, errors.new{ kind = "bad_response", method = "POST",
      message = "the created client came back without a clientId" }
  end
  -- The documented answer is {"client": {"clientId": ...}}: the row is what
  -- was sent plus what came back.
  local client = {}
  for k, v in pairs(sent) do client[k] = v end
  for k, v in pairs(record) do client[k] = v end
  return client, true
end

--- find_or_create(cp, fields) -> client, created | nil, err.
-- `fields`: firstName, lastName, dateOfBirth ("yyyy-mm-dd") required; email
-- and phone (sent as phoneNumberMobile) used only when creating. `client` is
-- the list row found, or the created record with the fields sent; `created`
-- says which. A create whose outcome is unknown is not repeated (err.outcome
-- = "unknown"): calling find_or_create again finds the client if it landed.
function _M.find_or_create(cp, fields)
  local want = checked(cp, fields)
  local hint = { name = squeeze(fields.lastName), pageSize = PAGE_SIZE }
  local clients = cp.clients or cp   -- a client, or its clients resource
  local page, err = clients:list(hint)
  if not page then return nil, err end
  local found = first_match(page.items, want)
  if found then return found, false end
  if not whole_answer(page) then
    hint.pageNumber = 2
    for more, perr in clients:pages(hint) do
      if not more then return nil, perr end
      found = first_match(more.items, want)
      if found then return found, false end
    end
  end
  return create(cp, fields)
end

return _M
