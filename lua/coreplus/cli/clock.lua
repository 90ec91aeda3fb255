--- The server's clock offset, kept between runs of the tool.
--
-- A client learns how far the server's clock is from this machine's from
-- the `Date` headers of its responses; a fresh process knows nothing, so
-- against a skewed server every command would pay a refused token (401) and
-- a retry. The tool keeps what it learnt in a file next to the default
-- shared-limit file (`core.default_limit_path()`'s directory: the user's own,
-- mode 0700), one line per base URL:
--
--     <offset in seconds> <saved at, unix seconds> <base URL>
--
-- and starts each client from it (the `clock_offset` option), so a skewed
-- server costs one 401 per machine. The first response corrects a stale
-- offset; one older than a week is not used. A damaged line is ignored, and
-- nothing here ever fails a command.
local runtime_file = require "coreplus.cli.runtime_file"

local type = type
local ipairs = ipairs
local tonumber = tonumber
local format = string.format
local floor = math.floor
local abs = math.abs

local _M = {}

local FILE = "coreplus-clock"
local MAX_AGE = 7 * 86400        -- seconds an offset is believed
local REFRESH = 3600             -- an unchanged offset is written again after this
local MAX_OFFSET = 86400         -- the client believes no Date further off than this
local MAX_LINES = 64             -- base URLs kept (the most recent)

--- The file, or nil when there is no default limit directory.
function _M.path()
  return runtime_file.path(FILE)
end

-- Every line of the file: a list of {offset =, at =, base =}, oldest first.
local function read(path)
  local out = {}
  for _, line in ipairs(runtime_file.lines(path)) do
    local offset, at, base = line:match("^(%-?[%d.]+) (%d+) (%S+)$")
    offset, at = tonumber(offset), tonumber(at)
    if offset and at and abs(offset) <= MAX_OFFSET then out[#out + 1] = { offset = offset, at = at, base = base } end
  end
  return out
end

local function find(entries, base)
  for i = #entries, 1, -1 do
    if entries[i].base == base then return entries[i], i end
  end
  return nil
end

--- The offset remembered for `base_url`, or nil (none, or too old).
function _M.recall(base_url, now, path)
  path = path or _M.path()
  if not path or type(base_url) ~= "string" then return nil end
  local e = find(read(path), base_url)
  if not e or now - e.at > MAX_AGE or e.at > now + 60 then return nil end
  return e.offset
end

--- Remembers `offset` for `base_url` (written only when it changed or is
-- old, atomically: a new file renamed over the old one).
function _M.remember(base_url, offset, now, path)
  path = path or _M.path()
  if not path or type(base_url) ~= "string" or base_url:find("%s") or type(offset) ~= "number"
    or offset ~= offset or abs(offset) > MAX_OFFSET then
    return false
  end
  local entries = read(path)
  local e, i = find(entries, base_url)
  if e and abs(e.offset - offset) < 0.5 and now - e.at < REFRESH then return false end
  if i then table.remove(entries, i) end
  entries[#entries + 1] = { offset = offset, at = floor(now), base = base_url }
  local lines = {}
  for k = math.max(1, #entries - MAX_LINES + 1), #entries do
    local x = entries[k]
    lines[#lines + 1] = format("%.3f %d %s", x.offset, x.at, x.base)
  end
  return runtime_file.write(path, lines)
end

return _M
