--- The endpoint catalogue as data: one row per resource. Adding an endpoint is
-- adding a row. Fields:
--   path      path under /API/Core/<version>/ (ends with "/")
--   items     key of the list envelope ({"clients": [...], "paging": {...}})
--   record    key of the single-record envelope ({"client": {...}}); nil when
--             the API returns the record unwrapped
--   paged     false when the list endpoint has no paging (one response)
--   list/get/create/book/update/cancel   the operations that exist, each with
--             `required` parameters or body fields checked before any request
-- Sources and confidence: ../shared/coreplus-api.md section 4.
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
