-- Loads the LuaJIT build of the C core and the Lua layer, signs and verifies a
-- token, and prints TAP: the "extra CI step" of the Lua version policy.
local n = 0
local function check(cond, what)
  n = n + 1
  print((cond and "ok " or "not ok ") .. n .. " - luajit: " .. what)
  return cond
end

local ok, coreplus = pcall(require, "coreplus")
check(ok, "require 'coreplus' (" .. tostring(ok and jit and jit.version or coreplus) .. ")")
if ok then
  local core = require "coreplus.core"
  check(package.searchpath("coreplus.core", package.cpath):find("build/luajit", 1, true) ~= nil,
    "the LuaJIT build is the one loaded")
  local token = core.sign{ consumer_id = "c", consumer_secret = "s", access_token = "a",
    url = "https://127.0.0.1/API/Core/v2.1/Client/", method = "get", now = 1700000000 }
  check(type(token) == "string" and select(2, token:gsub("%.", "")) == 2, "core.sign makes a token")
  local claims = coreplus.jwt.decode(token, "s", { now = 1700000010 })
  check(claims and claims.httpMethod == "GET" and claims.exp == 1700000060, "coreplus.jwt.decode verifies it")
end
print("1.." .. n)
