--- The endpoint catalogue as data: one row per resource, one field of the
-- client per row (`cp.clients`, ...). Adding an endpoint is adding a row.
--
-- A row's fields:
--
--  - `path`: the path under `/API/Core/<version>/` (ends with `/`)
--  - `version`: the API version the docs show for the resource (rows without
--    one use the client's `version`); an operation can pin its own
--  - `versions`: every version the docs or third-party code show it under;
--    when the one tried answers route-not-found, the client tries the
--    other once and remembers the one that answered (`coreplus.engine`).
--    Without it, only the pinned `version` is known
--  - `items`: the key of the list envelope (`{"clients": [...], "paging": {...}}`)
--  - `record`: the key of the single-record envelope (`{"client": {...}}`); nil
--   when the API returns the record unwrapped
--  - `paged`: false when the list endpoint has no paging (one response)
--  - `list`, `get`, `create`, `book`, `update`, `cancel`, `upload`, `send`,
--   `changed_since`, `next_free`, `find_or_create`: the operations that exist
--   (`coreplus.resource`); `list` brings `each`, `pages` and `all`. Each has
--   `required` parameters or body fields checked before any request, the
--   fields it sends in documented forms (`datetimes`, `dates`, `amounts`,
--   `updated_since`: `coreplus.fields`), and its own `version` when it
--   differs from the row's
--  - `filters` (list operations): the query filters the docs do not
--   document, each `{rule =, fields =}`: the rows that come back are checked
--   against them (`coreplus.filters`), since a server may ignore them
--
-- Sources: the coreplus developer docs (developers.coreplus.com.au) and, where
-- they are silent, independent client code; docs/decisions.md says what is guessed.
-- @module coreplus.catalogue

--- The rows, by client field.
-- @table catalogue
-- @field clients `Client/`: list, each, pages, all (`updatedSince`), get, create (`firstName`,
--  `lastName`, `dateOfBirth` required), changed_since, find_or_create
-- @field client_family `ClientFamily/` (v2): create (`clientId`, `firstName`, `surname` required)
-- @field practitioners `Practitioner/`: list, each, pages, all
-- @field locations `Location/`: list, each, pages, all
-- @field appointment_types `AppointmentType/`: list, each, pages, all, create (v2; `description` required)
-- @field availability_slots `AvailabilitySlot/`: list, each, pages, all (`startDate`, `endDate`,
--  `timezoneId` required), next_free
-- @field appointments `Appointment/`: list, each, pages, all (`startDate`, `endDate`, `timezoneId`
--  required), get, book (`startDateTime`, `endDateTime`, `practitioner`, `locationId`, `clients`
--  required), update, cancel
-- @field invoices `Invoice/` (v2): list, each, pages, all (`updatedSince`), get, changed_since
-- @field payments `Payment/` (v2): list, each, pages, all (`invoiceId` required; one response,
--  no paging), create
--  (`invoiceId`, `payments` required; `amountPaid` as a string)
-- @field files `File/` (v2.1): upload (`clientId`, `name`, `data` or `path`)
-- @field messages `Message/`: send (messageData, attachments)
local BOOKING_TIMES = { "startDateTime", "endDateTime" }

-- Both versions (section 4.1's "Ver" column: v2 in the docs' examples, v2.1
-- in the Client Files example and in recent third-party code).
local BOTH = { "v2.1", "v2" }

-- Filters third-party code sends that the docs do not document (section 4.2,
-- 4.5): checked on the rows that come back.
local CLIENT_FILTERS = {
  name = { rule = "name" },
}
local APPOINTMENT_FILTERS = {
  clientId = { rule = "id", fields = { "clients.clientId", "clientId" } },
  practitionerId = { rule = "id", fields = { "practitioner.practitionerId", "practitionerId" } },
  locationId = { rule = "id", fields = { "locationId" } },
}

return {
  clients = {   -- rows 1-3
    path = "Client/", items = "clients", record = "client", versions = BOTH,
    list = { updated_since = true, filters = CLIENT_FILTERS }, get = {}, changed_since = {}, find_or_create = {},
    create = { required = { "firstName", "lastName", "dateOfBirth" }, dates = { "dateOfBirth" } },
  },
  client_family = {   -- row 4: documented under v2 only
    path = "ClientFamily/", version = "v2",
    create = { required = { "clientId", "firstName", "surname" }, dates = { "dateOfBirth" } },
  },
  practitioners = {   -- row 5
    path = "Practitioner/", items = "practitioners", versions = BOTH,
    list = {},
  },
  locations = {   -- row 6
    path = "Location/", items = "locations", versions = BOTH,
    list = {},
  },
  appointment_types = {   -- rows 7-8: the list is seen under v2.1, create documented under v2
    path = "AppointmentType/", items = "appointmentTypes", record = "appointmentType", versions = BOTH,
    list = {},
    create = { required = { "description" }, version = "v2", versions = { "v2" } },
  },
  availability_slots = {   -- row 9
    path = "AvailabilitySlot/", items = "timeslots", versions = BOTH,
    list = { required = { "startDate", "endDate", "timezoneId" } },
    next_free = {},
  },
  appointments = {   -- rows 10-14
    path = "Appointment/", items = "appointments", record = "appointment", versions = BOTH,
    list = { required = { "startDate", "endDate", "timezoneId" }, filters = APPOINTMENT_FILTERS },
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
    path = "Message/", versions = BOTH,   -- the page's template says <ver>
    send = {},   -- MessageContents is filled in from the attachments (coreplus.uploads)
  },
}
