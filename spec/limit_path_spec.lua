-- core.default_limit_path(): the per-user file that limiters share by
-- default, in a directory nobody else can write (issue 14).
local core = require "coreplus.core"

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function capture(cmd)
  local f = assert(io.popen(cmd))
  local s = f:read("a"):gsub("%s+$", "")
  f:close()
  return s
end

local UID = tonumber(capture("id -u"))
-- Named by the file's format (src/limiter/file.h), so that releases with
-- different formats on one machine do not refuse each other's file.
local FILE = "coreplus-v5.limit"

describe("core.default_limit_path", function()
  local base

  before_each(function()
    base = capture("mktemp -d")
  end)

  after_each(function()
    sh("rm -rf '" .. base .. "'")
  end)

  local function dir(name, mode)
    local d = base .. "/" .. name
    assert(sh(("mkdir '%s' && chmod %s '%s'"):format(d, mode, d)))
    return d
  end

  it("uses $XDG_RUNTIME_DIR when it is this user's and 0700", function()
    local run = dir("run", "700")
    assert.equals(run .. "/" .. FILE, core.default_limit_path{ runtime_dir = run, temp_dir = base })
  end)

  it("else a 0700 directory of this user's under the temporary directory, made when absent", function()
    local run = dir("run", "755")
    local path = core.default_limit_path{ runtime_dir = run, temp_dir = base }
    local private = ("%s/coreplus-%d"):format(base, UID)
    assert.equals(private .. "/" .. FILE, path)
    assert.equals("drwx------", capture("stat -c %A '" .. private .. "'"))
    assert.equals(private .. "/" .. FILE, core.default_limit_path{ runtime_dir = false,
      temp_dir = base })
  end)

  it("gives a path that core.limiter shares (the file is made 0600)", function()
    local path = assert(core.default_limit_path{ runtime_dir = false, temp_dir = base })
    local l = core.limiter{ shared = path, key = "limit_path_spec" }
    l:close()
    assert.equals("-rw-------", capture("stat -c %A '" .. path .. "'"))
  end)

  it("refuses a directory that others may write, naming it", function()
    dir(("coreplus-%d"):format(UID), "770")
    local path, err = core.default_limit_path{ runtime_dir = false, temp_dir = base }
    assert.is_nil(path)
    assert.equals("limiter", err.kind)
    assert.matches("may be written by other users (mode 0770)", err.message, 1, true)
  end)

  it("refuses a symbolic link planted where the directory goes", function()
    local elsewhere = dir("elsewhere", "700")
    assert(sh(("ln -s '%s' '%s/coreplus-%d'"):format(elsewhere, base, UID)))
    local path, err = core.default_limit_path{ runtime_dir = false, temp_dir = base }
    assert.is_nil(path)
    assert.matches("symbolic link", err.message, 1, true)
  end)

  it("refuses a directory of another user's, and does not take their runtime dir", function()
    if UID ~= 0 then return pending("needs root to give a directory away") end
    local theirs = dir("coreplus-" .. UID, "700")
    local run = dir("run", "700")
    assert(sh(("chown 65534 '%s' '%s'"):format(theirs, run)))
    local path, err = core.default_limit_path{ runtime_dir = run, temp_dir = base }
    assert.is_nil(path)
    assert.matches("belongs to uid 65534, not to this user", err.message, 1, true)
  end)

  it("raises on misuse, naming the option", function()
    assert.error_matches(function() core.default_limit_path{ temp_dir = 5 } end, "'temp_dir'")
    assert.error_matches(function() core.default_limit_path{ runtime_dir = 5 } end, "'runtime_dir'")
  end)
end)
