--- Paging: one page, a page iterator that fetches ahead, an item iterator, and
-- all items. Memory stays bounded by the pages in flight: pages are handed
-- out and forgotten, never accumulated (except by `all`, which is asked to).
local errors = require "coreplus.errors"

local type = type
local error = error
local ceil = math.ceil
local min = math.min
local tonumber = tonumber
local pairs = pairs
local ipairs = ipairs
local setmetatable = setmetatable

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
-- the loop as (false, err) and ends the iteration. Once the first page tells
-- the total, up to `concurrency` further pages are fetched ahead: as a stream
-- when the transport has pipelines (the C core), else in batches. Under Lua
-- 5.4 the fourth value closes the stream when the loop is left early.
function _M.pages(resource, params)
  local client = resource.client
  local path = resource.row.path
  local paged = resource.row.paged ~= false
  local base = copy(params)
  if paged and base.pageSize == nil then base.pageSize = ITERATOR_PAGE_SIZE end
  local size = base.pageSize
  local first_number = base.pageNumber or 1
  local next_yield = first_number   -- the page number the loop gets next
  local last                        -- last page number, once known
  local done = false
  local ahead = {}                  -- page number -> page (or {error=}) fetched early
  local held = 0                    -- how many pages `ahead` holds
  local stream, next_add            -- the transport's pipeline, when it has one
  local in_flight = {}              -- pipeline id -> {number, opts, query}

  local function query(number)
    local q = copy(base)
    if paged then q.pageNumber = number end
    return q
  end

  local function finish()
    done = true
    if stream then stream:close(); stream = nil end
  end

  local function fetch_one(number)
    local decoded, err = client:_call("GET", path, query(number))
    if not decoded then return { error = err } end
    return make_page(resource, decoded, number, size)
  end

  -- Pages in flight plus pages fetched early never exceed `concurrency`: one
  -- slow page cannot make the others pile up in memory behind it.
  local function fill_stream()
    while stream:pending() + held < stream:capacity() and next_add <= last do
      local q = query(next_add)
      local opts = client:_get_opts(path, q)
      in_flight[stream:add(opts)] = { number = next_add, opts = opts, query = q }
      next_add = next_add + 1
    end
  end

  local function take_stream(number)
    while ahead[number] == nil do
      fill_stream()
      local id, res, err = stream:next()
      if id == nil then
        return { error = errors.new{ kind = "network", message = "page " .. number .. " was never requested" } }
      end
      local f = in_flight[id]
      in_flight[id] = nil
      local decoded, failure = client:_finish_get(f.opts, res, err, path, f.query)
      ahead[f.number] = decoded and make_page(resource, decoded, f.number, size) or { error = failure }
      held = held + 1
    end
    local page = ahead[number]
    ahead[number] = nil
    held = held - 1
    fill_stream()   -- keep fetching while the caller works on this page
    return page
  end

  local function take_batch(number)
    if ahead[number] == nil then
      local list = {}
      for i = 1, min(client.concurrency, last - number + 1) do
        list[i] = { path = path, query = query(number + i - 1) }
      end
      for i, r in ipairs(client:_get_many(list)) do
        ahead[number + i - 1] = r[1] and make_page(resource, r[1], number + i - 1, size) or { error = r[2] }
      end
    end
    local page = ahead[number]
    ahead[number] = nil
    return page
  end

  local function iterate()
    if done then return nil end
    local page
    if last == nil then
      -- Until the total is known, pages come one at a time.
      page = fetch_one(next_yield)
      if not page.error then
        if #page.items == 0 and next_yield ~= first_number then finish(); return nil end
        if not paged then
          last = next_yield
        elseif page.total then
          last = ceil(page.total / size)
        elseif #page.items < size then
          last = next_yield   -- a short page ends a list that gives no total
        end
        if last and last > next_yield and client.transport.pipeline then
          stream = client.transport.pipeline{ concurrency = client.concurrency }
          next_add = next_yield + 1
          fill_stream()
        end
      end
    elseif next_yield > last then
      finish()
      return nil
    elseif stream then
      page = take_stream(next_yield)
    else
      page = take_batch(next_yield)
    end
    if page.error then finish(); return false, page.error end
    -- an empty page past the first ends the list, whatever totalRows claimed
    if #page.items == 0 and next_yield ~= first_number then finish(); return nil end
    next_yield = next_yield + 1
    return page
  end

  local closer = setmetatable({}, { __close = function() if stream then stream:close(); stream = nil end end })
  return iterate, nil, nil, closer
end

--- for item in r:each(params): every item across pages; raises the error
-- object on failure (iterators cannot return nil, err).
function _M.each(resource, params)
  local next_page, _, _, closer = _M.pages(resource, params)
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
  end, nil, nil, closer
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
