--- Paging: one page, a page iterator that fetches ahead, an item iterator, and
-- all items. Memory stays bounded by the pages in flight: pages are handed
-- out and forgotten, never accumulated (except by `all`, which is asked to).
local type = type
local error = error
local ceil = math.ceil
local min = math.min
local tonumber = tonumber
local pairs = pairs

local _M = {}

local ITERATOR_PAGE_SIZE = 100   -- the API's maximum: fewest requests per row

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function make_page(resource, decoded, number, size)
  local key = resource.row.items
  local items = key and decoded[key] or decoded
  if type(items) ~= "table" then items = {} end
  local paging = type(decoded.paging) == "table" and decoded.paging or {}
  return {
    items = items,
    page = tonumber(paging.pageNumber) or number,
    page_size = tonumber(paging.pageSize) or size,
    total = tonumber(paging.totalRows),
    raw = decoded,
  }
end

--- One page: r:list(params).
function _M.page(resource, params)
  local decoded, err = resource.client:_call("GET", resource.row.path, params)
  if not decoded then return nil, err end
  return make_page(resource, decoded, params.pageNumber or 1, params.pageSize)
end

--- for page, err in r:pages(params): pages in order; a failure is handed to
-- the loop as (false, err) and ends the iteration.
function _M.pages(resource, params)
  local client = resource.client
  local paged = resource.row.paged ~= false
  local base = copy(params)
  if paged and base.pageSize == nil then base.pageSize = ITERATOR_PAGE_SIZE end
  local size = base.pageSize
  local next_number = base.pageNumber or 1
  local last                -- last page number, once totalRows is known
  local queue, head = {}, 1 -- fetched pages not yet handed out
  local done = false

  local function query(number)
    local q = copy(base)
    q.pageNumber = number
    return q
  end

  local function fetch_one()
    local decoded, err = client:_call("GET", resource.row.path, paged and query(next_number) or base)
    if not decoded then return nil, err end
    local page = make_page(resource, decoded, next_number, size)
    next_number = next_number + 1
    if not paged then
      last = 0
    elseif page.total then
      last = ceil(page.total / size)
    elseif #page.items < (size or 1) then
      last = next_number - 1  -- a short page ends a list that gives no total
    end
    return page
  end

  local function fetch_ahead()
    local n = min(client.concurrency, last - next_number + 1)
    local list = {}
    for i = 1, n do
      list[i] = { path = resource.row.path, query = query(next_number + i - 1) }
    end
    local results = client:_get_many(list)
    for i = 1, n do
      local decoded, err = results[i][1], results[i][2]
      if decoded then
        queue[#queue + 1] = make_page(resource, decoded, next_number, size)
      else
        queue[#queue + 1] = { error = err }
        break
      end
      next_number = next_number + 1
    end
  end

  local first = true
  return function()
    if done then return nil end
    if head > #queue then
      queue, head = {}, 1
      if last ~= nil and next_number > last then done = true; return nil end
      if last == nil then
        -- Until the total is known, pages come one at a time.
        local page, err = fetch_one()
        if not page then done = true; return false, err end
        if #page.items == 0 and not first then done = true; return nil end
        first = false
        return page
      end
      fetch_ahead()
    end
    local page = queue[head]
    queue[head] = nil   -- hand it out and forget it
    head = head + 1
    if page.error then done = true; return false, page.error end
    return page
  end
end

--- for item in r:each(params): every item across pages; raises the error
-- object on failure (iterators cannot return nil, err).
function _M.each(resource, params)
  local next_page = _M.pages(resource, params)
  local items, i = nil, 0
  return function()
    while true do
      if items then
        i = i + 1
        local item = items[i]
        if item ~= nil then return item end
        items = nil
      end
      local page, err = next_page()
      if page == nil then return nil end
      if page == false then error(err, 0) end
      items, i = page.items, 0
    end
  end
end

--- Every item in one table: r:all(params) -> items | nil, err.
function _M.all(resource, params)
  local out = {}
  for page, err in _M.pages(resource, params) do
    if not page then return nil, err end
    for _, item in ipairs(page.items) do out[#out + 1] = item end
  end
  return out
end

return _M
