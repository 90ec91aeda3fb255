--- One resource of the catalogue (a row of catalogue.lua) bound to a
-- client's request engine: list, each, pages, all, get, create, book,
-- update, cancel, upload, send, changed_since, next_free, find_or_create —
-- whichever the row has. Calling an operation the row lacks raises, naming
-- it. Misuse raises at the caller's line (coreplus.misuse).
local pager = require "coreplus.pager"
local url = require "coreplus.url"
local misuse = require "coreplus.misuse"
local fields_mod = require "coreplus.fields"

local type = type
local pairs = pairs
local setmetatable = setmetatable
local raise = misuse.raise

local _M = {}

local MAX_PAGE_SIZE = require("coreplus.defaults").max_page_size

local function check_params(self, op, params, spec)
  if params ~= nil and type(params) ~= "table" then
    raise("bad argument to '%s:%s' (table of parameters expected, got %s)", self.name, op, type(params))
  end
  params = params or {}
  for _, name in ipairs(spec and spec.required or {}) do
    local v = params[name]
    if v == nil or v == "" then
      raise("%s:%s: missing required parameter '%s'", self.name, op, name)
    end
  end
  local number = params.pageNumber
  if number ~= nil and (type(number) ~= "number" or number < 1 or number % 1 ~= 0) then
    raise("%s:%s: parameter 'pageNumber' must be a positive integer", self.name, op)
  end
  local size = params.pageSize
  if size ~= nil then
    if type(size) ~= "number" or size < 1 or size % 1 ~= 0 then
      raise("%s:%s: parameter 'pageSize' must be a positive integer", self.name, op)
    end
    if size > MAX_PAGE_SIZE then
      raise("%s:%s: parameter 'pageSize' is %d, coreplus allows at most %d",
        self.name, op, size, MAX_PAGE_SIZE)
    end
  end
  return fields_mod.prepare(spec, params)
end

--- The API version of an operation: its own, else the row's, else nil (the
-- client's `version`).
function _M.version(self, op)
  local spec = self.row[op]
  return type(spec) == "table" and spec.version or self.row.version
end

local function unwrap(self, decoded)
  local key = self.row.record
  if key and type(decoded) == "table" and type(decoded[key]) == "table" then
    return decoded[key]
  end
  return decoded
end

local ops = {}

function ops.list(self, params)
  params = check_params(self, "list", params, self.row.list)
  return pager.page(self, params)
end

function ops.pages(self, params)
  params = check_params(self, "pages", params, self.row.list)
  return pager.pages(self, params)
end

function ops.each(self, params)
  params = check_params(self, "each", params, self.row.list)
  return pager.each(self, params)
end

function ops.all(self, params)
  params = check_params(self, "all", params, self.row.list)
  return pager.all(self, params)
end

function ops.get(self, id, params)
  local segment = url.segment(id, "id")
  params = check_params(self, "get", params, self.row.get)
  local decoded, err = self.engine:call("GET", self.row.path .. segment,
    { query = params, version = _M.version(self, "get") })
  if not decoded then return nil, err end
  return unwrap(self, decoded)
end

local function post(self, op, path, fields)
  if type(fields) ~= "table" then
    raise("bad argument to '%s:%s' (table of fields expected, got %s)", self.name, op, type(fields))
  end
  local spec = self.row[op]
  for _, name in ipairs(spec and spec.required or {}) do
    if fields[name] == nil or fields[name] == "" then
      raise("%s:%s: missing required field '%s'", self.name, op, name)
    end
  end
  local body = fields_mod.prepare(spec, fields)
  local decoded, err = self.engine:call("POST", path, { body = body, version = _M.version(self, op) })
  if not decoded then return nil, err end
  return unwrap(self, decoded)
end

function ops.create(self, fields)
  return post(self, "create", self.row.path, fields)
end

function ops.book(self, fields)
  return post(self, "book", self.row.path, fields)
end

function ops.update(self, id, fields)
  local segment = url.segment(id, "id")
  return post(self, "update", self.row.path .. segment .. "/", fields)
end

-- Cancelling posts {appointmentId, deleted = true} (as observed clients do);
-- extra fields such as notes ride along.
function ops.cancel(self, id, fields)
  url.segment(id, "id")
  if fields ~= nil and type(fields) ~= "table" then
    raise("bad argument to '%s:cancel' (table of fields expected, got %s)", self.name, type(fields))
  end
  local body = { appointmentId = id, deleted = true }
  for k, v in pairs(fields or {}) do body[k] = v end
  return post(self, "cancel", self.row.path, body)
end

-- Operations with a home of their own, bound here by name.
ops.upload = function(...) return require("coreplus.uploads").upload(...) end
ops.send = function(...) return require("coreplus.uploads").send(...) end
ops.changed_since = function(self, since, params)
  return pager.changed_since(self, check_params(self, "changed_since", params, self.row.list), since)
end
ops.next_free = function(...) return require("coreplus.slots").next_free(...) end
ops.find_or_create = function(self, f) return require("coreplus.client_match").find_or_create(self, f) end

local LIST_OPS = { list = true, pages = true, each = true, all = true }

local mt = {}
function mt.__index(self, key)
  local op = ops[key]
  if op then
    local row = self.row
    if (LIST_OPS[key] and row.list) or row[key] then
      return op
    end
    raise("coreplus: %s has no operation '%s'", self.name, key)
  end
  return nil
end

function mt.__tostring(self)
  return "coreplus resource " .. self.name .. " (" .. self.row.path .. ")"
end

function _M.new(engine, name, row)
  return setmetatable({ engine = engine, name = name, row = row }, mt)
end

return _M
