--- The API's resources: which paths exist and which handler answers them.
-- Handlers (directory, booking, billing) return (status, value) where value
-- is encoded by coreplus.testing.mock.json; they never touch ngx.say
-- themselves so that faults can rewrite any response.
local json = require "coreplus.testing.mock.json"
local reply = require "coreplus.testing.mock.reply"
local directory = require "coreplus.testing.mock.directory"
local booking = require "coreplus.testing.mock.booking"
local billing = require "coreplus.testing.mock.billing"

local match, lower = string.match, string.lower
local type, ipairs, pairs = type, ipairs, pairs
local result, bad = reply.result, reply.bad

local _M = {}

_M.result = result

local H = {}
for _, m in ipairs{ directory, booking, billing } do
  for k, f in pairs(m) do H[k] = f end
end

------------------------------------------------------------------------
-- Routing
------------------------------------------------------------------------

-- resource (lower case) -> { collection = {METHOD = handler}, item = {...} }
local routes = {
  client = { collection = { GET = H.client_list, POST = H.client_create }, item = { GET = H.client_get } },
  clientfamily = { collection = { POST = H.family_create } },
  practitioner = { collection = { GET = H.practitioner_list } },
  location = { collection = { GET = H.location_list } },
  appointmenttype = { collection = { GET = H.apptype_list, POST = H.apptype_create } },
  availabilityslot = { collection = { GET = H.slot_list } },
  appointment = { collection = { GET = H.appointment_list, POST = H.appointment_post },
                  item = { GET = H.appointment_get, POST = H.appointment_update } },
  invoice = { collection = { GET = H.invoice_list }, item = { GET = H.invoice_get } },
  payment = { collection = { GET = H.payment_list, POST = H.payment_create } },
}

--- route(uri) -> resource_name, id | nil
-- Paths are /API/Core/v2.1/<Resource>/[<id>[/]], any letter case, v2 too.
function _M.route(uri)
  local ver, res, rest = match(uri, "^/[Aa][Pp][Ii]/[Cc][Oo][Rr][Ee]/([vV][%d.]+)/([%a]+)(.*)$")
  if not ver or (lower(ver) ~= "v2" and lower(ver) ~= "v2.1") then return nil end
  res = lower(res)
  if not routes[res] then return nil end
  if rest == "" or rest == "/" then return res, nil end
  local id = match(rest, "^/([^/]+)/?$")
  if not id then return nil end
  return res, id
end

--- dispatch(ctx) -> status, value. ctx: method, uri, args (lower-case
-- keys), body_text, data, token ({can_list_clients=}).
function _M.dispatch(ctx)
  local res, id = _M.route(ctx.uri)
  if not res then
    return result(404, "No HTTP resource was found that matches the request URI")
  end
  local set = id and routes[res].item or routes[res].collection
  local h = set and set[ctx.method]
  if not h then
    return result(405, "The requested resource does not support http method '" .. ctx.method .. "'")
  end
  ctx.id = id
  if ctx.method == "POST" or ctx.method == "PUT" then
    local b = ctx.body_text and ctx.body_text ~= "" and json.decode(ctx.body_text)
    if type(b) ~= "table" then return bad("The request body must be a JSON object") end
    ctx.body = b
  end
  return h(ctx)
end

--- Appointments created through the API and not cancelled.
_M.active_bookings = booking.active_bookings
return _M
