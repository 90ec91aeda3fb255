--- The API's resources: which paths exist and which handler answers them.
-- Handlers (directory, booking, billing) return (status, value) where value
-- is encoded by coreplus.testing.mock.json; they never touch ngx.say
-- themselves so that faults can rewrite any response.
local json = require "coreplus.testing.mock.json"
local reply = require "coreplus.testing.mock.reply"
local directory = require "coreplus.testing.mock.directory"
local booking = require "coreplus.testing.mock.booking"
local billing = require "coreplus.testing.mock.billing"
local uploads = require "coreplus.testing.mock.uploads"

local match, lower = string.match, string.lower
local type, ipairs, pairs = type, ipairs, pairs
local result, bad = reply.result, reply.bad

local _M = {}

_M.result = result

local H = {}
for _, m in ipairs{ directory, booking, billing, uploads } do
  for k, f in pairs(m) do H[k] = f end
end

------------------------------------------------------------------------
-- Routing
------------------------------------------------------------------------

-- Which operation lives where: the one table of resources, methods and the
-- API versions that answer them (the developer docs' versions per operation).
-- Operations the docs show only under v2 (ClientFamily, AppointmentType
-- POST, Invoice, Payment) are only there; File only under v2.1, the one
-- version its page shows; the rest, seen under both in the docs and in
-- third-party code, under both. `versions = "lax"` answers every row under
-- both. `body` is how the request body is read: "json" (default) or
-- "multipart". `undocumented` names the query filters the mock honours
-- that the docs do not document (third-party code sends them): the switch
-- ignore_filters makes the mock ignore them, as a server that follows
-- only the docs would (coreplus.testing.mock.switches).
local BOTH, V2, V21 = { "v2", "v2.1" }, { "v2" }, { "v2.1" }
local OPERATIONS = {
  --  resource             path          method  handler               versions
  { "client",           "collection", "GET",  "client_list",        BOTH,     -- §4.1 #1
    undocumented = { "name" } },
  { "client",           "collection", "POST", "client_create",      BOTH },   -- #2
  { "client",           "item",       "GET",  "client_get",         BOTH },   -- #3
  { "clientfamily",     "collection", "POST", "family_create",      V2 },     -- #4
  { "practitioner",     "collection", "GET",  "practitioner_list",  BOTH },   -- #5
  { "location",         "collection", "GET",  "location_list",      BOTH },   -- #6
  { "appointmenttype",  "collection", "GET",  "apptype_list",       BOTH },   -- #7
  { "appointmenttype",  "collection", "POST", "apptype_create",     V2 },     -- #8
  { "availabilityslot", "collection", "GET",  "slot_list",          BOTH },   -- #9
  { "appointment",      "collection", "GET",  "appointment_list",   BOTH,     -- #10
    undocumented = { "clientId", "practitionerId", "locationId" } },
  { "appointment",      "item",       "GET",  "appointment_get",    BOTH },   -- #11
  { "appointment",      "collection", "POST", "appointment_post",   BOTH },   -- #12, #14
  { "appointment",      "item",       "POST", "appointment_update", BOTH },   -- #13, #14
  { "invoice",          "item",       "GET",  "invoice_get",        V2 },     -- #15
  { "invoice",          "collection", "GET",  "invoice_list",       V2 },     -- #16
  { "payment",          "collection", "POST", "payment_create",     V2 },     -- #17
  { "payment",          "collection", "GET",  "payment_list",       V2 },     -- #18
  { "file",             "collection", "POST", "file_upload",        V21, body = "multipart" },  -- #19
  { "message",          "collection", "POST", "message_send",       BOTH, body = "multipart" }, -- #20
}
_M.operations = OPERATIONS

-- index[lax][version][resource][path][method] = operation
local index = { [false] = {}, [true] = {} }
for _, op in ipairs(OPERATIONS) do
  local res, path, method, handler, versions = op[1], op[2], op[3], op[4], op[5]
  op.handler = assert(H[handler], handler)
  for lax, list in pairs{ [false] = versions, [true] = BOTH } do
    for _, v in ipairs(list) do
      local r = index[lax][v] or {}
      index[lax][v] = r
      r[res] = r[res] or {}
      r[res][path] = r[res][path] or {}
      r[res][path][method] = op
    end
  end
end

--- route(uri) -> version, resource, id | nil
-- Paths are /API/Core/<version>/<Resource>/[<id>[/]], any letter case.
function _M.route(uri)
  local ver, res, rest = match(uri, "^/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/([vV][%d.]+)/([%a]+)(.*)$")
  if not ver then return nil end
  ver, res = lower(ver), lower(res)
  if rest == "" or rest == "/" then return ver, res, nil end
  local id = match(rest, "^/([^/]+)/?$")
  if not id then return nil end
  return ver, res, id
end

local NO_RESOURCE = "No HTTP resource was found that matches the request URI"

--- operation(uri, method, lax, v2_only) -> operation, id | nil, status, body
-- A resource the version does not have is a 404, as for any unknown path;
-- a method the resource does not take there is a 405. `v2_only`: a set of
-- resources (lower case) that only v2 has.
function _M.operation(uri, method, lax, v2_only)
  local ver, res, id = _M.route(uri)
  local r = ver and index[lax and true or false][ver]
  if r and ver ~= "v2" and v2_only and v2_only[res] then r = nil end
  local ops = r and r[res]
  if not ops then return nil, result(404, NO_RESOURCE) end
  local op = ops[id and "item" or "collection"]
  op = op and op[method]
  if not op then
    return nil, result(405, "The requested resource does not support http method '" .. method .. "'")
  end
  return op, id
end

--- takes_multipart(uri, method) -> true when the operation's body is
-- multipart/form-data (its Content-Type is then not application/json).
-- Under any version: a multipart upload to a version without File/ is to
-- be told 404, not that its Content-Type makes the token invalid.
function _M.takes_multipart(uri, method)
  local op = _M.operation(uri, method, true)
  return op ~= nil and op.body == "multipart"
end

--- dispatch(ctx) -> status, value. ctx: method, uri, args (lower-case
-- keys), source (the body: {content_type=, text(), reader()}), data, token
-- ({can_list_clients=, can_send_messages=}), now, lax, ignore_filters, v2_only.
function _M.dispatch(ctx)
  local op, id, body = _M.operation(ctx.uri, ctx.method, ctx.lax, ctx.v2_only)
  if not op then return id, body end
  ctx.id = id
  if ctx.ignore_filters and op.undocumented then
    for _, name in ipairs(op.undocumented) do ctx.args[lower(name)] = nil end
  end
  if op.body ~= "multipart" and (ctx.method == "POST" or ctx.method == "PUT") then
    local text = ctx.source and ctx.source.text()
    local b = text and text ~= "" and json.decode(text)
    if type(b) ~= "table" then return bad("The request body must be a JSON object") end
    ctx.body = b
  end
  return op.handler(ctx)
end

--- Appointments created through the API and not cancelled.
_M.active_bookings = booking.active_bookings
_M.uploads = uploads.uploads
return _M
