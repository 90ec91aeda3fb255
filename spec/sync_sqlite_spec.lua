-- coreplus.sync into SQLite (a file per case), against the mock: the cases
-- are spec/support/sync_cases.lua's; SQLite's own are below.
local F = dofile("spec/support/files.lua")
local dir

dofile("spec/support/sync_cases.lua"){ name = "SQLite", describe = describe, it = it, lazy_setup = lazy_setup,
  lazy_teardown = lazy_teardown, before_each = before_each,
  fresh_url = function()
    dir = dir or F.tmpdir()
    return "sqlite:" .. F.tmpname():gsub("^.*/", dir .. "/") .. ".db"
  end }

teardown(function() if dir then F.sh("rm -rf " .. F.q(dir)) end end)
