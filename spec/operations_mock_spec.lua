-- Every documented operation (the developer docs' endpoint list) through the library, at
-- its version, against the mock (which answers each only under the versions
-- the docs show); uploads from memory and from disk (streamed: memory does
-- not grow with a 50 MB file), a missing file, the size limit, an upload
-- whose outcome is unknown.
local testing = require "coreplus.testing"
local H = dofile("spec/support/mock_http.lua")

local write = dofile("spec/support/files.lua").write

local function rss_kb()
  local f = io.open("/proc/self/status")
  local text = f and f:read("a") or ""
  if f then f:close() end
  return tonumber(text:match("VmHWM:%s+(%d+)")) or 0
end

describe("every documented operation through the library, against the mock", function()
  local MONTH = H.future_month()
  local mock, cp, prac, client, atype, slot

  lazy_setup(function()
    mock = testing.server{ rate_limit = false, month = MONTH }
    cp = mock:client{ user_agent = "operations-spec/1.0", backoff = 0.01 }
    prac = assert(cp.practitioners:all{})[1]
    client = assert(cp.clients:list{ pageSize = 1 }).items[1]
    atype = assert(cp.appointment_types:all{})[2]
  end)
  lazy_teardown(function() if mock then mock:stop() end end)

  it("lists clients (1), creates one (2) and gets it (3)", function()
    local page = assert(cp.clients:list{ pageSize = 5 })
    assert.equal(5, #page.items)
    local made = assert(cp.clients:create{ firstName = "Ada", lastName = "Lovelace", dateOfBirth = "1990-12-10" })
    assert.truthy(made.clientId)
    local got = assert(cp.clients:get(made.clientId))
    assert.equal("Lovelace", got.lastName)
  end)

  it("creates a family member under v2 (4)", function()
    local fam = assert(cp.client_family:create{ clientId = client.clientId, firstName = "Grace",
      surname = "Hopper", relationship = "Mother" })
    assert.equal("Grace", fam.firstName)
  end)

  it("lists practitioners (5), locations (6) and appointment types (7); creates a type under v2 (8)", function()
    assert.truthy(prac.practitionerId)
    assert.truthy(#assert(cp.locations:all{}) > 0)
    assert.truthy(atype.appointmentTypeId)
    local t = assert(cp.appointment_types:create{ description = "Spec consult", durationMinutes = "30" })
    assert.truthy(t.appointmentTypeId)
  end)

  it("lists free slots (9), finds the next one, and books, lists, gets, updates and cancels (10-14)", function()
    slot = assert(cp.availability_slots:next_free{ practitionerId = prac.practitionerId,
      appointmentTypeId = atype.appointmentTypeId, timezoneId = H.MELBOURNE,
      from = MONTH .. "-15T00:00:00+10:00", days = 20 })
    local appt = assert(cp.appointments:book{ startDateTime = slot.startDateTime, endDateTime = slot.endDateTime,
      practitioner = { practitionerId = prac.practitionerId }, locationId = slot.locationId,
      clients = { { clientId = client.clientId } }, appointmentTypeId = atype.appointmentTypeId })
    local day = slot.startDateTime:sub(1, 10)
    local listed = assert(cp.appointments:all{ startDate = day, endDate = day, timezoneId = H.MELBOURNE })
    local found = false
    for _, a in ipairs(listed) do found = found or a.appointmentId == appt.appointmentId end
    assert.is_true(found)
    assert.equal(appt.appointmentId, assert(cp.appointments:get(appt.appointmentId)).appointmentId)
    assert.truthy(cp.appointments:update(appt.appointmentId, { notes = "moved nothing, noted" }))
    assert.truthy(cp.appointments:cancel(appt.appointmentId))
  end)

  it("lists invoices under v2 (16), gets one (15), what changed since (updatedSince), and payments (17, 18)", function()
    local inv = assert(cp.invoices:list{ pageSize = 3 }).items[1]
    local got = assert(cp.invoices:get(inv.invoiceId))
    assert.equal(inv.invoiceId, got.invoiceId)
    local changes, checkpoint = assert(cp.invoices:changed_since(os.time() - 400 * 86400, { pageSize = 100 }))
    local n = 0
    for _ in changes do n = n + 1 end
    assert.is_true(n > 0 and checkpoint <= os.time())
    local line = got.lineItems[1]
    assert.truthy(cp.payments:create{ invoiceId = got.invoiceId, payments = { { lineItemId = line.lineItemId,
      amountPaid = 1.5, datePaid = os.date("!%Y-%m-%d"), paymentMethodId = "cash" } } })
    assert.truthy(#assert(cp.payments:all{ invoiceId = got.invoiceId }) > 0)
  end)

  it("uploads a client file from memory (19)", function()
    local before = mock:stats().uploads or 0
    assert.truthy(cp.files:upload{ clientId = client.clientId, name = "referral.txt", data = "referral\n" })
    assert.equal(before + 1, mock:stats().uploads)
  end)

  it("uploads a 50 MB file from disk without holding it in memory", function()
    local path = mock.prefix .. "/big.bin"
    assert(os.execute("head -c 52428800 /dev/zero > " .. path))
    collectgarbage()
    local peak = rss_kb()
    assert.truthy(cp.files:upload{ clientId = client.clientId, name = "big.bin", path = path })
    local grown = rss_kb() - peak
    os.remove(path)
    -- (Under AddressSanitizer freed memory is quarantined, not reused: RSS
    -- says nothing about streaming there, so only the normal run checks it.)
    if not (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) then
      assert.is_true(grown < 10 * 1024, "peak RSS grew by " .. grown .. " KB")
    end
    assert.is_true((mock:stats().upload_bytes or 0) >= 52428800)
  end)

  it("sends a secure message with an attachment (20)", function()
    local path = mock.prefix .. "/letter.txt"
    write(path, "letter\n")
    assert.truthy(cp.messages:send({ Client = { Firstname = client.firstName, Surname = client.lastName } },
      { { name = "letter.txt", path = path } }))
  end)

  it("refuses before sending: a missing file, one over max_upload", function()
    local requests = mock:stats().requests
    local small = mock:client{ user_agent = "operations-spec/1.0", max_upload = 4 }
    local _, err = small.files:upload{ clientId = client.clientId, name = "x", path = "/nonexistent" }
    assert.equal("validation", err.kind)
    _, err = small.files:upload{ clientId = client.clientId, name = "x", data = "12345" }
    assert.equal("too_large", err.kind)
    assert.equal(requests, mock:stats().requests)
  end)

  it("does not repeat an upload whose connection drops after the server took it: outcome unknown", function()
    local before = mock:stats().uploads or 0
    local _, err = cp:request("POST", "File/", { headers = { ["X-Mock-Fault"] = "reset_after_commit" },
      multipart = { { name = "json", type = "application/json", data = require("cjson").encode{ name = "d.txt",
        primaryDomainKey = client.clientId, size = "2", entity = "client", parentFolderId = "", isFolder = false } },
        { name = "File", filename = "d.txt", type = "text/plain", data = "hi" } } })
    assert.is_not_nil(err)
    assert.equal("unknown", err.outcome)
    assert.is_true((mock:stats().uploads or 0) <= before + 1)
  end)
end)
