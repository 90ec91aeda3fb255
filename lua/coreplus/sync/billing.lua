--- Invoices and their payments. Invoices come from the `updatedSince` feed
-- (coreplus.sync.lists). The API lists payments only per invoice
-- (`GET Payment/?invoiceId=`: the API documents no list of all payments,
-- and no payment ids), so payments cost one request per invoice; the feed
-- keeps that to the invoices that changed since the last run (a payment
-- changes its invoice's amountOwing, and with it its updatedSince), fetched
-- by a few tasks at once within the practice's limit. A payment's row is
-- the n-th payment of its invoice line; an invoice's rows are replaced
-- together, so a payment taken back disappears from the mirror too.
--
-- The invoices' and payments' cursors move together, in the transaction
-- that writes the last rows: a run stopped half-way reads the same
-- invoices again and asks for their payments again.
local job_mod = require "coreplus.sync.job"
local lists = require "coreplus.sync.lists"

local type = type
local pairs = pairs
local ipairs = ipairs
local pcall = pcall
local error = error
local tostring = tostring

local _M = {}

-- Invoices waiting for their payments to be asked for, at most: reading
-- invoice pages waits beyond it (bounded memory however long the feed).
local BACKLOG = 300

--- The payments of one invoice's answer as rows.
function _M.payment_rows(invoice_id, answer)
  local rows = {}
  local lines = type(answer) == "table" and answer.lineItems
  for _, line in ipairs(type(lines) == "table" and lines or {}) do
    local lid = type(line) == "table" and line.lineItemId
    for n, p in ipairs(type(line.payments) == "table" and line.payments or {}) do
      if type(p) == "table" and lid then
        local record = { id = invoice_id .. "/" .. tostring(lid) .. "/" .. n, invoiceId = invoice_id,
          lineItemId = lid }
        for k, v in pairs(p) do if record[k] == nil then record[k] = v end end
        rows[#rows + 1] = job_mod.row("payments", record)
      end
    end
  end
  return rows
end

-- ===== the payments' fetchers =====

-- Asks for the payments of the invoices given to add(), a few at a time,
-- and writes them in batches.
local function fetcher(job, cp)
  local f = { results = {} }
  local c = job:count("payments")
  local practice = job.practice

  --- Writes the results so far (and `also`, in the same transaction).
  function f.flush(also)
    local results = f.results
    f.results = {}
    job:write(function(db, now)
      for _, r in ipairs(results) do
        local keep = {}
        for _, row in ipairs(r.rows) do keep[row.id] = true end
        c.read = c.read + #r.rows
        local written, unchanged = db:upsert("payments", practice, r.rows, now)
        c.written, c.unchanged = c.written + written, c.unchanged + unchanged
        local gone = {}
        for _, id in ipairs(db:ids_where("payments", practice, "invoice_id", r.invoice)) do
          if not keep[id] then gone[#gone + 1] = id end
        end
        c.deleted = c.deleted + db:delete("payments", practice, gone)
      end
      if also then also(db, now) end
    end)
    job:emit("progress", "payments")
  end

  f.pool = job:pool(function(id)
    local page, err = cp.payments:list{ invoiceId = id }
    if page then
      f.results[#f.results + 1] = { invoice = id, rows = _M.payment_rows(id, page.raw) }
    elseif err.kind == "not_found" then
      f.results[#f.results + 1] = { invoice = id, rows = {} }   -- gone: so are its payments
    else
      error(err, 0)
    end
    if #f.results >= job_mod.BATCH / 5 then f.flush() end
  end, cp.concurrency)
  return f
end

-- ===== the run =====

--- run(job, cp, want): want = {invoices = bool, payments = bool}.
function _M.run(job, cp, want)
  local practice = job.practice
  -- One pass of the feed serves both: from the older cursor (none: all).
  local since
  for _, r in ipairs{ "invoices", "payments" } do
    if want[r] then
      local cur = job:cursor(r)
      if not cur then since = false; break end
      if since == nil or cur < since then since = cur end
    end
  end
  local params = {}
  if since then params.updatedSince = since end
  local invoices = want.invoices and job:batch("invoices") or nil
  local fetch = want.payments and fetcher(job, cp) or nil
  if want.payments then job:count("payments") end
  local read_ok, checkpoint = pcall(lists.pages, job, cp, "invoices", params, function(page)
    for _, item in ipairs(page.items) do
      if invoices then invoices:add(job_mod.row("invoices", item)) end
      if fetch and type(item) == "table" and type(item.invoiceId) == "string" then fetch.pool:add(item.invoiceId) end
    end
    if fetch then fetch.pool:drain_to(BACKLOG) end
  end)
  if not read_ok then
    if fetch then fetch.pool.failed = fetch.pool.failed or checkpoint end   -- the fetchers stop too
    error(checkpoint, 0)
  end
  if fetch then fetch.pool:finish() end
  local cursor = job_mod.instant(checkpoint)
  local function commit(d, now)
    for _, r in ipairs{ "invoices", "payments" } do
      if want[r] then d:set_state(practice, r, cursor, nil, now) end
    end
  end
  if fetch then
    fetch.flush(function(d, now)
      if invoices then invoices:write(now) end
      commit(d, now)
    end)
  else
    invoices:flush(commit)
  end
  if invoices then job:emit("progress", "invoices") end
  return checkpoint
end

return _M
