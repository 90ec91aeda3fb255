-- core.redis_url and core.mask_url: one reader of Redis URLs for the C core
-- and the ngx transport, and one masker for every message that may hold a
-- URL (src/limiter/redis_url.c). No server needed.
local core = require "coreplus.core"
local coreplus = require "coreplus"
local F = dofile("spec/support/files.lua")

local function parts(url)
  local u, err = core.redis_url(url)
  assert(u, url .. ": " .. tostring(err))
  return u
end

local function refused(url)
  local u, err = core.redis_url(url)
  assert.is_nil(u, url)
  assert.equals("malformed", err.kind)
  return err.message
end

describe("core.redis_url", function()
  it("reads a plain URL, filling in the port and database", function()
    local u = parts("redis://10.0.0.5")
    assert.same({ false, false, "10.0.0.5", 6379, 0 }, { u.tls, u.sentinel, u.host, u.port, u.db })
    assert.is_nil(u.user)
    assert.is_nil(u.password)
    assert.equals("redis://10.0.0.5:6379/0", u.shown)
  end)

  it("reads rediss:// with an ACL user, and the old :password@ form", function()
    local u = parts("rediss://alice:s3cret@cache.example:6380/2")
    assert.same({ "rediss", true, "alice", "s3cret", "cache.example", 6380, 2 },
      { u.scheme, u.tls, u.user, u.password, u.host, u.port, u.db })
    assert.equals("rediss://alice:***@cache.example:6380/2", u.shown)
    u = parts("redis://:s3cret@h/0")
    assert.is_nil(u.user)
    assert.equals("s3cret", u.password)
    assert.equals("redis://:***@h:6379/0", u.shown)
  end)

  it("takes the scheme in any case", function()
    local u = parts("REDIS://user:p@ss@host")
    assert.same({ "redis", "user", "p@ss", "host" }, { u.scheme, u.user, u.password, u.host })
    assert.is_true(parts("RediSS://h").tls)
  end)

  it("lets the password hold '@', '/', '?' and '#' (it runs to the last '@'), percent-decoded", function()
    local u = parts("redis://:p@ss/w#r?d@127.0.0.1:7000/1")
    assert.same({ "p@ss/w#r?d", "127.0.0.1", 7000, 1 }, { u.password, u.host, u.port, u.db })
    assert.equals("p@ss:w", parts("redis://u%2Fx:p%40ss%3Aw@h").password)
    assert.equals("u/x", parts("redis://u%2Fx:p%40ss%3Aw@h").user)
    assert.equals("100%zz", parts("redis://:100%zz@h").password)   -- not an escape: kept
  end)

  it("reads Sentinel URLs: several sentinels, the master's name, a database", function()
    local u = parts("redis+sentinel://pw@a.example,b.example:26380,[::1]/mymaster/3")
    assert.is_true(u.sentinel)
    assert.is_false(u.tls)
    assert.equals("pw", u.password)
    assert.equals("mymaster", u.master)
    assert.equals(3, u.db)
    assert.same({ { host = "a.example", port = 26379 }, { host = "b.example", port = 26380 },
      { host = "::1", port = 26379 } }, u.nodes)
    assert.equals("redis+sentinel://:***@a.example:26379,b.example:26380,[::1]:26379/mymaster/3", u.shown)
    assert.is_true(parts("rediss+sentinel://s:1/m").tls)
  end)

  it("refuses what it cannot use, naming the part", function()
    assert.matches("host", refused("redis://"))
    assert.matches("port", refused("redis://h:0/0"))
    assert.matches("port", refused("redis://h:65536"))
    assert.matches("database", refused("redis://h/x"))
    assert.matches("query or fragment", refused("redis://h:1?ssl_cert_reqs=none"))
    assert.matches("one host", refused("redis://a,b"))
    assert.matches("master", refused("redis+sentinel://h:26379"))
    assert.matches("redis://, rediss://", refused("http://h"))
    assert.matches("redis://, rediss://", refused("/tmp/file"))
    assert.matches("%%00", refused("redis://:a%00b@h"))
  end)

  it("never repeats the password in a refusal", function()
    for _, url in ipairs{ "redis://:hunter2@", "rediss://u:hunter2@h:x", "redis://:hunter2@h/x",
        "redis://:hunter2@h?x", "xyz://:hunter2@h", "redis+sentinel://hunter2@h" } do
      assert.is_nil(refused(url):find("hunter2", 1, true), url)
    end
  end)
end)

describe("core.mask_url", function()
  it("replaces the password of every URL in a text, whatever the scheme", function()
    assert.equals("cannot open rediss://:***@host:6380/0: No such file",
      core.mask_url("cannot open rediss://:pw@host:6380/0: No such file"))
    assert.equals("REDIS://user:***@host x", core.mask_url("REDIS://user:p@ss@host x"))
    assert.equals("postgres://u:***@h/db, redis+sentinel://***@s/m",
      core.mask_url("postgres://u:pw@h/db, redis+sentinel://pw@s/m"))
    assert.equals("url='redis://:***@h' (refused)", core.mask_url("url='redis://:pw@h' (refused)"))
  end)

  it("leaves text without a password as it is", function()
    for _, s in ipairs{ "", "plain text", "redis://h:1/0", "a/b@c", "mail@example.com", "x:// y" } do
      assert.equals(s, core.mask_url(s))
    end
  end)
end)

describe("a Redis URL's password never reaches a message", function()
  local function client_error(shared)
    local ok, err = pcall(coreplus.new, { base_url = "https://x.example", consumer_id = "c",
      consumer_secret = "s", access_token = "t", shared_limit = shared })
    return ok, tostring(err)
  end

  it("an unknown scheme is refused as a URL, not opened as a file", function()
    local ok, err = client_error("rediz://:hunter2@host:6380/0")
    assert.is_false(ok)
    assert.matches("option 'shared_limit'", err)
    assert.matches("redis://, rediss://", err)
    assert.is_nil(err:find("hunter2", 1, true), err)
    assert.is_nil(err:find("No such file", 1, true), err)
  end)

  it("an upper-case scheme is a Redis URL, and its failure names no password", function()
    local l = core.limiter{ key = "redis_url_spec upper", on_redis_error = "fail", redis_timeout = 0.2,
      shared = "REDIS://user:p@ss@127.0.0.1:1/0" }
    local d, err = l:reserve()
    assert.is_nil(d)
    assert.equals("limiter", err.kind)
    for _, s in ipairs{ err.message, tostring(l), l:stats().shared } do
      assert.is_nil(s:find("p@ss", 1, true), s)
    end
    assert.equals("REDIS://user:***@127.0.0.1:1/0", l:stats().shared)
    l:close()
  end)

  it("coreplus profiles shows a profile's Redis URL without its password", function()
    local dir = F.tmpdir()
    F.sh("mkdir -p " .. F.q(dir .. "/coreplus"))
    F.write(dir .. "/coreplus/config", "[p]\nbase_url = https://x.example\nconsumer_id = c\n"
      .. "consumer_secret = s\naccess_token = t\nshared_limit = rediss://app:hunter2@cache:6380/0\n", "600")
    -- the tool of the Lua paths this suite runs with (a checkout's build, or a rock's tree)
    local r = dofile("spec/support/cli.lua").run({ XDG_CONFIG_HOME = dir, COREPLUS_PROFILE = false },
      "profiles", "--jsonl")
    local out = r.out .. r.err
    F.sh("rm -rf " .. F.q(dir))
    assert.is_nil(out:find("hunter2", 1, true), out)
    assert.matches("rediss://app:***@cache:6380/0", out, 1, true)
  end)
end)
