--- The API versions the tool found to answer, kept between its runs: when
-- an operation has no route under the version tried first, the client finds
-- the one that answers (coreplus.engine); this file hands that to the next
-- run, so that each run does not pay the extra request and say it again.
--
-- The file is `coreplus-versions` (coreplus.cli.runtime_file: next to the
-- default limit file, written atomically), one line per server and
-- operation: `<base_url> TAB <operation> TAB <version>`. A damaged line is
-- ignored.
local runtime_file = require "coreplus.cli.runtime_file"

local ipairs = ipairs
local concat = table.concat

local _M = {}

local NAME = "coreplus-versions"

--- The file's path, or nil when there is no runtime directory to keep it in.
function _M.path()
  return runtime_file.path(NAME)
end

-- Every line of the file: {{base, key, version}, ...}.
local function read(path)
  local lines = {}
  for _, line in ipairs(runtime_file.lines(path)) do
    local base, key, version = line:match("^(%S+)\t([%w_:]+)\t(v[%d.]+)$")
    if base then lines[#lines + 1] = { base, key, version } end
  end
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

--- Records that `key` answers under `version` at `base_url`; false when it
-- could not (the tool goes on either way: it only costs a request next time).
function _M.save(path, base_url, key, version)
  local lines, found = read(path), false
  for _, l in ipairs(lines) do
    if l[1] == base_url and l[2] == key then l[3], found = version, true end
  end
  if not found then lines[#lines + 1] = { base_url, key, version } end
  local text = {}
  for i, l in ipairs(lines) do text[i] = concat(l, "\t") end
  return runtime_file.write(path, text)
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
