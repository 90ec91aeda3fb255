--- `coreplus sync`'s progress on a terminal: one line per practice and
-- resource, redrawn in place (at most every `interval` seconds, and once at
-- the end) from the run's events.
--
--   north  clients        done     537/537 read  537 written  0 unchanged  6 requests  0 x 429  1.2 s
local format = string.format
local concat = table.concat
local ipairs = ipairs
local setmetatable = setmetatable

local _M = {}
local P = {}
P.__index = P

--- new{write = function(text), now = function() -> seconds, practices = {labels},
-- resources = {names}, interval = 0.25}
function _M.new(o)
  local self = setmetatable({ write = o.write, now = o.now, interval = o.interval or 0.25, rows = {},
    order = {}, drawn = 0, last = -math.huge }, P)
  local width = 0
  for _, p in ipairs(o.practices) do if #p > width then width = #p end end
  self.width = width
  for _, p in ipairs(o.practices) do
    for _, r in ipairs(o.resources) do
      local key = p .. "\0" .. r
      self.rows[key] = { practice = p, resource = r, state = "waiting" }
      self.order[#self.order + 1] = key
    end
  end
  return self
end

local function line(width, r)
  local parts = { format("%-" .. width .. "s  %-17s %-8s", r.practice, r.resource, r.state) }
  if r.read then
    parts[#parts + 1] = r.total and r.total >= r.read and format("%d/%d read", r.read, r.total)
      or format("%d read", r.read)
    parts[#parts + 1] = format("%d written  %d unchanged", r.written, r.unchanged)
    if (r.deleted or 0) > 0 then parts[#parts + 1] = format("%d deleted", r.deleted) end
    parts[#parts + 1] = format("%d requests  %d x 429", r.requests, r.rate_limited)
  end
  if r.seconds then parts[#parts + 1] = format("%.1f s", r.seconds) end
  if r.error then parts[#parts + 1] = "- " .. tostring(r.error):gsub("^coreplus ", ""):sub(1, 100) end
  return concat(parts, "  ")
end

--- The lines as they stand (for the spec).
function P:lines()
  local out = {}
  for i, key in ipairs(self.order) do out[i] = line(self.width, self.rows[key]) end
  return out
end

-- Redraws the block: back up over what was drawn, rewrite every line.
function P:draw()
  local text = {}
  if self.drawn > 0 then text[1] = format("\27[%dA", self.drawn) end
  for _, l in ipairs(self:lines()) do text[#text + 1] = "\r\27[K" .. l .. "\n" end
  self.write(concat(text))
  self.drawn = #self.order
  self.last = self.now()
end

--- on_event(ev): a sync event (coreplus.sync's on_event).
function P:event(ev)
  local r = ev.resource and self.rows[ev.practice .. "\0" .. ev.resource]
  if not r then return end
  for _, k in ipairs{ "read", "written", "unchanged", "deleted", "requests", "rate_limited", "total", "seconds" } do
    r[k] = ev[k]
  end
  if ev.type == "resource_done" then r.state = "done"
  elseif ev.type == "resource_failed" then r.state, r.error = "FAILED", ev.error
  else r.state = "syncing" end
  if ev.type ~= "progress" or self.now() - self.last >= self.interval then self:draw() end
end

--- A new run (--watch): every line waits again.
function P:reset()
  for _, key in ipairs(self.order) do
    local r = self.rows[key]
    self.rows[key] = { practice = r.practice, resource = r.resource, state = "waiting" }
  end
  self.drawn = 0
end

--- The last drawing, complete.
function P:finish()
  self:draw()
end

return _M
