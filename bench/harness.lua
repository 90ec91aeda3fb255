-- What the benchmarks share: the spec helpers they borrow, a mock for the
-- length of one run, and the rows of a run under one rate limit.
--   package.path = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench")
--     .. "/?.lua;" .. package.path          (bench/run.lua does it too)
--   local harness = require "harness"
--   harness.dir -> this directory
--   harness.support(name) -> spec/support/<name>.lua, loaded
--   harness.with_mock(options, body [, after]) -> body(mock)'s rows, from a
--     mock (testing.server(options)) that is stopped whatever happens, after
--     after() when given; body's error is raised again
--   harness.limit_rows(label, figures) -> the rows every run under one limit
--     reports, with their goals: wall / limit, 429s from the mock, failed
--     requests, the mock's most requests in 1 s. figures: { wall =, limit =
--     (seconds), limit_name = ("limit"), rate_limited =, failed =, most = }
local testing = require "coreplus.testing"

local M = {}

M.dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"

function M.support(name)
  return dofile(M.dir .. "/../spec/support/" .. name .. ".lua")
end

function M.with_mock(options, body, after)
  local mock = testing.server(options)
  local ok, rows = pcall(body, mock)
  if after then after() end
  mock:stop()
  if not ok then error(rows, 0) end
  return rows
end

function M.limit_rows(label, f)
  local ratio = f.wall / f.limit
  return {
    { name = ("%s, wall / %s"):format(label, f.limit_name or "limit"), value = ratio, unit = "x",
      goal = "<= 1.1x", pass = ratio <= 1.1 },
    { name = label .. ", 429s from the mock", value = f.rate_limited, unit = "",
      goal = "0", pass = f.rate_limited == 0 },
    { name = label .. ", failed requests", value = f.failed, unit = "",
      goal = "0", pass = f.failed == 0 },
    { name = label .. ", mock max requests in 1 s", value = f.most,
      unit = "", goal = "<= 10", pass = f.most <= 10 },
  }
end

return M
