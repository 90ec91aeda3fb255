--- Reading a list into a table: every page of it, fetched ahead within the
-- practice's limit, and two ways to keep a table exact:
--
--  - full(): the small lists (locations, practitioners, appointment types)
--    are read whole each run; rows the API no longer lists are deleted.
--  - feed(): clients are read with `updatedSince` from the cursor the last
--    run committed (the whole list the first time); the new cursor is the
--    server's time from before the first page, committed in the same
--    transaction as the last rows, so a change made while the pages are
--    read is read again next run, never lost.
local job_mod = require "coreplus.sync.job"

local floor = math.floor
local ipairs = ipairs
local pcall = pcall
local error = error

local _M = {}

--- pages(job, cp, resource, params, on_page) -> checkpoint: calls
-- on_page(page) for every page in order; the checkpoint is the server's time
-- (epoch seconds) from before the first page was asked for, one second back
-- (Date has whole seconds, and the offset learnt is never ahead). Raises the
-- API's error; the pages in flight are dropped when it does.
function _M.pages(job, cp, resource, params, on_page)
  local before = job.clock()
  local next_page, _, _, pager = cp[resource]:pages(params)
  local c = job:count(resource)
  local checkpoint
  local ok, err = pcall(function()
    while true do
      local page, perr = next_page()
      if page == nil then break end
      if page == false then error(perr, 0) end
      -- the offset is learnt from the first answer: the checkpoint waits for it
      checkpoint = checkpoint or floor(before + (cp.clock_offset or 0)) - 1
      c.total = page.total or c.total
      on_page(page)
      job:emit("progress", resource)
      job:check_stop()
    end
  end)
  if pager and pager.close then pager:close() end
  if not ok then error(err, 0) end
  return checkpoint or floor(before + (cp.clock_offset or 0)) - 1
end

--- full(job, cp, resource): the whole list, and rows no longer listed deleted.
function _M.full(job, cp, resource)
  local batch, seen = job:batch(resource), {}
  local checkpoint = _M.pages(job, cp, resource, {}, function(page)
    for _, item in ipairs(page.items) do
      local row = job_mod.row(resource, item)
      if row then seen[row.id] = true end
      batch:add(row)
    end
  end)
  local practice = job.practice
  batch:flush(function(db, now)
    local gone = {}
    for _, id in ipairs(db:ids(resource, practice)) do
      if not seen[id] then gone[#gone + 1] = id end
    end
    local c = job:count(resource)
    c.deleted = c.deleted + db:delete(resource, practice, gone)
    db:set_state(practice, resource, job_mod.instant(checkpoint), nil, now)
  end)
  return checkpoint
end

--- feed(job, cp, resource): what changed since the cursor (everything the
-- first time), and the new cursor with the last rows.
function _M.feed(job, cp, resource)
  local practice = job.practice
  local params = { updatedSince = job:cursor(resource) }
  local batch = job:batch(resource)
  local checkpoint = _M.pages(job, cp, resource, params, function(page)
    for _, item in ipairs(page.items) do batch:add(job_mod.row(resource, item)) end
  end)
  batch:flush(function(db, now)
    db:set_state(practice, resource, job_mod.instant(checkpoint), nil, now)
  end)
  return checkpoint
end

return _M
