-- What people expect of a command-line tool: typo suggestions, every
-- missing flag at once, examples in help, global flags anywhere, --fields
-- for JSON, shell completion.
local cjson = require "cjson.safe"
local H = dofile("spec/support/cli.lua")

describe("coreplus conventions", function()
  local mock, env
  H.use_mock(setup, teardown, { tls = true }, function(m, e) mock, env = m, e end)

  it("suggests the command or flag meant by a typo (2)", function()
    local r = H.run(env, "clinets")
    assert.equal(2, r.code)
    H.one_line_error(r)
    assert.truthy(r.err:find("did you mean 'clients'", 1, true), r.err)
    local f = H.run(env, "clients", "--page-szie", "3")
    assert.equal(2, f.code)
    assert.truthy(f.err:find("did you mean '--page-size'", 1, true), f.err)
    local s = H.run(env, "files", "uplaod")
    assert.truthy(s.err:find("did you mean 'upload'", 1, true), s.err)
  end)

  it("reports every missing required flag at once (2)", function()
    local r = H.run(env, "book", "--client", "x")
    assert.equal(2, r.code)
    H.one_line_error(r)
    for _, flag in ipairs({ "--practitioner", "--location", "--start", "--end or --duration" }) do
      assert.truthy(r.err:find(flag, 1, true), flag .. ": " .. r.err)
    end
  end)

  it("reports every missing setting at once (2)", function()
    local r = H.run(H.env_of(mock, { COREPLUS_CONSUMER_ID = false, COREPLUS_ACCESS_TOKEN = false }), "clients")
    assert.equal(2, r.code)
    assert.truthy(r.err:find("COREPLUS_CONSUMER_ID and COREPLUS_ACCESS_TOKEN are not set", 1, true), r.err)
  end)

  it("has examples in each command's help", function()
    for name in pairs(require("coreplus.cli").COMMANDS) do
      local r = H.main(env, { "help", table.unpack((function()
        local w = {}
        for x in name:gmatch("%S+") do w[#w + 1] = x end
        return w
      end)()) })
      assert.equal(0, r.code, name)
      assert.truthy(r.out:find("\nexamples:\n  coreplus", 1, true) or r.out:find("\nexamples:\n  source", 1, true)
        or r.out:find("\nexamples:\n  curl", 1, true), name)
    end
    local flag = H.run(env, "clients", "create", "--help")
    assert.equal(0, flag.code)
    assert.truthy(flag.out:find("coreplus clients create --first-name", 1, true))
  end)

  it("takes global flags before or after the command", function()
    local before = H.run(env, "--json", "--page-size", "2", "clients")
    assert.equal(2, before.code)   -- --page-size is the command's, not global
    local a = H.run(env, "--json", "clients", "--page-size", "2")
    local b = H.run(env, "clients", "--page-size", "2", "--json")
    assert.equal(0, a.code, a.err)
    assert.equal(a.out, b.out)
    assert.equal(2, #cjson.decode(a.out))
  end)

  it("--fields (or --columns) picks fields in JSON output too, nested as in the record", function()
    local r = H.run(env, "locations", "--json", "--fields", "locationId,timeZone.timezoneId")
    assert.equal(0, r.code, r.err)
    for _, loc in ipairs(cjson.decode(r.out)) do
      assert.is_string(loc.locationId)
      assert.is_string(loc.timeZone.timezoneId)
      assert.is_nil(loc.name)
      assert.is_nil(loc.timeZone.tzName)
    end
    local l = H.run(env, "clients", "--jsonl", "--page-size", "2", "--columns", "clientId")
    for _, line in ipairs(H.lines(l.out)) do
      local v = cjson.decode(line)
      assert.same({ "clientId" }, (function() local k = {}; for x in pairs(v) do k[#k + 1] = x end; return k end)())
    end
  end)

  it("prints completion scripts that bash accepts", function()
    local r = H.run(env, "completion", "bash")
    assert.equal(0, r.code)
    local path = mock.prefix .. "/completion.bash"
    H.write(path, r.out)
    local p = io.popen("bash -c " .. H.q("source " .. H.q(path) .. " && complete -p coreplus") .. " 2>&1")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("-F _coreplus coreplus", 1, true), out)
    for _, word in ipairs({ "doctor", "clients", "create", "--profile", "--dry-run", "upload" }) do
      assert.truthy(r.out:find(word, 1, true), word)
    end
    local z = H.run(env, "completion", "zsh")
    assert.equal(0, z.code)
    assert.truthy(z.out:find("#compdef coreplus", 1, true))
    assert.equal(2, H.run(env, "completion", "tcsh").code)
  end)
end)

describe("coreplus on a terminal", function()
  local mock
  H.use_mock(setup, teardown, { tls = true }, function(m) mock = m end)

  it("shows doctor's stderr summary after its table, not inside it", function()
    -- script(1) gives the command a terminal for stdout and stderr alike
    local env = H.env_of(mock, { COREPLUS_CONSUMER_SECRET = "wrong-secret-123" })
    local parts = {}
    for k, v in pairs(env) do
      if v ~= false then parts[#parts + 1] = k .. "=" .. H.q(v) end
    end
    local cmd = "env " .. table.concat(parts, " ") .. " " .. H.q(H.BIN) .. " doctor"
    local p = assert(io.popen("script -qec " .. H.q(cmd) .. " /dev/null"))
    local out = p:read("a"):gsub("\r", "")
    p:close()
    local summary = out:find("coreplus: doctor: ", 1, true)
    assert.truthy(summary, out)
    assert.truthy(out:sub(1, summary):find("\nFAIL  diagnosis ", 1, true), "no table before the summary:\n" .. out)
    -- a line of its own, and the last: the table was out, whole, before it
    assert.matches("\ncoreplus: doctor: [^\n]*\n?$", out)
  end)
end)
