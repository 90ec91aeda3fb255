-- The example booking service (examples/openresty/nginx.conf.in) in a
-- private nginx against a mock, for specs:
--   local openresty = dofile("spec/support/openresty.lua")
--   local svc = openresty.start{ mock = mock, workers = 2 }
--   svc.url, svc.prefix, svc.error_log(), svc.access_log(), svc.stop()
local nginx = dofile("spec/support/nginx.lua")

local _M = {}

local q, capture, read_file, sleep = nginx.q, nginx.capture, nginx.read_file, nginx.sleep

--- The values of a page's inputs named `name` (radios: every option), in
-- page order.
function _M.input_values(html, name)
  local out = {}
  for tag in html:gmatch("<input[^>]*>") do
    if tag:find('name="' .. name .. '"', 1, true) then out[#out + 1] = tag:match('value="([^"]*)"') end
  end
  return out
end

--- start{mock=, workers=2, env={...}, edit=} -> service, up when /health
-- answers; edit(template) -> template changes the example's nginx.conf.in first.
function _M.start(o)
  local mock = o.mock
  local template = assert(read_file(nginx.TOP .. "/examples/openresty/nginx.conf.in"))
  if o.edit then template = o.edit(template) end
  local env = { COREPLUS_BASE_URL = mock.base_url, COREPLUS_CONSUMER_ID = mock.consumer_id,
    COREPLUS_CONSUMER_SECRET = mock.consumer_secret, COREPLUS_ACCESS_TOKEN = mock.access_token }
  for k, v in pairs(o.env or {}) do env[k] = v end
  local service = nginx.start{ name = o.name or "openresty-spec", env = env,
    render = function(vars)
      vars.PORT, vars.WORKERS, vars.CAFILE = vars.P1, tostring(o.workers or 2), mock.cafile
      return (template:gsub("@(%u+)@", vars))
    end }
  service.url = "http://127.0.0.1:" .. service.ports[1]
  function service.access_log() return read_file(service.prefix .. "/logs/access.log") or "" end
  local t = 0
  repeat
    local out = capture("curl -s --max-time 1 " .. q(service.url .. "/health"))
    if out:find('"ok"', 1, true) then return service end
    sleep(0.02); t = t + 0.02
  until t > 3
  service.stop()
  error("the service does not answer /health")
end

return _M
