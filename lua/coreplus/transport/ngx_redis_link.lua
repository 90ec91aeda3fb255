--- The way from nginx workers to one Redis deployment, over cosockets (the
-- ngx side of src/limiter/redis_link.c): a plain server, a Cluster reached
-- through any node (MOVED and ASK followed, the slot map read with CLUSTER
-- SLOTS and read again when the cluster changes) or a master found through
-- Sentinel; plain TCP or TLS (`rediss://`, verified against nginx's
-- `lua_ssl_trusted_certificate`, client certificates from `redis_certfile`
-- and `redis_keyfile`). URLs are read by the C core (`core.redis_url`).
-- Connections come from the cosocket pool; AUTH and SELECT run when one is
-- new. Every exchange gets at most `step` seconds and never runs past
-- `deadline` (ngx.now() seconds). State (the slot map, the master, the
-- back-off of a node that failed) is per worker.
-- luacheck: std luajit+ngx_lua
local core = require "coreplus.core"
local tls = require "coreplus.transport.ngx_tls"

local ngx = ngx
local type, tostring, tonumber, pcall, require, setmetatable, rawget, ipairs =
  type, tostring, tonumber, pcall, require, setmetatable, rawget, ipairs
local format, match, sub, lower = string.format, string.match, string.sub, string.lower
local floor, min = math.floor, math.min

local RETRY = 1             -- seconds between attempts on a node that failed
local SLOW = 0.1            -- seconds without an answer that make a node count as down
local REDIRECTS = 5         -- MOVED/ASK followed per command, at most
local KEEPALIVE_MS, POOL_SIZE = 30000, 16

local _M = {}

local redis_client
local function client()
  if not redis_client then
    local ok, m = pcall(require, "resty.redis")
    if not ok then ok, m = pcall(require, "nginx.redis") end
    if not ok then
      error("coreplus: a Redis shared_limit in nginx needs a cosocket Redis client: "
        .. "apt-get install lua-nginx-redis", 0)
    end
    redis_client = m
  end
  return redis_client
end

local function now()
  ngx.update_time()
  return ngx.now()
end

-- Milliseconds one exchange may take; nil when the deadline has come.
local function budget(step, deadline)
  local s = step
  if deadline then
    local left = deadline - now()
    if left <= 0 then return nil end
    s = min(s, left)
  end
  return floor(s * 1000) + 1
end

local function read_file(path, what)
  local f, err = io.open(path, "rb")
  if not f then return nil, what .. " " .. tostring(err) end
  local s = f:read("*a")
  f:close()
  return s
end

local link = {}
link.__index = link

-- A client certificate for mutual TLS, parsed once per worker.
function link:_client_cert()
  if self.cert then return true end
  local ssl = require "ngx.ssl"
  local pem, err = read_file(self.o.certfile, "redis_certfile")
  if not pem then return nil, err end
  local cert, cerr = ssl.parse_pem_cert(pem)
  if not cert then return nil, "redis_certfile " .. self.o.certfile .. ": " .. tostring(cerr) end
  pem, err = read_file(self.o.keyfile, "redis_keyfile")
  if not pem then return nil, err end
  local key, kerr = ssl.parse_pem_priv_key(pem)
  if not key then return nil, "redis_keyfile " .. self.o.keyfile .. ": " .. tostring(kerr) end
  self.cert, self.key = cert, key
  return true
end

-- The name nginx checks the certificate against (and sends as SNI). nginx
-- checks names only (X509_check_host): for an address the chain is still
-- verified against lua_ssl_trusted_certificate, but not the address; said
-- once (the C core checks addresses too).
function link:_tls_name(host)
  if not (match(host, "^%d+%.%d+%.%d+%.%d+$") or match(host, ":")) then return host end
  if not self.o.insecure and not self.said_ip then
    self.said_ip = true
    ngx.log(ngx.WARN, "coreplus: ", self.u.shown, ": nginx cannot check an address against ",
      "Redis's certificate: its chain is verified, the address is not (name the host instead)")
  end
  return nil
end

-- One command on red under the exchange's budget: res | nil, err.
local last_ms = 0   -- the budget of the latest exchange
local function cmd(red, step, deadline, name, ...)
  local ms = budget(step, deadline)
  if not ms then return nil, "the call's deadline came" end
  red:set_timeout(ms)
  last_ms = ms
  return red[name](red, ...)
end

-- A connection to host:port, set up when new (TLS, AUTH, SELECT; for a
-- master named by Sentinel, that it still is one): red | nil, err.
function link:_open(host, port, step, deadline)
  local name = format(match(host, ":") and "[%s]:%d" or "%s:%d", host, port)
  local down = self.down[name]
  if down and now() < down.at then
    return nil, format("%s (no new attempt for %.1f s)", down.why, down.at - now())
  end
  local red = client():new()
  local ms = budget(step, deadline)
  if not ms then return nil, "the call's deadline came" end
  red:set_timeout(ms)
  local ok, err = red:connect(host, port, { pool = self.pool .. "|" .. name })
  local function fail(why)
    red:close()
    why = name .. ": " .. tostring(why)
    if not deadline or now() < deadline - 0.001 then
      self.down[name] = { at = now() + RETRY, why = why }   -- not when the call's time ran out
    end
    return nil, why
  end
  if not ok then return fail("cannot connect: " .. tostring(err)) end
  if (red:get_reused_times() or 0) == 0 then
    local u = self.u
    if u.tls then
      local sock = rawget(red, "_sock")
      if self.o.certfile then
        local cok, cerr = self:_client_cert()
        if not cok then return fail(cerr) end
        sock:setclientcert(self.cert, self.key)
      end
      local shook, terr = tls.handshake(sock, nil, self:_tls_name(host), not self.o.insecure)
      if not shook then return fail("TLS handshake failed: " .. tostring(terr)) end
    end
    if u.password then
      if u.user then ok, err = cmd(red, step, deadline, "auth", u.user, u.password)
      else ok, err = cmd(red, step, deadline, "auth", u.password) end
      if not ok then return fail("AUTH refused: " .. tostring(err)) end
    end
    if u.db ~= 0 then
      ok, err = cmd(red, step, deadline, "select", u.db)
      if not ok then return fail("SELECT refused: " .. tostring(err)) end
    end
    if u.sentinel then
      local role, rerr = cmd(red, step, deadline, "role")
      if type(role) ~= "table" or role[1] ~= "master" then
        self.master = nil
        return fail(role and "not a master (yet): a failover under way?" or ("ROLE: " .. tostring(rerr)))
      end
    end
  end
  self.down[name] = nil
  return red
end

-- ----------------------------------------------------------------------
-- Sentinel
-- ----------------------------------------------------------------------

-- Asks the sentinels in turn for the master: host, port | nil, err.
function link:_master(step, deadline)
  if self.master then return self.master[1], self.master[2] end
  local u, last = self.u, "no sentinel answered"
  for _, s in ipairs(u.nodes) do
    local red = client():new()
    local ms = budget(step, deadline)
    if not ms then return nil, "the call's deadline came" end
    red:set_timeout(ms)
    local ok, err = red:connect(s.host, s.port, { pool = format("%s|sentinel|%s:%d", self.pool, s.host, s.port) })
    if ok and u.tls and (red:get_reused_times() or 0) == 0 then
      ok, err = tls.handshake(rawget(red, "_sock"), nil, self:_tls_name(s.host), not self.o.insecure)
    end
    local res
    if ok then
      res, err = cmd(red, step, deadline, "sentinel", "get-master-addr-by-name", u.master)
      if not res and u.password and match(tostring(err), "^NOAUTH") then
        -- a sentinel with requirepass: the URL's password
        res, err = cmd(red, step, deadline, "auth", u.password)
        if res then res, err = cmd(red, step, deadline, "sentinel", "get-master-addr-by-name", u.master) end
      end
    end
    if type(res) == "table" and res[1] and tonumber(res[2]) then
      red:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
      local host, port = res[1], tonumber(res[2])
      local was = self.last_master
      if was and (was[1] ~= host or was[2] ~= port) then
        ngx.log(ngx.WARN, "coreplus: ", u.shown, ": the master is now ", host, ":", port,
          " (a Sentinel failover)")
      end
      self.master = { host, port }
      self.last_master = self.master
      return host, port
    end
    red:close()
    last = format("%s:%d: %s", s.host, s.port, res == ngx.null and "knows no master of that name"
      or tostring(err or "an unexpected reply"))
  end
  return nil, last
end

-- ----------------------------------------------------------------------
-- Cluster
-- ----------------------------------------------------------------------

-- CLUSTER SLOTS on red: the slot map (false: not a Cluster) | nil, err.
local function read_slots(red, step, deadline)
  local res, err = cmd(red, step, deadline, "cluster", "slots")
  if not res then
    if err and match(tostring(err), "^%u+ ") and not match(err, "^timeout") then return false end
    return nil, err
  end
  if type(res) ~= "table" then return nil, "CLUSTER SLOTS: an unexpected reply" end
  local map, nodes = {}, {}
  for _, g in ipairs(res) do
    local a, b, m = tonumber(g[1]), tonumber(g[2]), g[3]
    if not (a and b and type(m) == "table" and type(m[1]) == "string" and tonumber(m[2])) then
      return nil, "CLUSTER SLOTS: an unexpected reply"
    end
    for s = a, b do map[s] = { m[1], tonumber(m[2]) } end
    for j = 3, #g do
      if type(g[j]) == "table" and type(g[j][1]) == "string" and g[j][1] ~= "" then
        nodes[#nodes + 1] = { g[j][1], tonumber(g[j][2]) }
      end
    end
  end
  return { slots = map, nodes = nodes }
end

-- Reads the slot map again from any known node that answers.
function link:_refresh(step, deadline)
  local seen = { { self.u.host, self.u.port } }
  for _, n in ipairs(self.cluster and self.cluster.nodes or {}) do seen[#seen + 1] = n end
  for _, n in ipairs(seen) do
    local red = self:_open(n[1], n[2], step, deadline)
    if red then
      local map = read_slots(red, step, deadline)
      if map then
        red:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
        self.cluster = map
        return
      end
      red:close()
    end
  end
end

-- ----------------------------------------------------------------------
-- Commands
-- ----------------------------------------------------------------------

-- The node that serves slot: host, port | nil, err.
function link:_target(slot, step, deadline)
  if self.u.sentinel then return self:_master(step, deadline) end
  local owner = self.cluster and self.cluster.slots[slot]
  if owner then return owner[1], owner[2] end
  return self.u.host, self.u.port
end

-- Runs the script (EVALSHA, then EVAL when the node does not know it) for
-- a key in slot: res | nil, err. args: numkeys, key, ARGV...
function link:script(sha, script, slot, args, step, deadline)
  local asked, again = nil, true
  for _ = 0, REDIRECTS do
    local host, port, err
    if asked then host, port = asked[1], asked[2] else host, port, err = self:_target(slot, step, deadline) end
    local red
    if host then red, err = self:_open(host, port, step, deadline) end
    if red and self.cluster == nil and not self.u.sentinel then
      -- first contact: a Cluster node? (an error reply says no)
      local map, serr = read_slots(red, step, deadline)
      if map == nil then red:close(); red, err = nil, serr end
      self.cluster = map
      if map then red:set_keepalive(KEEPALIVE_MS, POOL_SIZE); asked = nil; goto continue end
    end
    if not red then
      if again and (self.u.sentinel or self.cluster) then
        again = false          -- the master or the slot may have moved: look again, once
        self.master = nil
        if self.cluster then self:_refresh(step, deadline) end
        asked = nil
        goto continue
      end
      return nil, err
    end
    do
      if asked then cmd(red, step, deadline, "asking") end
      local res, rerr = cmd(red, step, deadline, "evalsha", sha, unpack(args))
      if not res and match(tostring(rerr), "^NOSCRIPT") then
        if asked then cmd(red, step, deadline, "asking") end
        res, rerr = cmd(red, step, deadline, "eval", script, unpack(args))
      end
      asked = nil
      if type(res) == "table" then
        red:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
        return res
      end
      rerr = tostring(rerr)
      local kind, s, rhost, rport = match(rerr, "^(%u+) (%d+) (.+):(%d+)$")
      if (kind == "MOVED" or kind == "ASK") and tonumber(s) then
        red:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
        rhost = match(rhost, "^%[(.*)%]$") or rhost
        if kind == "ASK" then
          asked = { rhost, tonumber(rport) }
        else
          if not self.cluster then self:_refresh(step, deadline) end
          if self.cluster then self.cluster.slots[tonumber(s)] = { rhost, tonumber(rport) } end
        end
      elseif again and (self.u.sentinel or self.cluster) and (match(rerr, "^READONLY")
          or match(rerr, "^MASTERDOWN") or match(rerr, "^CLUSTERDOWN") or not match(rerr, "^%u+ ")) then
        -- demoted by a failover, the cluster settling, or the node gone: look again, once
        red:close()
        again = false
        self.master = nil
        if self.cluster then self:_refresh(step, deadline) end
      else
        red:close()   -- a timed-out connection may still hold the late reply
        local name = format(match(host, ":") and "[%s]:%d" or "%s:%d", host, port)
        if rerr == "timeout" then
          if not deadline or now() < deadline - 0.001 or last_ms >= SLOW * 1000 then
            self.down[name] = { at = now() + RETRY, why = name .. ": no answer" }
          end
          return nil, format("%s: no answer in %g s", name, step)
        end
        return nil, format("%s: the limiter script failed: %s", name, rerr)
      end
    end
    ::continue::
  end
  return nil, format("more than %d redirections", REDIRECTS)
end

local links = {}

--- The link for a URL and its TLS options (per worker): link | nil, err.
-- o: { certfile =, keyfile =, insecure = } (redis_cafile does not apply:
-- nginx verifies with lua_ssl_trusted_certificate).
function _M.get(url, o)
  local id = table.concat({ url, o.certfile or "", o.keyfile or "", tostring(o.insecure) }, "\n")
  local k = links[id]
  if k then return k end
  local u, err = core.redis_url(url)
  if not u then return nil, err.message end
  if (o.certfile == nil) ~= (o.keyfile == nil) then
    return nil, "redis_certfile and redis_keyfile go together (mutual TLS)"
  end
  -- (the pool's name tells apart users and passwords: a connection is
  -- reused only by whoever authenticated it)
  k = setmetatable({ u = u, o = o, down = {},
    pool = format("coreplus-redis|%s|%s|%s|%s", lower(sub(u.shown, 1, 200)),
      ngx.md5((u.user or "") .. "\n" .. (u.password or "")), o.certfile or "",
      o.insecure and "insecure" or "") }, link)
  links[id] = k
  return k
end

return _M
