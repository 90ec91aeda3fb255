--- A one-line progress bar for `--all` on stderr: pages and rows fetched of
-- the total, the rate, and the time left. Redrawn in place with "\r"; only
-- used when stderr is a terminal (or --progress asks for it).
local format = string.format
local floor = math.floor
local max = math.max
local min = math.min

local _M = {}
local mt = { __index = _M }

local BAR = 24

--- new{write=, now=, label=}
function _M.new(o)
  return setmetatable({ write = o.write, now = o.now, label = o.label or "",
    started = o.now(), pages = 0, rows = 0, shown = false }, mt)
end

local function duration(s)
  s = floor(s + 0.5)
  if s < 60 then return s .. " s" end
  return format("%d min %02d s", floor(s / 60), s % 60)
end

--- The line for the current state (exposed for the spec).
function _M:line()
  local elapsed = max(self.now() - self.started, 1e-3)
  local rate = self.rows / elapsed
  local parts = { self.label }
  if self.total and self.total > 0 then
    local done = min(1, self.rows / self.total)
    local fill = floor(done * BAR + 0.5)
    parts[#parts + 1] = "[" .. ("#"):rep(fill) .. ("."):rep(BAR - fill) .. "]"
    local page_total = self.page_size and math.ceil(self.total / self.page_size)
    parts[#parts + 1] = page_total and format("page %d/%d", self.pages, page_total)
      or format("page %d", self.pages)
    parts[#parts + 1] = format("%d/%d rows", self.rows, self.total)
  else
    parts[#parts + 1] = format("page %d", self.pages)
    parts[#parts + 1] = format("%d rows", self.rows)
  end
  parts[#parts + 1] = format("%.0f rows/s", rate)
  if self.total and rate > 0 and self.rows < self.total then
    parts[#parts + 1] = duration((self.total - self.rows) / rate) .. " left"
  end
  return table.concat(parts, "  ")
end

--- update(page): one more page arrived.
function _M:update(page)
  self.pages = self.pages + 1
  self.rows = self.rows + #page.items
  self.total = page.total or self.total
  self.page_size = page.page_size or self.page_size
  self.write("\r\27[K" .. self:line())
  self.shown = true
end

--- Clears the line so the output that follows starts clean.
function _M:finish()
  if self.shown then self.write("\r\27[K") end
end

return _M
