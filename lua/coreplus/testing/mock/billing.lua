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
local concat = table.concat
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

-- Field= on the invoice list (the developer docs' Invoice pages): what may be selected,
-- in the order the docs list it. The ids (invoiceId, lineItems.lineItemId)
-- come back regardless.
local FIELDS = { "invoiceId", "invoiceNumber", "clientId", "generatedAt", "amountOwing",
  "lineItems.lineItemId", "lineItems.productId", "lineItems.description", "lineItems.itemNumber",
  "lineItems.unitAmount", "lineItems.taxAmount", "lineItems.lineAmount", "lineItems.quantity" }
local FIELD_OF = {}
for _, f in ipairs(FIELDS) do FIELD_OF[lower(f)] = f end

--- Field= -> set of field names | nil (none given) | nil, status, body
local function selected_fields(args)
  local given = argset(args, "Field")
  if not given then return nil end
  local sel = { invoiceId = true, ["lineItems.lineItemId"] = true }
  for f in pairs(given) do
    if not FIELD_OF[f] then
      return nil, bad("Unknown Field '" .. f .. "': the invoice list selects " .. concat(FIELDS, ", "))
    end
    sel[FIELD_OF[f]] = true
  end
  return sel
end

local LINE_MONEY = { unitAmount = true, taxAmount = true, lineAmount = true, quantity = true }
local LINE_ORDER = { "lineItemId", "productId", "description", "itemNumber", "unitAmount", "taxAmount",
  "lineAmount", "quantity" }

--- A line item with every field, or those `sel` names; `paid` is added
-- as amountPaid (the answer to a payment).
local function render_line_item(li, paid, sel)
  local o = obj{}
  for _, k in ipairs(LINE_ORDER) do
    if not sel or sel["lineItems." .. k] then
      json.set(o, k, LINE_MONEY[k] and raw(money(li[k])) or li[k])
    end
  end
  if paid then json.set(o, "amountPaid", paid) end
  return o
end

--- An invoice: `full` for GET invoice/{id} (line items, locked); on the
-- list, line items only when Field= asks for some, and with `sel` only the
-- selected fields and the ids. The get* flags add their fields either way.
local function render_invoice(inv, args, full, sel)
  local want_lines = full
  if sel then
    for f in pairs(sel) do if f ~= "lineItems.lineItemId" and f:match("^lineItems%.") then want_lines = true end end
  end
  local lines = arr()
  if want_lines then
    for _, li in ipairs(inv.lineItems) do lines[#lines + 1] = render_line_item(li, nil, sel) end
  end
  local o
  if sel then
    o = obj{ "invoiceId", inv.invoiceId }
    for _, f in ipairs{ "invoiceNumber", "clientId", "generatedAt" } do
      if sel[f] then json.set(o, f, inv[f]) end
    end
    if want_lines then json.set(o, "lineItems", lines) end
    if sel.amountOwing then json.set(o, "amountOwing", money(amount_owing(inv))) end
  else
    o = obj{ "invoiceId", inv.invoiceId, "invoiceNumber", inv.invoiceNumber, "clientId", inv.clientId,
      "generatedAt", inv.generatedAt, "lineItems", lines, "amountOwing", money(amount_owing(inv)) }
  end
  if full or truthy(arg1(args, "getLockStatus")) then json.set(o, "locked", true) end
  if truthy(arg1(args, "getPractitionerId")) then json.set(o, "practitionerId", inv.practitionerId) end
  if truthy(arg1(args, "getLocationId")) then json.set(o, "locationId", inv.locationId) end
  if truthy(arg1(args, "getClientGroupId")) then json.set(o, "clientGroupId", json.null) end
  if truthy(arg1(args, "getAppointmentId")) then json.set(o, "appointmentId", inv.appointmentId) end
  return o
end

--- When an invoice last changed: its fixture time, or its last payment.
local function invoice_updated(inv)
  local paid = store.get("invoice_paid_at", inv.invoiceId)
  return paid and paid.at or inv.updated
end

function H.invoice_list(ctx)
  local args = ctx.args
  local since, st, body = reply.updated_since(args)
  if st then return st, body end
  local sel, fst, fbody = selected_fields(args)
  if fst then return fst, fbody end
  local rows = ctx.data.invoices
  if since then
    rows = {}
    for _, inv in ipairs(ctx.data.invoices) do
      if invoice_updated(inv) > since then rows[#rows + 1] = inv end
    end
  end
  return page_of(args, rows, "invoices", function(inv) return render_invoice(inv, args, false, sel) end)
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
    store.put("invoice_paid_at", inv.invoiceId, { at = ctx.now })
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
