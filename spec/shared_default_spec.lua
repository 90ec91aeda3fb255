-- Two programs on one access token, as in the field (a cron job beside a web
-- app): with default options they share one limit through the user's file on
-- this machine, so the mock sees no 429; with sharing off each keeps its own
-- 10/s, the mock refuses the excess, and the clients wait the 429s out.
local core = require "coreplus.core"
local testing = require "coreplus.testing"
local F = dofile("spec/support/files.lua")

local CALLS = 20

-- Runs n client processes at once, each making CALLS calls; returns how
-- many calls failed and what they printed.
local function run_clients(mock, n, shared, runtime_dir)
  local code = ([[
    local cp = require("coreplus").new{ base_url = %q, consumer_id = %q, consumer_secret = %q,
      access_token = %q, cafile = %q, user_agent = "shared-default-spec/1.0", %s }
    local failed = 0
    for _ = 1, %d do
      local page = cp.locations:list{ pageSize = 1 }
      if not page then failed = failed + 1 end
    end
    print("failed " .. failed)]]):format(mock.base_url, mock.consumer_id, mock.consumer_secret,
    mock.access_token, mock.cafile, shared and "" or "shared_limit = false", CALLS)
  local script = mock.prefix .. "/client.lua"
  F.write(script, code)
  local cmd = {}
  for i = 1, n do
    cmd[i] = ("XDG_RUNTIME_DIR=%s lua5.4 %s > %s/out.%d 2>&1 &"):format(F.q(runtime_dir), F.q(script),
      F.q(mock.prefix), i)
  end
  assert(os.execute(table.concat(cmd, " ") .. " wait"))
  local failed, out = 0, {}
  for i = 1, n do
    local text = F.read(mock.prefix .. "/out." .. i) or ""
    out[#out + 1] = text
    failed = failed + (tonumber(text:match("failed (%d+)")) or CALLS)
  end
  return failed, table.concat(out, "\n")
end

describe("two or three programs on one access token", function()
  local mock, dir
  before_each(function()
    mock = testing.server{ tls = true }
    dir = mock.prefix .. "/runtime"
    assert(os.execute("mkdir -m 700 " .. F.q(dir)))
  end)
  after_each(function() mock:stop() end)

  it("share one limit with default options: no failed call, no 429", function()
    local failed, out = run_clients(mock, 3, true, dir)
    local st = mock:stats()
    assert.equal(0, failed, out)
    assert.equal(0, st.rate_limited, out)
    assert.is_true(st.max_in_window <= 10, "max_in_window " .. tostring(st.max_in_window))
    assert.truthy(F.read(core.default_limit_path{ runtime_dir = dir }),
      "the default file is in the user's runtime directory")
  end)

  -- Release 0.1.0 kept a file of format 2 at <dir>/coreplus.limit; a newer
  -- release refused it ("of another lua-coreplus version") and every process
  -- limited itself alone until someone deleted it. The default file is named
  -- by its format now, so releases side by side each share among their own.
  it("share one limit with default options beside an earlier release's file of another format", function()
    F.write(dir .. "/coreplus.limit", ("c16I4"):pack("coreplus-limit\n", 2) .. ("\0"):rep(4076))
    assert(os.execute("chmod 600 " .. F.q(dir .. "/coreplus.limit")))
    local failed, out = run_clients(mock, 3, true, dir)
    local st = mock:stats()
    assert.equal(0, failed, out)
    assert.equal(0, st.rate_limited, out)
    assert.falsy(out:find("not shared", 1, true), out)
    assert.truthy(core.default_limit_path{ runtime_dir = dir }:match("/coreplus%-v%d+%.limit$"))
  end)

  it("without sharing meet 429s, which the clients wait out: no failed call", function()
    local failed, out = run_clients(mock, 3, false, dir)
    local st = mock:stats()
    assert.equal(0, failed, out)
    assert.is_true(st.rate_limited > 0, "expected 429s without sharing")
    io.stderr:write(("# sharing off: %d x 429 waited out, 0 failed calls\n"):format(st.rate_limited))
  end)
end)
