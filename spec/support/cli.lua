-- Running bin/coreplus in specs: as a subprocess (run) or in this process
-- (main, with an injected sys).
local _M = {}

local top = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/support/[^/]*$") or "."
_M.BIN = top .. "/bin/coreplus"
_M.top = top

local F = dofile(top .. "/spec/support/files.lua")
local q = F.q
_M.q, _M.write = F.q, F.write
function _M.slurp(path) return F.read(path) or "" end

--- Inside a describe: a mock for its specs (started in setup, stopped in
-- teardown: the spec's own busted functions, which a dofile'd file cannot
-- see); `ready(mock, env)` receives it and its COREPLUS_* variables.
function _M.use_mock(setup, teardown, opts, ready)
  local mock
  setup(function()
    mock = require("coreplus.testing").server(opts)
    ready(mock, _M.env_of(mock))
  end)
  teardown(function()
    if mock then mock:stop() end
  end)
end

--- The COREPLUS_* variables for a mock; `overrides` win (false unsets).
function _M.env_of(mock, overrides)
  local e = {
    COREPLUS_BASE_URL = mock.base_url, COREPLUS_CONSUMER_ID = mock.consumer_id,
    COREPLUS_CONSUMER_SECRET = mock.consumer_secret, COREPLUS_ACCESS_TOKEN = mock.access_token,
    COREPLUS_CAFILE = mock.cafile, COREPLUS_SHARED_LIMIT = mock.prefix .. "/cli.limit",
    COREPLUS_PROFILE = false, XDG_CONFIG_HOME = mock.prefix .. "/no-config",
  }
  for k, v in pairs(overrides or {}) do e[k] = v end
  return e
end

--- command(env, args...) -> the shell command running bin/coreplus with
-- that environment (values false are unset) and those arguments.
function _M.command(env, ...)
  local parts = { "env" }
  for k, v in pairs(env) do
    if v == false then table.insert(parts, 2, "-u " .. k) else parts[#parts + 1] = k .. "=" .. q(v) end
  end
  parts[#parts + 1] = q(_M.BIN)
  for _, a in ipairs({ ... }) do parts[#parts + 1] = q(a) end
  return table.concat(parts, " ")
end

--- run(env, args...) -> {out=, err=, code=}; env values false are unset.
function _M.run(env, ...)
  local errfile = os.tmpname()
  local p = assert(io.popen(_M.command(env, ...) .. " 2>" .. q(errfile) .. " </dev/null", "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local err = _M.slurp(errfile)
  os.remove(errfile)
  return { out = out, err = err, code = code }
end

-- The number a file holds once it is written: `tries` looks, `step` s apart.
local function number_in(path, tries, step, gave_up)
  for _ = 1, tries do
    local n = tonumber(F.read(path) or "")
    if n then return n end
    require("coreplus.core").sleep(step)
  end
  error(gave_up)
end

--- spawn(env, prefix, args...) -> pid: bin/coreplus in the background, its
-- output in prefix.out and prefix.err, its exit status in prefix.rc when it
-- ends (wait_rc(prefix)).
function _M.spawn(env, prefix, ...)
  -- exec: the pid written is the command's own
  F.write(prefix .. ".sh", ("echo $$ >%s\nexec %s >%s 2>%s </dev/null\n"):format(q(prefix .. ".pid"),
    _M.command(env, ...), q(prefix .. ".out"), q(prefix .. ".err")))
  assert(F.sh(("(sh %s; echo $? >%s) >/dev/null 2>&1 &"):format(q(prefix .. ".sh"), q(prefix .. ".rc"))))
  return number_in(prefix .. ".pid", 200, 0.01, "the command did not start")
end

--- wait_rc(prefix) -> the exit status of a spawned command (30 s at most).
function _M.wait_rc(prefix)
  return number_in(prefix .. ".rc", 1500, 0.02, "the command did not end")
end

--- main(env, argv, client_options) -> {out=, err=, code=}: the CLI in this
-- process, so that a spec can give its clients a transport.
function _M.main(env, argv, client_options)
  local out, err = {}, {}
  local sys = {
    stdout = function(s) out[#out + 1] = s end,
    stderr = function(s) err[#err + 1] = s end,
    getenv = function(name) local v = env[name]; if v == false then return nil end; return v end,
    isatty = function() return false end,
    now = require("coreplus.core").now,
    read_stdin = function() return "" end,
    client_options = client_options,
  }
  local code = require("coreplus.cli").main(argv, sys)
  return { out = table.concat(out), err = table.concat(err), code = code }
end

function _M.lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

--- stderr is one line starting "coreplus: ".
function _M.one_line_error(r)
  assert(r.err:match("^coreplus: [^\n]+\n$"), "stderr is not one line: " .. r.err)
end

return _M
