--- The endpoint catalogue as data: one row per resource. Adding an endpoint is
-- adding a row. Fields:
--   path      path under /API/Core/<version>/ (ends with "/")
--   version   the API version the docs show for the resource (rows without
--             one use the client's `version`); an operation can pin its own
--   items     key of the list envelope ({"clients": [...], "paging": {...}})
--   record    key of the single-record envelope ({"client": {...}}); nil when
--             the API returns the record unwrapped
--   paged     false when the list endpoint has no paging (one response)
--   list/get/create/book/update/cancel/upload/send/changed_since/next_free/
--   find_or_create   the operations that exist, each with:
--     required       parameters or body fields checked before any request
--     datetimes, dates, amounts, updated_since   fields sent in the
--                    documented forms (coreplus.fields)
--     version        this operation's version, when it differs from the row's
-- Sources and confidence: ../shared/coreplus-api.md section 4 (row numbers in
-- the comments); docs/decisions.md says what is guessed.
local BOOKING_TIMES = { "startDateTime", "endDateTime" }

return {
  clients = {   -- rows 1-3
    path = "Client/", items = "clients", record = "client",
    list = { updated_since = true }, get = {}, changed_since = {}, find_or_create = {},
    create = { required = { "firstName", "lastName", "dateOfBirth" }, dates = { "dateOfBirth" } },
  },
  client_family = {   -- row 4: documented under v2 only
    path = "ClientFamily/", version = "v2",
    create = { required = { "clientId", "firstName", "surname" }, dates = { "dateOfBirth" } },
  },
  practitioners = {   -- row 5
    path = "Practitioner/", items = "practitioners",
    list = {},
  },
  locations = {   -- row 6
    path = "Location/", items = "locations",
    list = {},
  },
  appointment_types = {   -- rows 7-8: the list is seen under v2.1, create documented under v2
    path = "AppointmentType/", items = "appointmentTypes", record = "appointmentType",
    list = {},
    create = { required = { "description" }, version = "v2" },
  },
  availability_slots = {   -- row 9
    path = "AvailabilitySlot/", items = "timeslots",
    list = { required = { "startDate", "endDate", "timezoneId" } },
    next_free = {},
  },
  appointments = {   -- rows 10-14
    path = "Appointment/", items = "appointments", record = "appointment",
    list = { required = { "startDate", "endDate", "timezoneId" } },
    get = {},
    book = { required = { "startDateTime", "endDateTime", "practitioner", "locationId", "clients" },
      datetimes = BOOKING_TIMES },
    -- Observed (not documented): update is a POST to Appointment/{id}/, cancel
    -- a POST of {appointmentId, deleted=true} to Appointment/. See docs/decisions.md.
    update = { datetimes = BOOKING_TIMES },
    cancel = {},
  },
  invoices = {   -- rows 15-16: documented under v2 only
    path = "Invoice/", items = "invoices", version = "v2",
    list = { updated_since = true }, get = {}, changed_since = {},
  },
  payments = {   -- rows 17-18: documented under v2 only
    path = "Payment/", items = "lineItems", paged = false, version = "v2",
    list = { required = { "invoiceId" } },
    create = { required = { "invoiceId", "payments" }, amounts = { payments = "amountPaid" } },
  },
  files = {   -- row 19: multipart, shown under v2.1
    path = "File/", version = "v2.1",
    upload = { required = { "clientId", "name" } },
  },
  messages = {   -- row 20: multipart; needs advanced permissions
    path = "Message/",
    send = { required = { "MessageContents" } },
  },
}
