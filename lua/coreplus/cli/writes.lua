--- The commands that change data in coreplus. Each takes --dry-run (print
-- the request instead of sending it) and the usual output flags.
--
-- A flag with a `field` sets that body field (dotted paths nest); which
-- flags are required follows from the catalogue's required fields. `--data`
-- (JSON, @file or @- for stdin) gives the body to start from, for fields
-- that have no flag; with it, the library checks the required fields.
local catalogue = require "coreplus.catalogue"
local cjson = require "cjson.safe"
local dates = require "coreplus.dates"
local args = require "coreplus.cli.args"
local show = require "coreplus.cli.show"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local usage = args.usage

local _M = {}

local DRY_RUN = { kind = "bool", help = "print the request (token masked) instead of sending it" }
local DATA = { kind = "string", help = "the JSON body to start from: JSON text, @FILE, or @- for stdin" }

-- ===== building bodies =====

--- --data's text: inline, @file or @- (stdin).
local function data_text(ctx, v)
  if v:sub(1, 1) ~= "@" then return v end
  if v == "@-" then return ctx.sys.read_stdin() or "" end
  local f, err = io.open(v:sub(2), "rb")
  if not f then usage("--data: cannot read " .. v:sub(2) .. " (" .. tostring(err) .. ")") end
  local text = f:read("a")
  f:close()
  return text
end

--- --data as a table (it must be a JSON object) and as the text given.
local function data_of(ctx)
  local v = ctx.flags.data
  if v == nil then return nil end
  local text = data_text(ctx, v)
  local decoded, err = cjson.decode(text)
  if type(decoded) ~= "table" then
    usage("--data is not a JSON object (" .. tostring(err or "got a " .. type(decoded)) .. ")")
  end
  return decoded, text
end

local function set_path(t, path, value)
  local head, rest = path:match("^([^.]+)%.(.+)$")
  if not head then t[path] = value; return end
  if type(t[head]) ~= "table" then t[head] = {} end
  set_path(t[head], rest, value)
end

--- The body: --data, then every flag that names a field.
local function fields_of(ctx, cmd)
  local body = data_of(ctx) or {}
  for name, f in pairs(cmd.flags) do
    local v = ctx.flags[name]
    if v ~= nil and f.field then set_path(body, f.field, f.wrap and f.wrap(v) or v) end
  end
  return body
end

local function end_from_duration(start, minutes)
  local t = dates.parse(start or "")
  if not t or not t.offset then
    usage("--duration needs --start with an offset, e.g. 2025-05-20T09:00:00+10:00")
  end
  return dates.datetime(t.epoch + minutes * 60, t.offset)
end

--- Prints the result (or the dry run); returns the exit status.
local function finish(ctx, record, err)
  if ctx.dry_seen then return require("coreplus.cli.dryrun").print(ctx, ctx.dry_seen) end
  if record == nil then return ctx:fail(err) end
  return show.record(ctx, record)
end

-- ===== the commands =====

local WHEN = {
  start = { kind = "string", field = "startDateTime", help = "start, e.g. 2025-05-20T09:00:00+10:00" },
  ["end"] = { kind = "string", field = "endDateTime", help = "end (or --duration)" },
  duration = { kind = "number", alternative_of = "endDateTime", help = "minutes from --start, instead of --end" },
  notes = { kind = "string", field = "notes", help = "notes" },
}

local function merge(...)
  local t = {}
  for _, s in ipairs({ ... }) do for k, v in pairs(s) do t[k] = v end end
  return t
end

local BOOK_FLAGS = merge(WHEN, {
  practitioner = { kind = "string", field = "practitioner.practitionerId", help = "practitioner id" },
  location = { kind = "string", field = "locationId", help = "location id" },
  client = { kind = "string", field = "clients", wrap = function(v) return { { clientId = v } } end,
    help = "client id" },
  type = { kind = "string", field = "appointmentTypeId", help = "appointment type id" },
  subject = { kind = "string", field = "subject", help = "subject" },
})

local function with_end(ctx, fields)
  if ctx.flags.duration and not ctx.flags["end"] then
    fields.endDateTime = end_from_duration(ctx.flags.start or fields.startDateTime, ctx.flags.duration)
  end
  return fields
end

local function run_book(ctx, cmd)
  local fields = with_end(ctx, fields_of(ctx, cmd))
  return finish(ctx, ctx:client().appointments:book(fields))
end

local function run_update(ctx, cmd)
  local fields = with_end(ctx, fields_of(ctx, cmd))
  if ctx.flags.notify then fields.notifyPractitioner = true end
  return finish(ctx, ctx:client().appointments:update(ctx.positional[1], fields))
end

local function run_cancel(ctx)
  local notes = ctx.flags.notes and { notes = ctx.flags.notes } or nil
  return finish(ctx, ctx:client().appointments:cancel(ctx.positional[1], notes))
end

local function run_create(ctx, cmd)
  return finish(ctx, ctx:client()[cmd.resource]:create(fields_of(ctx, cmd)))
end

local function run_payment(ctx, cmd)
  local body = data_of(ctx) or {}
  body.invoiceId = ctx.flags.invoice or body.invoiceId
  if ctx.flags["line-item"] then
    body.payments = body.payments or {}
    body.payments[#body.payments + 1] = { lineItemId = ctx.flags["line-item"], amountPaid = ctx.flags.amount,
      datePaid = ctx.flags.date or dates.date(ctx.sys.now()), paymentMethodId = ctx.flags.method }
  end
  return finish(ctx, ctx:client()[cmd.resource]:create(body))
end

local function basename(path)
  return path:match("([^/]+)$") or path
end

--- A library operation that may not exist yet in this build (files, messages).
local function operation_of(ctx, name, op)
  local r = ctx:client()[name]
  if type(r) ~= "table" then
    usage("this lua-coreplus has no " .. name .. ":" .. op .. " (it needs a newer library)")
  end
  return r
end

local function run_upload(ctx)
  local path = ctx.positional[1]
  local f = io.open(path, "rb")
  if not f then usage("files upload: cannot read " .. path) end
  f:close()
  return finish(ctx, operation_of(ctx, "files", "upload"):upload{ clientId = ctx.flags.client,
    name = ctx.flags.name or basename(path), path = path, parentFolderId = ctx.flags.folder })
end

local function run_message(ctx)
  local message = data_of(ctx)
  local attachments = {}
  for i, path in ipairs(ctx.flags.attach or {}) do attachments[i] = { name = basename(path), path = path } end
  return finish(ctx, operation_of(ctx, "messages", "send"):send(message, attachments))
end

local function run_request(ctx)
  local method, text = ctx.positional[1], ctx.positional[2]
  local path, query = require("coreplus.cli.lists").split_path(text)
  args.query_pairs(ctx.flags.query, query, "--query")
  local body
  if ctx.flags.data ~= nil then
    local _, raw = data_of(ctx)
    body = raw      -- the bytes given, as given
  end
  local cp = ctx:client()
  local decoded, err = cp:request(method:upper(), path, { query = query, body = body })
  if ctx.dry_seen then return require("coreplus.cli.dryrun").print(ctx, ctx.dry_seen) end
  if decoded == nil then return ctx:fail(err) end
  return require("coreplus.cli.lists").show_decoded(ctx, decoded)
end

--- Which flags a command must have: those setting a field the catalogue
-- requires for (resource, op); several flags for one field are
-- alternatives (--end or --duration).
local function required_flags(resource, op, flags, extra)
  local spec = catalogue[resource] and catalogue[resource][op]
  local out = {}
  for _, field in ipairs(spec and spec.required or {}) do
    local names, alternatives = {}, {}
    for _, n in ipairs(args.sorted(flags)) do
      local f = flags[n]
      local top = f.field and f.field:match("^[^.]+")
      if top == field then names[#names + 1] = n end
      if f.alternative_of == field then alternatives[#alternatives + 1] = n end
    end
    for _, n in ipairs(alternatives) do names[#names + 1] = n end
    if #names == 1 then out[#out + 1] = names[1] elseif #names > 1 then out[#out + 1] = names end
  end
  for _, e in ipairs(extra or {}) do out[#out + 1] = e end
  return out
end

local function write(cmd)
  cmd.flags["dry-run"] = DRY_RUN
  if cmd.data ~= false then cmd.flags.data = DATA; cmd.unless = "data" end
  if cmd.resource and cmd.op then
    cmd.required = required_flags(cmd.resource, cmd.op, cmd.flags, cmd.required)
  end
  local run = cmd.run
  cmd.run = function(ctx) return run(ctx, cmd) end
  return cmd
end

local ID = { name = "id", required = true, help = "the appointment's id" }

function _M.commands()
  return {
    write{ name = "book", resource = "appointments", op = "book", run = run_book, flags = merge(BOOK_FLAGS),
      summary = "book an appointment",
      examples = { "coreplus book --practitioner P --location L --client C --start 2025-05-20T09:00:00+10:00"
        .. " --duration 30", "coreplus book ... --dry-run    # show the request, send nothing" } },
    write{ name = "cancel", run = run_cancel, args = { ID }, data = false, summary = "cancel an appointment",
      flags = { notes = { kind = "string", help = "notes sent with the cancellation" } },
      examples = { "coreplus cancel 6f1c...e2 --notes 'client called'" } },
    write{ name = "appointments update", run = run_update, args = { ID },
      summary = "reschedule an appointment, or change its notes",
      flags = merge(WHEN, BOOK_FLAGS, { notify = { kind = "bool", help = "SMS the practitioner about the change" } }),
      examples = { "coreplus appointments update ID --start 2025-05-20T10:00:00+10:00 --duration 30",
        "coreplus appointments update ID --notes 'running late' --dry-run" } },
    write{ name = "clients create", resource = "clients", op = "create", run = run_create,
      summary = "create a client",
      flags = {
        ["first-name"] = { kind = "string", field = "firstName", help = "first name" },
        ["last-name"] = { kind = "string", field = "lastName", help = "last name" },
        dob = { kind = "string", field = "dateOfBirth", help = "date of birth, yyyy-mm-dd" },
        email = { kind = "string", field = "email", help = "email address" },
        mobile = { kind = "string", field = "phoneNumberMobile", help = "mobile phone number" },
        title = { kind = "string", field = "title", help = "title (Mr, Ms, Dr, ...)" },
        gender = { kind = "string", field = "gender", help = "gender" },
      },
      examples = { "coreplus clients create --first-name Ada --last-name Lovelace --dob 1990-12-10",
        "coreplus clients create --data @client.json --dry-run" } },
    write{ name = "clients family", resource = "client_family", op = "create", run = run_create,
      summary = "add a family member (or other contact) to a client",
      flags = {
        client = { kind = "string", field = "clientId", help = "the client's id" },
        ["first-name"] = { kind = "string", field = "firstName", help = "first name" },
        surname = { kind = "string", field = "surname", help = "surname" },
        relationship = { kind = "string", field = "relationship", help = "relationship (Mother, Partner, ...)" },
        mobile = { kind = "string", field = "mobile", help = "mobile phone number" },
        email = { kind = "string", field = "email", help = "email address" },
      },
      examples = { "coreplus clients family --client C --first-name Grace --surname Hopper --relationship Mother" } },
    write{ name = "payments add", resource = "payments", op = "create", run = run_payment,
      summary = "add a payment to an invoice's line item",
      flags = {
        invoice = { kind = "string", field = "invoiceId", help = "invoice id" },
        ["line-item"] = { kind = "string", field = "payments", help = "line item id (see `coreplus invoices ID`)" },
        amount = { kind = "string", help = "amount paid, e.g. 40.55" },
        date = { kind = "string", help = "date paid, yyyy-mm-dd (default today)" },
        method = { kind = "string", help = "paymentMethodId" },
      },
      required = { "amount" },
      examples = { "coreplus payments add --invoice I --line-item L --amount 40.55 --date 2025-04-23" } },
    write{ name = "appointment-types create", resource = "appointment_types", op = "create", run = run_create,
      summary = "create an appointment type",
      flags = {
        description = { kind = "string", field = "description", help = "its name, e.g. 'Initial consultation'" },
        duration = { kind = "number", field = "durationMinutes", help = "minutes" },
        practitioner = { kind = "string", field = "practitionerId", help = "only for this practitioner" },
        location = { kind = "string", field = "locationId", help = "only at this location" },
      },
      examples = { "coreplus appointment-types create --description 'Initial consultation' --duration 45" } },
    write{ name = "files upload", run = run_upload, data = false, required = { "client" },
      args = { { name = "path", required = true, help = "the file to upload" } },
      summary = "upload a file to a client's record",
      flags = {
        client = { kind = "string", help = "the client's id" },
        name = { kind = "string", help = "the file's name in coreplus (default: the file's own)" },
        folder = { kind = "string", help = "parentFolderId: a folder of the client's files" },
      },
      examples = { "coreplus files upload --client C referral.pdf" } },
    write{ name = "messages send", run = run_message, required = { "data" },
      summary = "send a secure message (with attachments)",
      flags = { attach = { kind = "list", help = "a file to attach (repeatable)" } },
      examples = { "coreplus messages send --data @message.json --attach letter.pdf" } },
    write{ name = "request", run = run_request, data = nil,
      args = { { name = "method", required = true, help = "GET, POST, PUT or DELETE" },
        { name = "path", required = true, help = "a path under /API/Core/<version>/, query allowed" } },
      summary = "send any request (the escape hatch)",
      flags = { query = { kind = "list", help = "query parameter key=value (repeatable)" } },
      examples = { "coreplus request GET 'Client/?pageSize=2'",
        "coreplus request POST Client/ --data '{\"firstName\":\"Ada\",\"lastName\":\"L\","
          .. "\"dateOfBirth\":\"1990-01-01\"}'",
        "coreplus request POST Appointment/ID/ --data @change.json --dry-run" } },
  }
end

return _M
