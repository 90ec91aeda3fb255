--- How commands print what coreplus returned: a record, one page of a list,
-- or every page streamed, in the run's output format (see context:format).
local output = require "coreplus.cli.output"
local progress = require "coreplus.cli.progress"

local ipairs = ipairs
local format = string.format
local ceil = math.ceil

local _M = {}

-- (an empty table has said "(no rows)" already)
local function rows(n)
  if n == 0 then return "" end
  return format("(%d row%s)\n", n, n == 1 and "" or "s")
end

local function sink(ctx, cols)
  return output.sink(ctx:format(), ctx.sys.stdout, { columns = cols, width = ctx:cell_width(),
    fields = ctx:columns(nil) })
end

--- Streams every page of `iterator` (yielding page | false, err), with the
-- progress bar when wanted. Returns the exit status.
function _M.stream(ctx, iterator, label, cols)
  local s = sink(ctx, cols)
  local bar = ctx:want_progress() and progress.new{ write = ctx.sys.stderr, now = ctx.sys.now, label = label }
  for page, err in iterator do
    if not page then
      if bar then bar:finish() end
      return ctx:fail(err)
    end
    if bar then bar:update(page) end
    for _, item in ipairs(page.items) do s.item(item) end
  end
  if bar then bar:finish() end
  s.close()
  if ctx:format() == "table" then ctx.sys.stdout(rows(s.count())) end
  return 0
end

--- One page; a table ends with where the page sits in the list.
function _M.page(ctx, page, cols)
  local s = sink(ctx, cols)
  for _, item in ipairs(page.items) do s.item(item) end
  s.close()
  if ctx:format() == "table" then
    local n = #page.items
    if page.total and page.page_size and page.total > n then
      local first = (page.page - 1) * page.page_size + 1
      ctx.sys.stdout(format("(rows %d-%d of %d, page %d of %d; --all for every row, --page N for another)\n",
        first, first + n - 1, page.total, page.page, ceil(page.total / page.page_size)))
    else
      ctx.sys.stdout(rows(n))
    end
  end
  return 0
end

function _M.record(ctx, record)
  -- For people a record is every field; --fields picks some, in JSON too.
  local fields = ctx:columns(nil)
  if fields and ctx:format() == "table" then record = output.pick(record, fields) end
  output.record(ctx:format(), ctx.sys.stdout, record, { width = ctx:record_width(), fields = fields })
  return 0
end

return _M
