-- One machine of bench/redis_fleet.lua: M practices (their access tokens),
-- each with a limiter of 10 per second kept in one Redis, their requests
-- going out through one core.pipeline, one request of each practice in
-- flight at a time, until `stop`. Every 100 ms it also times an acquire()
-- (a booking and its departure: two Redis round trips) on a key of its own
-- that never waits: the limiter's latency under the fleet's load.
--   lua5.4 redis_fleet_child.lua URL TOKENS_FILE LOCATION_URL CONSUMER SECRET CAFILE STOP [REDIS_CAFILE]
-- Prints "done ok failed" and "probe" with the latencies in microseconds.
local core = require "coreplus.core"

local url, tokens_file, location, consumer, secret, cafile, stop, redis_cafile = ...
stop = tonumber(stop)
if redis_cafile == "-" then redis_cafile = nil end

local MARGIN = tonumber(os.getenv("COREPLUS_FLEET_MARGIN") or "0.025")   -- the default: 25 ms

local tokens = {}
for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end

local function limiter(key, rate, per)
  return core.limiter{ rate = rate, per = per, margin = rate == 10 and MARGIN or 0, key = key,
    shared = url, redis_cafile = redis_cafile, on_redis_error = "local", redis_timeout = 0.5 }
end

local lims, creds = {}, {}
for i, token in ipairs(tokens) do
  lims[i] = limiter("fleet " .. token, 10, 1)
  creds[i] = { consumer_id = consumer, consumer_secret = secret, access_token = token }
end
local stat = io.open("/proc/self/stat")
local pid = stat:read("n")
stat:close()
local probe = limiter("fleet probe " .. pid, 512, 0.001)

local pipe = core.pipeline{ concurrency = math.min(256, #tokens) }
local owner, ok, failed, lat = {}, 0, 0, {}

local function add(i)
  owner[pipe:add{ url = location, credentials = creds[i], cafile = cafile, limiter = lims[i],
    deadline = core.now() + 30 }] = i
end

core.sleep(math.max(0, stop - 8 - core.now()))   -- the fleet starts together
for i = 1, #tokens do add(i) end
local next_probe = core.now()
while pipe:pending() > 0 do
  local id, res = pipe:next()
  if res and res.status == 200 then ok = ok + 1 else failed = failed + (res and res.status == 429 and 0 or 1) end
  local i = owner[id]
  owner[id] = nil
  if core.now() < stop then add(i) end
  if core.now() >= next_probe then
    local t0 = core.monotonic()
    probe:acquire()
    lat[#lat + 1] = ("%d"):format(math.floor((core.monotonic() - t0) * 1e6))
    next_probe = core.now() + 0.1
  end
end
local errors, locals, relets, calls = 0, 0, 0, 0
for _, l in ipairs(lims) do
  local st = l:stats()
  errors, locals, relets, calls = errors + st.redis_errors, locals + st.redis_local, relets + st.relets,
    calls + st.redis_calls
end
print("done", ok, failed)
print("limiter", errors, locals, relets, calls)
print("probe " .. table.concat(lat, ","))
