--- The commands that change data in coreplus: `book` and `cancel`.
local dates = require "coreplus.dates"
local args = require "coreplus.cli.args"
local show = require "coreplus.cli.show"

local ipairs = ipairs
local usage = args.usage

local _M = {}

local function end_from_duration(start, minutes)
  local t = dates.parse(start)
  if not t or not t.offset then
    usage("--start must be a date-time with offset, e.g. 2025-05-20T09:00:00+10:00")
  end
  return dates.datetime(t.epoch + minutes * 60, t.offset)
end

local function run_book(ctx)
  local f = ctx.flags
  for _, name in ipairs({ "practitioner", "location", "client", "start" }) do
    if not f[name] then usage("book needs --" .. name) end
  end
  local finish = f["end"]
  if not finish then
    if not f.duration then usage("book needs --end or --duration MINUTES") end
    finish = end_from_duration(f.start, f.duration)
  end
  local fields = {
    startDateTime = f.start, endDateTime = finish,
    practitioner = { practitionerId = f.practitioner },
    locationId = f.location,
    clients = { { clientId = f.client } },
    appointmentTypeId = f.type, subject = f.subject, notes = f.notes,
  }
  local record, err = ctx:client().appointments:book(fields)
  if not record then return ctx:fail(err) end
  return show.record(ctx, record)
end

local function run_cancel(ctx)
  local id = ctx.positional[1]
  if not id then usage("cancel needs an appointment id") end
  local record, err = ctx:client().appointments:cancel(id, ctx.flags.notes and { notes = ctx.flags.notes } or nil)
  if not record then return ctx:fail(err) end
  return show.record(ctx, record)
end

function _M.commands()
  return {
    { name = "book", run = run_book, summary = "book an appointment",
      flags = {
        practitioner = { kind = "string", help = "practitioner id" },
        location = { kind = "string", help = "location id" },
        client = { kind = "string", help = "client id" },
        start = { kind = "string", help = "start, e.g. 2025-05-20T09:00:00+10:00" },
        ["end"] = { kind = "string", help = "end (or --duration)" },
        duration = { kind = "number", help = "minutes, instead of --end" },
        type = { kind = "string", help = "appointment type id" },
        subject = { kind = "string", help = "subject" },
        notes = { kind = "string", help = "notes" },
      } },
    { name = "cancel", run = run_cancel, positional = 1, summary = "cancel an appointment: cancel ID",
      flags = { notes = { kind = "string", help = "notes sent with the cancellation" } } },
  }
end

return _M
