-- Benchmark: tokens signed per second, core.sign against python3-jwt, both
-- measured now, on this machine, with the same claims.
local core = require "coreplus.core"

local N = 200000
local PY_N = 20000

local PY = [[
import sys, time, jwt
n = int(sys.argv[1])
secret = "bench-secret"
t0 = time.perf_counter()
for i in range(n):
    now = 1717200000 + i
    jwt.encode({"iss": "https://myapp.example", "aud": "https://coreplus.com.au",
                "nbf": now, "exp": now + 60, "consumerId": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "accessToken": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                "url": "https://sandbox.coreplus.com.au/API/Core/v2.1/Client/?pageNumber=%d&pageSize=100" % i,
                "httpMethod": "GET"}, secret, algorithm="HS256")
print(n / (time.perf_counter() - t0))
]]

return function()
  local args = { consumer_id = "0f8fad5b-d9cb-469f-a165-70867728950e", consumer_secret = "bench-secret",
    access_token = "7c9e6679-7425-40de-944b-e07fc1f90ae7", issuer = "https://myapp.example",
    audience = "https://coreplus.com.au", method = "GET" }
  local t0 = os.clock()
  for i = 1, N do
    args.now = 1717200000 + i
    args.url = "https://sandbox.coreplus.com.au/API/Core/v2.1/Client/?pageNumber=" .. i .. "&pageSize=100"
    core.sign(args)
  end
  local ours = N / (os.clock() - t0)

  local f = assert(io.popen("/usr/bin/python3 -c '" .. PY .. "' " .. PY_N))
  local theirs = tonumber(f:read("a"))
  f:close()
  return {
    { name = "signing: core.sign tokens/s", value = ours, unit = "tokens/s" },
    { name = "signing: python3-jwt tokens/s", value = theirs, unit = "tokens/s" },
    { name = "signing: core.sign vs python3-jwt", value = theirs and ours / theirs, unit = "x",
      goal = ">= 10x", pass = theirs and ours / theirs >= 10 },
  }
end
