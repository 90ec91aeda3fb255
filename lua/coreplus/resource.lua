--- The operations of a resource: `cp.clients:list{...}`, `cp.appointments:book{...}`, ...
--
-- Each field of a client (`cp.clients`, `cp.appointments`, ...) is one row of
-- the catalogue (`coreplus.catalogue`) bound to the client. It has the
-- operations its row lists, from `list`, `each`, `pages`, `all`, `get`,
-- `create`, `book`, `update`, `cancel`, `upload`, `send`, `changed_since`,
-- `next_free` and `find_or_create`; calling one it lacks raises, naming it.
-- Fields are sent in the documented forms (`coreplus.fields`) and each
-- operation at its documented version.
--
-- Parameters use the API's own names (`pageSize`, `startDate`,
-- `timezoneId`); a list value (`practitionerId = { a, b }`) becomes repeated
-- query keys; integers are sent as integers. A missing required parameter
-- or field, a `pageSize` over 100 and other misuse raise before any
-- request, at the caller's line. Failures the server or the network cause
-- return `nil, err` (`coreplus.errors`).
--
-- A page is a table:
--
--  - `items`: the records of this page (the list under the row's key, e.g. `clients`)
--  - `page`: its number (from 1); `page_size`: the page size
--  - `total`: `paging.totalRows` when the API gave it, else nil
--  - `raw`: the whole decoded body
--  - `received`: how many rows the server sent; `dropped`: how many of them
--   a filter the docs do not document excludes (the server ignored it):
--   those are not in `items`, and `total` is then nil (`coreplus.filters`)
-- @module coreplus.resource
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

--- How an operation is sent: `{key =, version =, versions =}`: its key
-- for the engine ("clients:list"), its pinned version (its own, else the
-- row's; nil: the client's `version`) and the versions the catalogue names
-- for it (the engine tries another when one has no route). Made once.
function _M.route(self, op)
  local r = self.routes[op]
  if r == nil then
    local spec = self.row[op]
    spec = type(spec) == "table" and spec or {}
    r = { key = self.name .. ":" .. op, version = spec.version or self.row.version,
      -- an operation that pins its own version is known only under what it names
      versions = spec.versions or (spec.version == nil and self.row.versions or nil) }
    self.routes[op] = r
  end
  return r
end

--- The API version an operation is pinned to: its own, else the row's, else
-- nil (the client's `version`).
function _M.version(self, op)
  return _M.route(self, op).version
end

-- Methods of every resource that are not operations: the helpers the
-- resource hands an operation to (pager, uploads, slots) ask the resource
-- itself, so that none of them requires this module.
local methods = {
  --- r:route(op): how `op` is sent (see route above).
  route = _M.route,
}

local function unwrap(self, decoded)
  local key = self.row.record
  if key and type(decoded) == "table" and type(decoded[key]) == "table" then
    return decoded[key]
  end
  return decoded
end

local ops = {}

--- A resource of a client (`cp.clients`, ...).
-- @type resource

--- One page: `r:list{pageNumber = 2, pageSize = 50}`.
-- @function resource:list
-- @tparam[opt] table params query parameters (the row's required ones too)
-- @treturn table a page (see above), or nil and an error
-- @usage local page, err = cp.clients:list{ pageNumber = 2, pageSize = 50 }
function ops.list(self, params)
  params = check_params(self, "list", params, self.row.list)
  return pager.page(self, params)
end

--- The pages in order, for a generic `for` loop (see the example).
-- Iterators ask for `pageSize = 100` (the API's maximum) unless given. Once
-- the first page has told the total, up to `concurrency` further pages are
-- fetched ahead, handed out in order, within the rate limit; memory stays
-- bounded by the pages in flight. A list without a total ends at a short or
-- empty page. The parameters are kept on every page.
--
-- A failure arrives as `false, err`, then the loop ends. Under Lua 5.4 the
-- fourth value closes the fetch-ahead when the loop is left early (`break`);
-- elsewhere call its `close()` (the fourth value returned).
-- @function resource:pages
-- @tparam[opt] table params query parameters
-- @return an iterator yielding a page, or `false, err`, then nil
-- @usage for page, err in cp.clients:pages{} do
--   if not page then print(err) break end
--   for _, c in ipairs(page.items) do print(c.clientId) end
-- end
function ops.pages(self, params)
  params = check_params(self, "pages", params, self.row.list)
  return pager.pages(self, params)
end

--- Every record across the pages, fetched ahead as `pages` does, for a
-- generic `for` loop (see the example). An iterator cannot return `nil, err`, so
-- a failure raises the error object (catch it with `pcall`, or use `pages`).
-- @function resource:each
-- @tparam[opt] table params query parameters
-- @return an iterator yielding one record at a time
-- @usage for a in cp.appointments:each{ startDate = d, endDate = d, timezoneId = tz } do
--   print(a.appointmentId)
-- end
function ops.each(self, params)
  params = check_params(self, "each", params, self.row.list)
  return pager.each(self, params)
end

--- Every record in one table.
-- @function resource:all
-- @tparam[opt] table params query parameters
-- @treturn table the records, or nil and an error
-- @usage local locations, err = cp.locations:all()
function ops.all(self, params)
  params = check_params(self, "all", params, self.row.list)
  return pager.all(self, params)
end

--- One record by id: `GET <path><id>`. The id is escaped as one path
-- segment (`/`, `?`, `#`, `..` can never change which resource is addressed).
-- @function resource:get
-- @tparam string|number id the record's id
-- @tparam[opt] table params query parameters
-- @treturn table the record (unwrapped from `{"client": {...}}` style
--  envelopes), or nil and an error (`not_found` for an unknown id)
-- @usage local c, err = cp.clients:get("3f1c...")
function ops.get(self, id, params)
  local segment = url.segment(id, "id")
  params = check_params(self, "get", params, self.row.get)
  local decoded, err = self.engine:call("GET", self.row.path .. segment,
    { query = params, route = _M.route(self, "get") })
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
  -- a booking answered without its id may still have been made: unknown outcome
  local expect = op == "book" and self.row.record and self.row.record .. "Id" or nil
  local decoded, err = self.engine:call("POST", path, { body = body, route = _M.route(self, op), expect = expect })
  if not decoded then return nil, err end
  return unwrap(self, decoded)
end

--- Creates a record: `POST <path>` with `fields` as the JSON body. The
-- row's required fields are checked first (clients: `firstName`,
-- `lastName`, `dateOfBirth`). A POST whose outcome is unknown (the
-- connection broke after sending) is never repeated: the error then has
-- `outcome = "unknown"`.
-- @function resource:create
-- @tparam table fields the record
-- @treturn table the created record (unwrapped), or nil and an error
-- @usage local c, err = cp.clients:create{ firstName = "Ada", lastName = "Lovelace",
--   dateOfBirth = "1990-12-10" }
function ops.create(self, fields)
  return post(self, "create", self.row.path, fields)
end

--- Books an appointment: `POST Appointment/`. Required: `startDateTime`,
-- `endDateTime`, `practitioner` (`{practitionerId = ...}`), `locationId`,
-- `clients` (`{{clientId = ...}}`). A taken slot comes back from coreplus
-- as a 200 whose `result[]` says so: that is an error of kind `conflict`.
-- Never repeated when its outcome is unknown (`err.outcome = "unknown"`).
-- @function resource:book
-- @tparam table fields the appointment
-- @treturn table the appointment, or nil and an error
-- @usage local appt, err = cp.appointments:book{ startDateTime = slot.startDateTime,
--   endDateTime = slot.endDateTime, practitioner = { practitionerId = slot.practitionerId },
--   locationId = slot.locationId, clients = { { clientId = client_id } } }
-- if not appt and err.kind == "conflict" then ... end
function ops.book(self, fields)
  return post(self, "book", self.row.path, fields)
end

--- Updates an appointment: a `POST` of `fields` to `Appointment/<id>/`
-- (observed, not documented by coreplus: see docs/decisions.md).
-- @function resource:update
-- @tparam string id the appointment's id
-- @tparam table fields the fields to change
-- @treturn table the appointment, or nil and an error
function ops.update(self, id, fields)
  local segment = url.segment(id, "id")
  return post(self, "update", self.row.path .. segment .. "/", fields)
end

--- Cancels an appointment: a `POST` of `{appointmentId = id, deleted = true}`
-- to `Appointment/` (as observed clients do); extra fields such as `notes`
-- ride along.
-- @function resource:cancel
-- @tparam string id the appointment's id
-- @tparam[opt] table fields more fields for the body
-- @treturn table the answer (unwrapped), or nil and an error
-- @usage assert(cp.appointments:cancel(appt.appointmentId, { notes = "moved" }))
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
  local method = methods[key]
  if method then return method end
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

--- Binds a catalogue row to a client's engine (the client does this for
-- every row; there is no need to call it).
-- @local
function _M.new(engine, name, row)
  return setmetatable({ engine = engine, name = name, row = row, routes = {} }, mt)
end

return _M
