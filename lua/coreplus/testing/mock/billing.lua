--- Invoices and payments.
local json = require "coreplus.testing.mock.json"
local clock = require "coreplus.testing.mock.clock"
local store = require "coreplus.testing.mock.store"
local lock = require "coreplus.testing.mock.lock"
local reply = require "coreplus.testing.mock.reply"

local ngx = ngx
local obj, arr, raw = json.obj, json.arr, json.raw
local type, ipairs, pairs, tostring, tonumber = type, ipairs, pairs, tostring, tonumber
local format, lower, match, floor, max = string.format, string.lower, string.match, math.floor, math.max
local bad, not_found = reply.bad, reply.not_found
local arg1, argset, truthy, require_params, page_of = reply.arg1, reply.argset, reply.truthy,
  reply.require_params, reply.page_of
local check_string = reply.check_string

local H = {}

local function money(n)
  if n == floor(n) then return format("%.1f", n) end
  return format("%.2f", n)
end

local function payments_of(invoice_id)
  return store.get("payments", invoice_id) or {}
end

local function amount_owing(inv)
  local paid = 0
  for _, p in ipairs(payments_of(inv.invoiceId)) do paid = paid + (tonumber(p.amountPaid) or 0) end
  return max(0, inv.amount - paid)
end

local function render_line_item(li, extra)
  return obj{ "lineItemId", li.lineItemId, "productId", li.productId, "description", li.description,
    "itemNumber", li.itemNumber, "unitAmount", raw(money(li.unitAmount)),
    "taxAmount", raw(money(li.taxAmount)), "lineAmount", raw(money(li.lineAmount)),
    "quantity", raw(money(li.quantity)), "amountPaid", extra }
end

local function render_invoice(inv, args, full)
  local fields = argset(args, "Field")
  local want_lines = full
  if fields then
    for f in pairs(fields) do if f:match("^lineitems%.") then want_lines = true end end
  end
  local lines = arr()
  if want_lines then
    for _, li in ipairs(inv.lineItems) do lines[#lines + 1] = render_line_item(li) end
  end
  local o = obj{ "invoiceId", inv.invoiceId, "invoiceNumber", inv.invoiceNumber, "clientId", inv.clientId,
    "generatedAt", inv.generatedAt, "lineItems", lines, "amountOwing", money(amount_owing(inv)) }
  if full or truthy(arg1(args, "getLockStatus")) then json.set(o, "locked", true) end
  if truthy(arg1(args, "getPractitionerId")) then json.set(o, "practitionerId", inv.practitionerId) end
  if truthy(arg1(args, "getLocationId")) then json.set(o, "locationId", inv.locationId) end
  if truthy(arg1(args, "getClientGroupId")) then json.set(o, "clientGroupId", json.null) end
  if truthy(arg1(args, "getAppointmentId")) then json.set(o, "appointmentId", inv.appointmentId) end
  return o
end

function H.invoice_list(ctx)
  local args = ctx.args
  return page_of(args, ctx.data.invoices, "invoices", function(inv) return render_invoice(inv, args, false) end)
end

function H.invoice_get(ctx)
  local inv = type(ctx.id) == "string" and ctx.data.invoice_by_id[lower(ctx.id)]
  if not inv then return not_found("Invoice") end
  return 200, render_invoice(inv, ctx.args, true)
end

function H.payment_list(ctx)
  local st, body = require_params(ctx.args, { "invoiceId" })
  if st then return st, body end
  local inv = ctx.data.invoice_by_id[lower(arg1(ctx.args, "invoiceId"))]
  if not inv then return not_found("Invoice") end
  local pays = payments_of(inv.invoiceId)
  local lines = arr()
  for _, li in ipairs(inv.lineItems) do
    local list = arr()
    for _, p in ipairs(pays) do
      if p.lineItemId == li.lineItemId then
        list[#list + 1] = obj{ "amountPaid", p.amountPaid, "datePaid", p.datePaid,
          "paymentMethod", "EFTPOS", "paymentNotes", "", "type", "Credit" }
      end
    end
    lines[#lines + 1] = obj{ "lineItemId", li.lineItemId, "payments", list }
  end
  return 200, obj{ "invoiceId", inv.invoiceId, "lineItems", lines }
end

function H.payment_create(ctx)
  local b = ctx.body
  local err = check_string(b, "invoiceId", true)
  if err then return bad(err) end
  local inv = ctx.data.invoice_by_id[lower(b.invoiceId)]
  if not inv then return not_found("Invoice") end
  if type(b.payments) ~= "table" or #b.payments == 0 then return bad("The payments field is required") end
  return lock.with(ngx.shared.mock_data, "payment", function()
    local pays = payments_of(inv.invoiceId)
    for _, p in ipairs(b.payments) do
      if type(p) ~= "table" then return bad("payments must be objects") end
      local li
      for _, x in ipairs(inv.lineItems) do if x.lineItemId == p.lineItemId then li = x end end
      if not li then return bad("Unknown lineItemId " .. tostring(p.lineItemId)) end
      if type(p.amountPaid) ~= "string" or not match(p.amountPaid, "^%d+%.?%d?%d?$") then
        return bad("amountPaid must be a non-negative amount string with at most 2 decimals")
      end
      if not clock.parse_date(p.datePaid) then return bad("datePaid must be yyyy-mm-dd") end
      pays[#pays + 1] = { lineItemId = li.lineItemId, amountPaid = p.amountPaid, datePaid = p.datePaid,
        paymentMethodId = p.paymentMethodId }
    end
    store.put("payments", inv.invoiceId, pays)
    local lines = arr()
    for _, li in ipairs(inv.lineItems) do
      local paid = 0
      for _, p in ipairs(pays) do if p.lineItemId == li.lineItemId then paid = paid + tonumber(p.amountPaid) end end
      lines[#lines + 1] = render_line_item(li, money(paid))
    end
    return 200, obj{ "invoiceId", inv.invoiceId, "invoiceNumber", inv.invoiceNumber, "clientId", inv.clientId,
      "generatedAt", inv.generatedAt, "lineItems", lines, "amountOwing", money(amount_owing(inv)) }
  end)
end

return H
