--- Small files the tool keeps between its runs, in the directory of the
-- default shared-limit file (`core.default_limit_path()`'s: the user's own,
-- mode 0700): the server's clock offset (coreplus.cli.clock) and the API
-- versions found to answer (coreplus.cli.versions). Each is a few lines of
-- text, read line by line and written whole, atomically (a new file renamed
-- over the old one), so a reader never sees half of one. Nothing here ever
-- fails a command: a missing directory or file reads as empty.
local core = require "coreplus.core"

local type = type
local ipairs = ipairs
local format = string.format
local floor = math.floor

local _M = {}

--- The path of the file `name`, or nil when there is no default limit directory.
function _M.path(name)
  if not core.default_limit_path then return nil end
  local ok, p = pcall(core.default_limit_path)
  local dir = ok and type(p) == "string" and p:match("^(.*)/[^/]*$")
  return dir and (dir .. "/" .. name) or nil
end

--- The file's lines (none when it cannot be read).
function _M.lines(path)
  local out = {}
  local f = path and io.open(path, "rb")
  if not f then return out end
  for line in f:lines() do out[#out + 1] = line end
  f:close()
  return out
end

--- Writes `lines` as the whole file: true, or false when it could not.
function _M.write(path, lines)
  local tmp = format("%s.%d.new", path, floor(core.monotonic() * 1e6) % 1000000000)
  local f = io.open(tmp, "wb")
  if not f then return false end
  local ok = true
  for _, line in ipairs(lines) do ok = ok and f:write(line, "\n") ~= nil end
  f:close()
  if not ok or not os.rename(tmp, path) then
    os.remove(tmp)
    return false
  end
  return true
end

return _M
