--- The TLS handshake of a cosocket, for the ngx transport's HTTPS
-- connections and its Redis link: one home for lua-resty-core's ways.
--
-- handshake(sock, session, name, verify) -> session or true | nil, err
--
-- resty.core (0.1.25, Debian 12) asks for the session after a handshake
-- that completed at once, and asserts when verification then failed: the
-- assertion is a refusal of the certificate, not a crash. The session is
-- always asked for: with `false` (no session) that path returns true
-- without looking at the verification at all.
local pcall, tostring = pcall, tostring

local _M = {}

--- The handshake on a connected cosocket.
-- @param sock the cosocket
-- @param session a session kept from an earlier handshake, or nil
-- @param name the server name to send (SNI), or nil for an address
-- @param verify whether the certificate must be verified
-- @return the session (or true) | nil, err
function _M.handshake(sock, session, name, verify)
  local called, got, err = pcall(sock.sslhandshake, sock, session, name, verify)
  if not called then
    return nil, "certificate verification failed (" .. tostring(got) .. ")"
  end
  if got == nil then return nil, err or "no session came back" end
  return got
end

return _M
