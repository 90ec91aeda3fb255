--- The endpoint catalogue as data: one row per resource, one field of the
-- client per row (`cp.clients`, ...). Adding an endpoint is adding a row.
--
-- A row's fields:
--
--  - `path`: the path under `/API/Core/<version>/` (ends with `/`)
--  - `items`: the key of the list envelope (`{"clients": [...], "paging": {...}}`)
--  - `record`: the key of the single-record envelope (`{"client": {...}}`); nil
--   when the API returns the record unwrapped
--  - `paged`: false when the list endpoint has no paging (one response)
--  - `list`, `get`, `create`, `book`, `update`, `cancel`: the operations that
--   exist (`coreplus.resource`), each with the `required` parameters or body
--   fields checked before any request; `list` brings `each`, `pages` and `all`
--
-- Sources and confidence: shared/coreplus-api.md section 4.
-- @module coreplus.catalogue

--- The rows, by client field.
-- @table catalogue
-- @field clients `Client/`: list, each, pages, all, get, create (`firstName`, `lastName`, `dateOfBirth` required)
-- @field client_family `ClientFamily/`: create (`clientId` required)
-- @field appointment_types `AppointmentType/`: list, each, pages, all, create (`description` required)
-- @field availability_slots `AvailabilitySlot/`: list, each, pages, all (`startDate`, `endDate`, `timezoneId` required)
-- @field appointments `Appointment/`: list, each, pages, all (`startDate`, `endDate`, `timezoneId` required), get,
--  book (`startDateTime`, `endDateTime`, `practitioner`, `locationId`, `clients` required), update, cancel
-- @field invoices `Invoice/`: list, each, pages, all, get
-- @field payments `Payment/`: list, each, pages, all (`invoiceId` required; one response, no paging),
--  create (`invoiceId`, `payments` required)
-- @field practitioners `Practitioner/`: list, each, pages, all
-- @field locations `Location/`: list, each, pages, all
return {
  clients = {
    path = "Client/", items = "clients", record = "client",
    list = {}, get = {},
    create = { required = { "firstName", "lastName", "dateOfBirth" } },
  },
  client_family = {
    path = "ClientFamily/", record = "client",
    create = { required = { "clientId" } },
  },
  practitioners = {
    path = "Practitioner/", items = "practitioners",
    list = {},
  },
  locations = {
    path = "Location/", items = "locations",
    list = {},
  },
  appointment_types = {
    path = "AppointmentType/", items = "appointmentTypes", record = "appointmentType",
    list = {},
    create = { required = { "description" } },
  },
  availability_slots = {
    path = "AvailabilitySlot/", items = "timeslots",
    list = { required = { "startDate", "endDate", "timezoneId" } },
  },
  appointments = {
    path = "Appointment/", items = "appointments", record = "appointment",
    list = { required = { "startDate", "endDate", "timezoneId" } },
    get = {},
    book = { required = { "startDateTime", "endDateTime", "practitioner", "locationId", "clients" } },
    -- Observed (not documented): update is a POST to Appointment/{id}/, cancel
    -- a POST of {appointmentId, deleted=true} to Appointment/. See docs/decisions.md.
    update = {},
    cancel = {},
  },
  invoices = {
    path = "Invoice/", items = "invoices",
    list = {}, get = {},
  },
  payments = {
    path = "Payment/", items = "lineItems", paged = false,
    list = { required = { "invoiceId" } },
    create = { required = { "invoiceId", "payments" } },
  },
}
