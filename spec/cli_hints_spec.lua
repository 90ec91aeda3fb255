-- The error kinds and hints the CLI (doctor, every command's one-line error)
-- relies on.
local errors = require "coreplus.errors"

describe("hints the CLI shows", function()
  it("a 403 about the User-Agent is blocked_user_agent, with the hint to set the app's name", function()
    local e = errors.from_response{ status = 403, method = "GET", url = "https://x/API/Core/v2.1/Location/",
      body = { result = { { reason = "Request blocked: missing or generic User-Agent", severity = 3 } } } }
    assert.equal("blocked_user_agent", e.kind)
    assert.truthy(e.hint:find("user_agent", 1, true))
    assert.truthy(e.hint:find("--user-agent", 1, true))
  end)

  it("a WAF's HTML 403 naming the User-Agent is blocked_user_agent too", function()
    local e = errors.from_response{ status = 403, raw = "<html><body>Blocked: bad User Agent</body></html>" }
    assert.equal("blocked_user_agent", e.kind)
  end)

  it("another 403 stays forbidden", function()
    assert.equal("forbidden", errors.from_response{ status = 403, body = {} }.kind)
  end)

  it("the Invalid token hint says 0 s when the clocks agree (Date's truncation is not an offset)", function()
    -- Clocks in step: the estimate (Date - receive time) lies in (-1, 0].
    for _, est in ipairs({ -0.99, -0.7, -0.5, -0.2, 0 }) do
      local e = errors.from_response{ status = 401, clock_offset = est,
        body = { result = { { reason = "Invalid token" } } } }
      assert.truthy(e.hint:find("is 0 s.", 1, true), est .. ": " .. e.hint)
    end
    local ahead = errors.from_response{ status = 401, clock_offset = 119.3,
      body = { result = { { reason = "Invalid token" } } } }
    assert.truthy(ahead.hint:find("is 120 s.", 1, true), ahead.hint)
  end)
end)
