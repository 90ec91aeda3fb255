--- Paging: one page, a page iterator that fetches ahead, an item iterator, and
-- all items. Memory stays bounded by the pages in flight: pages are handed
-- out and forgotten, never accumulated (except by `all`, which is asked to).
-- Requests go through the resource's engine only (coreplus.engine).
--
-- Rows are checked against the filters the docs do not document
-- (coreplus.filters): a row a server sent although the filter excludes it
-- is dropped here, and the engine says once that the server ignored that
-- filter. Paging follows what the server sent (`received`, its totalRows),
-- so that a list whose filter was ignored is still read to its end.
local errors = require "coreplus.errors"
local fields = require "coreplus.fields"
local filters = require "coreplus.filters"

local type = type
local error = error
local ceil = math.ceil
local tonumber = tonumber
local pairs = pairs
local ipairs = ipairs
local setmetatable = setmetatable

local _M = {}

local ITERATOR_PAGE_SIZE = require("coreplus.defaults").page_size

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The engine says once per resource and filter that the server ignored it.
local function ignored(resource, checks, dropped)
  for _, c in ipairs(checks) do
    if dropped[c.name] then
      resource.engine:warn("ignored_filter " .. resource.row.path .. " " .. c.name,
        ("the server ignored the filter %s on %s (it sent rows that do not match):"
          .. " such rows are dropped here, and every page is read"):format(filters.show(c), resource.row.path))
    end
  end
end

-- A page (see coreplus.resource): `items` are the rows that pass `checks`;
-- `received` counts the rows the server sent and `server_total` is its
-- totalRows, which paging follows. When rows were dropped, `total` is
-- unknown (the server's counts rows the filter excludes) and `dropped`
-- says how many.
local function make_page(resource, decoded, number, size, checks)
  local key = resource.row.items
  local items = key and decoded[key] or decoded
  if type(items) ~= "table" then items = {} end
  local paging = type(decoded.paging) == "table" and decoded.paging or {}
  local total = tonumber(paging.totalRows)
  local kept, dropped = filters.apply(checks, items)
  local page = {
    items = kept,
    page = tonumber(paging.pageNumber) or number,
    page_size = tonumber(paging.pageSize) or size,
    total = total,
    raw = decoded,
    received = #items,
    server_total = total,
  }
  if dropped then
    page.total = nil
    page.dropped = #items - #kept
    ignored(resource, checks, dropped)
  end
  return page
end

--- One page: r:list(params).
function _M.page(resource, params)
  local decoded, err = resource.engine:call("GET", resource.row.path,
    { query = params, route = resource:route("list") })
  if not decoded then return nil, err end
  return make_page(resource, decoded, params.pageNumber or 1, params.pageSize,
    filters.checks(resource.row.list, params))
end

-- ===== pages: the page iterator =====

-- One walk through the pages of a list. The first page comes alone; once it
-- tells the total, up to `concurrency` further pages are in flight on the
-- engine's stream and handed out in order.
local Pages = {}
Pages.__index = Pages

local function new_pages(resource, params)
  local paged = resource.row.paged ~= false
  local base = copy(params)
  if paged and base.pageSize == nil then base.pageSize = ITERATOR_PAGE_SIZE end
  return setmetatable({
    resource = resource, engine = resource.engine, path = resource.row.path,
    route = resource:route("list"),
    paged = paged, base = base, size = base.pageSize,
    checks = filters.checks(resource.row.list, base),
    first = base.pageNumber or 1,
    next_yield = base.pageNumber or 1,   -- the page number the loop gets next
    last = nil,                          -- last page number, once known
    done = false,
    ahead = {},                          -- page number -> page (or {error=}) fetched early
    held = 0,                            -- how many pages `ahead` holds
    stream = nil, next_add = nil,
    numbers = {},                        -- stream id -> page number
  }, Pages)
end

function Pages:query(number)
  local q = copy(self.base)
  if self.paged then q.pageNumber = number end
  return q
end

function Pages:close()
  self.done = true
  if self.stream then self.stream:close(); self.stream = nil end
end
Pages.__close = Pages.close

function Pages:fetch_one(number)
  local decoded, err = self.engine:call("GET", self.path, { query = self:query(number), route = self.route })
  if not decoded then return { error = err } end
  return make_page(self.resource, decoded, number, self.size, self.checks)
end

-- Pages in flight plus pages fetched early never exceed `concurrency`: one
-- slow page cannot make the others pile up in memory behind it.
function Pages:fill()
  local s = self.stream
  while s:pending() + self.held < s:capacity() and self.next_add <= self.last do
    self.numbers[s:add(self.path, self:query(self.next_add), self.route)] = self.next_add
    self.next_add = self.next_add + 1
  end
end

function Pages:take(number)
  while self.ahead[number] == nil do
    self:fill()
    local id, decoded, err = self.stream:next()
    if id == nil then
      return { error = errors.new{ kind = "network", message = "page " .. number .. " was never requested" } }
    end
    local n = self.numbers[id]
    self.numbers[id] = nil
    self.ahead[n] = decoded and make_page(self.resource, decoded, n, self.size, self.checks) or { error = err }
    self.held = self.held + 1
  end
  local page = self.ahead[number]
  self.ahead[number] = nil
  self.held = self.held - 1
  self:fill()   -- keep fetching while the caller works on this page
  return page
end

-- Until the total is known, pages come one at a time; the first one says
-- where the list ends.
function Pages:learn_last(page)
  local number = self.next_yield
  if page.received == 0 and number ~= self.first then return end
  if not self.paged then
    self.last = number
  elseif page.server_total then
    self.last = ceil(page.server_total / self.size)
  elseif page.received < self.size then
    self.last = number   -- a short page ends a list that gives no total
  end
  if self.last and self.last > number then
    self.stream = self.engine:stream()
    self.next_add = number + 1
    self:fill()
  end
end

--- pages:next() -> page | false, err (then the end) | nil at the end.
function Pages:next()
  if self.done then return nil end
  local page
  if self.last == nil then
    page = self:fetch_one(self.next_yield)
    if not page.error then self:learn_last(page) end
  elseif self.next_yield > self.last then
    self:close()
    return nil
  else
    page = self:take(self.next_yield)
  end
  if page.error then self:close(); return false, page.error end
  -- an empty page past the first ends the list, whatever totalRows claimed
  if page.received == 0 and self.next_yield ~= self.first then self:close(); return nil end
  self.next_yield = self.next_yield + 1
  return page
end

--- for page, err in r:pages(params): pages in order; a failure is handed to
-- the loop as (false, err) and ends the iteration. Under Lua 5.4 the fourth
-- value closes the stream when the loop is left early. The iterator also
-- works on its own (`local next_page = r:pages{}; next_page()`).
function _M.pages(resource, params)
  local p = new_pages(resource, params)
  return function() return p:next() end, nil, nil, p
end

-- An iterator over the items of the pages p hands out (`first` is a page
-- already taken from it); raises the error object on failure.
local function items_of(p, first)
  local items, i = first and first.items, 0
  return function()
    while true do
      if items then
        i = i + 1
        local item = items[i]
        if item ~= nil then return item end
        items = nil
      end
      local page, err = p:next()
      if page == nil then return nil end
      if page == false then error(err, 0) end
      items, i = page.items, 0
    end
  end
end

--- for item in r:each(params): every item across pages; raises the error
-- object on failure (iterators cannot return nil, err).
function _M.each(resource, params)
  local p = new_pages(resource, params)
  return items_of(p), nil, nil, p
end

--- r:changed_since(since, params) -> iterator, checkpoint | nil, err: what
-- changed after `since` (unix seconds or a datetime: updatedSince), every
-- page of it, and the checkpoint to pass next time (unix seconds of the
-- server's clock from before the first page was asked for, so that nothing
-- that changes meanwhile falls between two runs; some items may come twice).
-- The first page is fetched at once: its failure is the nil, err.
function _M.changed_since(resource, params, since)
  if since == nil then
    require("coreplus.misuse").raise("bad argument #1 to 'changed_since' (unix seconds or a datetime expected)")
  end
  local q = copy(params)
  q.updatedSince = fields.updated_since(since)
  local eng = resource.engine
  local before = eng.now()
  local p = new_pages(resource, q)
  local first, err = p:next()
  if first == false then return nil, err end
  -- One second back: Date truncates, and the offset learnt is never ahead.
  local checkpoint = math.floor(before + (eng.clock_offset or 0)) - 1
  if first == nil then return function() return nil end, checkpoint end
  return items_of(p, first), checkpoint, nil, p
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
