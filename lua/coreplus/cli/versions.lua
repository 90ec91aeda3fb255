--- The API versions the tool found to answer, kept between its runs: when
-- an operation has no route under the version tried first, the client finds
-- the one that answers (coreplus.engine); this file hands that to the next
-- run, so that each run does not pay the extra request and say it again.
--
-- The file is `coreplus-versions` in the directory of the default limit
-- file (core.default_limit_path: the user's runtime directory), one line
-- per server and operation: `<base_url> TAB <operation> TAB <version>`.
-- A damaged or unreadable file is read as empty; writes go to a temporary
-- file renamed into place, so a reader never sees half of one.
local core = require "coreplus.core"

local type = type
local ipairs = ipairs
local tostring = tostring
local concat = table.concat

local _M = {}

local NAME = "coreplus-versions"

--- The file's path, or nil when there is no runtime directory to keep it in.
function _M.path()
  if not core.default_limit_path then return nil end
  local limit = core.default_limit_path()
  local dir = type(limit) == "string" and limit:match("^(.*)/[^/]+$")
  return dir and (dir .. "/" .. NAME) or nil
end

-- Every line of the file: {{base, key, version}, ...}.
local function read(path)
  local lines = {}
  local f = path and io.open(path, "rb")
  if not f then return lines end
  for line in f:lines() do
    local base, key, version = line:match("^(%S+)\t([%w_:]+)\t(v[%d.]+)$")
    if base then lines[#lines + 1] = { base, key, version } end
  end
  f:close()
  return lines
end

--- The versions found for `base_url`: {operation = version}.
function _M.load(path, base_url)
  local out = {}
  for _, l in ipairs(read(path)) do
    if l[1] == base_url then out[l[2]] = l[3] end
  end
  return out
end

--- Records that `key` answers under `version` at `base_url`; true, or nil
-- and why (the tool goes on either way: it only costs a request next time).
function _M.save(path, base_url, key, version)
  local lines, found = read(path), false
  for _, l in ipairs(lines) do
    if l[1] == base_url and l[2] == key then l[3], found = version, true end
  end
  if not found then lines[#lines + 1] = { base_url, key, version } end
  local text = {}
  for i, l in ipairs(lines) do text[i] = concat(l, "\t") end
  local tmp = path .. "." .. tostring(os.time()) .. "." .. tostring(math.random(1e9)) .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(concat(text, "\n"), "\n")
  f:close()
  if ok then ok, werr = os.rename(tmp, path) end
  if not ok then os.remove(tmp); return nil, werr end
  return true
end

--- Gives the client the versions earlier runs found for its server, and
-- keeps the ones it finds.
function _M.attach(cp)
  local path = _M.path()
  if not path then return end
  local base = cp.base_url
  cp:learn_versions(_M.load(path, base), function(key, version) _M.save(path, base, key, version) end)
end

return _M
