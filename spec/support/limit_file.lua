-- The layout of a shared limit file (src/limiter/file.c, ring.h), for specs
-- and benches that damage one:
--   local LF = dofile("spec/support/limit_file.lua")
--   LF.entry_at(slot, n) -> offset of booking n's entry in slot's window
--   LF.next_of(path, slot) -> the window's next booking number
--   LF.poke(path, offset, bytes)  LF.peek(path, offset, n) -> bytes
-- A file is a 4096-byte header, then one window per key slot. A window is
-- its counters (8 bytes each: next, granted, cancelled, waited_total,
-- last_sent, span, cap, learnt, learnt_at), then 1024 entries of n, t, lease, tag (8 bytes
-- each), state, pid (4 bytes each).
local _M = {}

_M.HEAD, _M.RING_HEAD, _M.ENTRY, _M.RING = 4096, 72, 40, 1024
-- offsets inside an entry
_M.T, _M.LEASE, _M.TAG, _M.STATE = 8, 16, 24, 32
-- entry states
_M.PENDING, _M.SENT, _M.CANCELLED = 1, 2, 3

function _M.window_at(slot)
  return _M.HEAD + slot * (_M.RING_HEAD + _M.RING * _M.ENTRY)
end

function _M.entry_at(slot, n)
  return _M.window_at(slot) + _M.RING_HEAD + (n % _M.RING) * _M.ENTRY
end

function _M.peek(path, offset, n)
  local f = assert(io.open(path, "rb"))
  f:seek("set", offset)
  local bytes = f:read(n)
  f:close()
  return bytes
end

function _M.poke(path, offset, bytes)
  local f = assert(io.open(path, "r+b"))
  f:seek("set", offset)
  f:write(bytes)
  f:close()
end

function _M.next_of(path, slot)
  local bytes = _M.peek(path, _M.window_at(slot), 8)
  return bytes and #bytes == 8 and (string.unpack("<I8", bytes)) or nil
end

return _M
