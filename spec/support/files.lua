-- Small shell and file helpers every spec may need, in one place:
--   local F = dofile("spec/support/files.lua")
--   F.q(s)  F.capture(cmd)  F.read(path) -> text | nil  F.write(path, text [, mode])
local _M = {}

--- s quoted for a POSIX shell.
function _M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- A command's standard output.
function _M.capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  p:close()
  return out
end

--- A file's bytes, or nil when it cannot be read.
function _M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes a file (raises on failure); `mode` ("600") is applied with chmod.
function _M.write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute("chmod " .. mode .. " " .. _M.q(path))) end
end

return _M
