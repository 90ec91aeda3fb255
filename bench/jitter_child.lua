-- A child of bench/jitter.lua: walks every client one page (one row) at a
-- time through cp.clients:each{} with the given concurrency (1: one page at
-- a time; more: pages fetched ahead), starting at `start`, and prints the
-- wall time from the start and the rows it read.
--   lua5.4 jitter_child.lua BASE_URL CAFILE CONSUMER_ID SECRET TOKEN CONCURRENCY START
local coreplus = require "coreplus"
local core = require "coreplus.core"

local base_url, cafile, consumer_id, secret, token, concurrency, start = table.unpack(arg)
local cp = coreplus.new{ base_url = base_url, cafile = cafile, consumer_id = consumer_id,
  consumer_secret = secret, access_token = token, concurrency = tonumber(concurrency),
  shared_limit = false, user_agent = "coreplus-bench-jitter/1.0", issuer = "https://bench.example",
  timeout = 600 }
assert(cp.locations:list{ pageSize = 1 })   -- the connection, before the clock starts
local wait = tonumber(start) - core.now()
if wait > 0 then core.sleep(wait) end
local rows = 0
local ok, err = pcall(function()
  for _ in cp.clients:each{ pageSize = 1 } do rows = rows + 1 end
end)
io.write(("%.3f %d %s\n"):format(core.now() - tonumber(start), rows, ok and "ok" or tostring(err):gsub("%s", "_")))
