--- luassert assertions about a stub's requests, for busted suites.
--
-- `require "coreplus.testing.busted"` registers
-- `assert.coreplus_requested(stub, method, path, {times =, query =, body =})`
-- (and its negation, `assert.is_not.coreplus_requested(...)`):
--
--     require "coreplus.testing.busted"
--     ...
--     assert.coreplus_requested(stub, "GET", "Client/", { query = { name = "Smith" } })
--     assert.coreplus_requested(stub, "POST", "Appointment/", { times = 1,
--       body = { appointmentId = "a1", deleted = true } })
--     assert.is_not.coreplus_requested(stub, "POST", "Client/")
--
-- A failure lists the requests the stub did receive.
-- @module coreplus.testing.busted
local luassert = require "luassert"
local say = require "say"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local format = string.format

local _M = {}

local OPTIONS = { times = true, query = true, body = true }

-- A query value as the stub records it: strings, or lists of strings for
-- repeated keys.
local function query_value_matches(want, got)
  if type(want) == "table" then
    if type(got) ~= "table" or #got ~= #want then return false end
    for i = 1, #want do
      if tostring(want[i]) ~= got[i] then return false end
    end
    return true
  end
  return type(got) == "string" and tostring(want) == got
end

-- The fields given must match; others are ignored. A list must match entry
-- by entry (same length), each entry by the same rule.
local function body_matches(want, got)
  if type(want) ~= "table" then return want == got end
  if type(got) ~= "table" then return false end
  if #want > 0 and #got ~= #want then return false end
  for k, v in pairs(want) do
    if not body_matches(v, got[k]) then return false end
  end
  return true
end

local function request_matches(record, opts)
  for k, v in pairs(opts.query or {}) do
    if not query_value_matches(v, record.query[k]) then return false end
  end
  local body = opts.body
  if body ~= nil then
    if type(body) == "string" then return record.raw_body == body end
    return body_matches(body, record.body)
  end
  return true
end

local function check_args(stub, method, path, opts)
  if type(stub) ~= "table" or type(stub.requests) ~= "table" or type(stub.requests_for) ~= "function" then
    error("assert.coreplus_requested: argument #1 must be a coreplus.testing stub", 4)
  end
  if type(method) ~= "string" then error("assert.coreplus_requested: argument #2 must be a method string", 4) end
  if type(path) ~= "string" then error("assert.coreplus_requested: argument #3 must be a path string", 4) end
  if opts ~= nil and type(opts) ~= "table" then
    error("assert.coreplus_requested: argument #4 must be a table {times =, query =, body =}", 4)
  end
  for k in pairs(opts or {}) do
    if not OPTIONS[k] then error("assert.coreplus_requested: unknown option '" .. tostring(k) .. "'", 4) end
  end
  local times = opts and opts.times
  if times ~= nil and (type(times) ~= "number" or times < 0 or times % 1 ~= 0) then
    error("assert.coreplus_requested: times must be a whole number", 4)
  end
end

--- The requests of `stub` that match `method`, `path` and the `query` and
-- `body` of `opts` (the same rules as the assertion).
-- @tparam table stub a `coreplus.testing.stub`
-- @tparam string method
-- @tparam string path as for `stub:on` (`\*` matches a segment)
-- @tparam[opt] table opts `{query =, body =}`
-- @treturn {table,...} the matching records of `stub.requests`
function _M.matching(stub, method, path, opts)
  local out = {}
  for _, record in ipairs(stub:requests_for(method, path)) do
    if request_matches(record, opts or {}) then out[#out + 1] = record end
  end
  return out
end

local function describe_wanted(method, path, opts)
  local parts = { method:upper() .. " " .. path }
  local q = {}
  for k, v in pairs(opts.query or {}) do
    q[#q + 1] = k .. "=" .. (type(v) == "table" and "{" .. concat(v, ",") .. "}" or tostring(v))
  end
  table.sort(q)
  if #q > 0 then parts[#parts + 1] = "with query " .. concat(q, "&") end
  if opts.body ~= nil then
    local json = require("cjson.safe").encode(opts.body)
    parts[#parts + 1] = "with a body containing " .. tostring(json or opts.body)
  end
  return concat(parts, " ")
end

local function describe_seen(stub)
  local seen = {}
  for i, r in ipairs(stub.requests) do
    if i > 20 then seen[#seen + 1] = format("... and %d more", #stub.requests - 20); break end
    local q = r.url:match("%?(.*)$")
    seen[#seen + 1] = r.method .. " " .. r.path .. (q and "?" .. q or "")
      .. (r.raw_body and " " .. r.raw_body:sub(1, 120) or "")
  end
  if #seen == 0 then return "The stub received no request." end
  return format("The stub received %d request(s):\n  %s", #stub.requests, concat(seen, "\n  "))
end

local function times_text(n)
  return n == 1 and "once" or format("%d times", n)
end

local function coreplus_requested(state, arguments)
  local stub, method, path, opts = arguments[1], arguments[2], arguments[3], arguments[4]
  check_args(stub, method, path, opts)
  opts = opts or {}
  if arguments[5] ~= nil then state.failure_message = arguments[5] end
  local n = #_M.matching(stub, method, path, opts)
  local ok
  if opts.times then ok = n == opts.times else ok = n > 0 end
  local wanted = describe_wanted(method, path, opts)
  local expected = opts.times and times_text(opts.times) or "at least once"
  local text
  if state.mod then
    text = format("Expected the stub to have received %s %s; it received it %s.\n%s",
      wanted, expected, n == 0 and "never" or times_text(n), describe_seen(stub))
  else
    text = format("Expected the stub not to have received %s %s; it received it %s.\n%s",
      wanted, expected, n == 0 and "never" or times_text(n), describe_seen(stub))
  end
  -- The message template is "%s": the text above, not a dump of the stub.
  for i = 1, arguments.n do arguments[i] = nil end
  arguments[1], arguments.n = text, 1
  arguments.nofmt = { true }
  return ok
end

say:set("assertion.coreplus_requested.positive", "%s")
say:set("assertion.coreplus_requested.negative", "%s")
luassert:register("assertion", "coreplus_requested", coreplus_requested,
  "assertion.coreplus_requested.positive", "assertion.coreplus_requested.negative")

return _M
