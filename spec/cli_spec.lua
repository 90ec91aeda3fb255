-- The `coreplus` command-line tool, run as a subprocess against the mock.
local testing = require "coreplus.testing"
local cjson = require "cjson.safe"
local jwt = require "coreplus.jwt"
local output = require "coreplus.cli.output"

local H = dofile("spec/support/cli.lua")
local env_of, run, lines = H.env_of, H.run, H.lines

local function one_line_error(r)
  assert.is_truthy(r.err:match("^coreplus: [^\n]+\n$"), "stderr is not one line: " .. r.err)
end

describe("coreplus CLI", function()
  local mock, env
  H.use_mock(setup, teardown, { tls = true }, function(m, e) mock, env = m, e end)

  describe("output", function()
    it("prints an aligned table with --table", function()
      local r = run(env, "clients", "--table", "--page-size", "3")
      assert.equal(0, r.code)
      local l = lines(r.out)
      assert.truthy(l[1]:match("^clientId%s+firstName%s+lastName"))
      assert.truthy(l[2]:match("^%-+  %-+"))
      assert.equal(6, #l)  -- header, rule, 3 rows, footer
      -- Columns line up: every row's second column starts where the header's does.
      local col = l[1]:find("firstName", 1, true)
      for i = 3, 5 do assert.equal(" ", l[i]:sub(col - 1, col - 1)) end
      assert.truthy(l[6]:find("of 537", 1, true))
    end)

    it("says an empty table once", function()
      for _, all in ipairs{ false, true } do
        local r = all and run(env, "clients", "--table", "--name", "Nobody-Such", "--all")
          or run(env, "clients", "--table", "--name", "Nobody-Such")
        assert.equal(0, r.code, r.err)
        assert.equal("(no rows)\n", r.out)
      end
    end)

    it("prints a JSON array with --json", function()
      local r = run(env, "clients", "--json", "--page-size", "2")
      assert.equal(0, r.code)
      local v = cjson.decode(r.out)
      assert.equal(2, #v)
      assert.is_string(v[1].clientId)
    end)

    it("prints one JSON object per line with --jsonl, and by default when piped", function()
      for _, flag in ipairs({ "--jsonl", "--page-size" }) do
        local r = flag == "--jsonl" and run(env, "clients", "--jsonl", "--page-size", "3")
          or run(env, "clients", "--page-size", "3")
        assert.equal(0, r.code)
        local l = lines(r.out)
        assert.equal(3, #l)
        for _, line in ipairs(l) do assert.is_string(cjson.decode(line).clientId) end
      end
    end)

    it("fetches every page with --all, silently when stderr is not a terminal", function()
      local r = run(env, "clients", "--all", "--jsonl")
      assert.equal(0, r.code)
      assert.equal("", r.err)
      local ids = {}
      for _, line in ipairs(lines(r.out)) do ids[cjson.decode(line).clientId] = true end
      local n = 0
      for _ in pairs(ids) do n = n + 1 end
      assert.equal(537, n)
    end)

    it("draws the progress bar on stderr with --progress", function()
      local r = run(env, "clients", "--all", "--json", "--progress")
      assert.equal(0, r.code)
      assert.equal(537, #cjson.decode(r.out))
      assert.truthy(r.err:find("537/537 rows", 1, true))
      assert.truthy(r.err:find("page 6/6", 1, true))
    end)

    it("GETs any path with get, query parameters included", function()
      local r = run(env, "get", "Client/", "-q", "pageSize=2", "--json")
      assert.equal(0, r.code)
      local v = cjson.decode(r.out)
      assert.equal(537, v.paging.totalRows)
      assert.equal(2, #v.clients)
    end)
  end)

  describe("token and decode", function()
    it("token prints a token signed for the URL and method", function()
      local r = run(env, "token", "--url", "Client/?pageSize=5", "--method", "get")
      assert.equal(0, r.code)
      local token = r.out:match("^(%S+)\n$")
      local claims = assert(jwt.decode(token, mock.consumer_secret))
      assert.equal(mock.base_url .. "/API/Core/v2.1/Client/?pageSize=5", claims.url)
      assert.equal("GET", claims.httpMethod)
      assert.equal(60, claims.exp - claims.nbf)
    end)

    it("decode verifies with the secret and shows the claims and seconds left", function()
      local token = run(env, "token", "--url", "Location/").out:gsub("%s+$", "")
      local r = run(env, "decode", token)
      assert.equal(0, r.code)
      assert.truthy(r.out:find("verified with the consumer secret", 1, true))
      assert.truthy(r.out:match("valid for another %d+ s"))
      assert.truthy(r.out:find("httpMethod", 1, true))
      assert.falsy(r.out:find(mock.access_token, 1, true))
    end)

    it("decode fails (1) on a token signed with another secret, naming the secret", function()
      local token = run(env_of(mock, { COREPLUS_CONSUMER_SECRET = "not-the-secret" }),
        "token", "--url", "Location/").out:gsub("%s+$", "")
      local r = run(env, "decode", token)
      assert.equal(1, r.code)
      one_line_error(r)
      assert.truthy(r.out:find("COREPLUS_CONSUMER_SECRET", 1, true))
    end)

    it("decode fails (1) on an expired token", function()
      local token = run(env, "token", "--url", "Location/", "--now", "1700000000").out:gsub("%s+$", "")
      local r = run(env, "decode", token, "--json")
      assert.equal(1, r.code)
      local v = cjson.decode(r.out)
      assert.is_false(v.valid)
      assert.truthy(v.problems[1]:find("expired", 1, true))
    end)
  end)

  describe("doctor", function()
    it("passes every check with a good configuration", function()
      local r = run(env_of(mock, { COREPLUS_ISSUER = "https://spec-practice.example" }), "doctor", "--json")
      assert.equal(0, r.code)
      local checks = cjson.decode(r.out)
      local seen = {}
      for _, c in ipairs(checks) do
        assert.equal("ok", c.status, c.check .. ": " .. tostring(c.detail))
        seen[c.check] = true
      end
      for _, name in ipairs({ "base_url", "consumer_id", "consumer_secret", "access_token", "token", "clock",
        "GET Client/", "GET Practitioner/", "GET Location/", "GET AppointmentType/", "GET AvailabilitySlot/",
        "GET Appointment/", "GET Invoice/" }) do
        assert.is_true(seen[name], name)
      end
      assert.falsy(r.out:find(mock.consumer_secret, 1, true))
      assert.falsy(r.out:find(mock.access_token, 1, true))
    end)

    it("names the consumer secret and the Invalid token cause for a wrong secret", function()
      local r = run(env_of(mock, { COREPLUS_CONSUMER_SECRET = "wrong-secret-123" }), "doctor")
      assert.equal(1, r.code)
      one_line_error(r)
      assert.truthy(r.out:find("Invalid token", 1, true))
      assert.truthy(r.out:find("COREPLUS_CONSUMER_SECRET", 1, true))
      assert.truthy(r.out:find("consumer secret", 1, true))
      assert.truthy(r.err:find("consumer secret", 1, true))
    end)

    it("names VIEW_CLIENTLIST and the disable/re-enable step for a missing permission", function()
      local r = run(env_of(mock, { COREPLUS_ACCESS_TOKEN = mock.restricted_access_token }), "doctor")
      assert.equal(1, r.code)
      one_line_error(r)
      assert.truthy(r.out:find("VIEW_CLIENTLIST", 1, true))
      assert.truthy(r.out:find("disable and re-enable", 1, true))
      assert.truthy(r.out:match("FAIL%s+GET Client/"))
      assert.truthy(r.out:match("ok%s+GET Practitioner/"))
    end)

    it("reports a missing setting by its variable without contacting the server", function()
      local r = run(env_of(mock, { COREPLUS_ACCESS_TOKEN = false }), "doctor")
      assert.equal(1, r.code)
      assert.truthy(r.out:find("COREPLUS_ACCESS_TOKEN is not set", 1, true))
      assert.truthy(r.out:match("skip%s+server"))
    end)

    it("reports the clock offset of a skewed server, whose calls still work", function()
      local skewed = testing.server{ tls = true, skew = 300 }
      local ok, err = pcall(function()
        local e = env_of(skewed)
        local r = run(e, "doctor")
        assert.equal(0, r.code)
        assert.truthy(r.out:match("WARN%s+clock"), r.out)
        assert.truthy(r.out:find("clock offset +300 s", 1, true), r.out)
        assert.truthy(r.out:find("300 s ahead", 1, true))
        local c = run(e, "clients", "--page-size", "1", "--jsonl")
        assert.equal(0, c.code)
        assert.equal(1, #lines(c.out))
      end)
      skewed:stop()
      assert(ok, err)
    end)
  end)

  describe("book and cancel", function()
    it("books a free slot, refuses it twice (1), shows and cancels the booking", function()
      local loc = cjson.decode(lines(run(env, "locations", "--jsonl", "--page-size", "1").out)[1])
      local r = run(env, "slots", "--location", loc.locationId, "--from", os.date("!%Y-%m-%d", os.time() + 86400),
        "--to", os.date("!%Y-%m-%d", os.time() + 15 * 86400), "--page-size", "1", "--jsonl")
      assert.equal(0, r.code)
      local slot = cjson.decode(lines(r.out)[1])
      local client = cjson.decode(lines(run(env, "clients", "--jsonl", "--page-size", "1").out)[1])
      local args = { "book", "--practitioner", slot.practitionerId, "--location", slot.locationId,
        "--client", client.clientId, "--start", slot.startDateTime, "--duration", "15", "--json" }
      local b = run(env, table.unpack(args))
      assert.equal(0, b.code, b.err)
      local booked = cjson.decode(b.out)
      assert.equal("Booked", booked.status)
      local again = run(env, table.unpack(args))
      assert.equal(1, again.code)
      one_line_error(again)
      assert.truthy(again.err:find("conflict", 1, true))
      local shown = run(env, "appointments", booked.appointmentId, "--table")
      assert.equal(0, shown.code)
      assert.truthy(shown.out:match("status%s+Booked"))
      local c = run(env, "cancel", booked.appointmentId, "--json")
      assert.equal(0, c.code)
      assert.equal("Cancelled", cjson.decode(c.out).status)
    end)
  end)

  describe("exit codes", function()
    it("is 2 with one line on stderr for usage errors", function()
      for _, argv in ipairs({ { "clients", "--bogus" }, { "nosuchcommand" }, { "clients", "--page" },
        { "slots" }, { "book", "--client", "x" }, { "cancel" } }) do
        local r = run(env, table.unpack(argv))
        assert.equal(2, r.code, table.concat(argv, " "))
        assert.equal("", r.out)
        one_line_error(r)
      end
    end)

    it("is 2 when a required setting is missing, naming the variable", function()
      local r = run(env_of(mock, { COREPLUS_BASE_URL = false }), "clients")
      assert.equal(2, r.code)
      one_line_error(r)
      assert.truthy(r.err:find("COREPLUS_BASE_URL", 1, true))
    end)

    it("is 1 with one line on stderr for API errors", function()
      local r = run(env_of(mock, { COREPLUS_ACCESS_TOKEN = mock.restricted_access_token }), "clients")
      assert.equal(1, r.code)
      assert.equal("", r.out)
      one_line_error(r)
      assert.truthy(r.err:find("VIEW_CLIENTLIST", 1, true))
      local nf = run(env, "get", "Appointment/00000000-0000-0000-0000-000000000000")
      assert.equal(1, nf.code)
      one_line_error(nf)
      assert.truthy(nf.err:find("not_found", 1, true))
    end)

    it("is 0 for help", function()
      local r = run(env, "help")
      assert.equal(0, r.code)
      assert.truthy(r.out:find("doctor", 1, true))
    end)
  end)
end)

describe("coreplus CLI output module", function()
  it("writes JSON with sorted keys, integers without .0 and / unescaped", function()
    local text = output.json{ b = "x/y", a = { 1.0, 2.5 }, c = {} }
    assert.equal('{"a":[1,2.5],"b":"x/y","c":[]}', text)
  end)

  it("keeps control characters out of table cells", function()
    assert.equal("a [31mb", output.cell("a\27[31mb"))
  end)

  it("shortens long cells without splitting a UTF-8 character", function()
    local s = output.cell(("é"):rep(30), 9)
    assert.truthy(#s <= 9)
    assert.truthy(s:match("^[\195][\169]"))
    assert.truthy(s:sub(-1) == "~")
    assert.falsy(s:sub(1, -2):find("\195$"))
  end)
end)
