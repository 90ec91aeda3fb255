-- Redis as teams run it, for specs and benches: a Cluster of three masters
-- (each with a replica: a killed master fails over) made with
-- `redis-cli --cluster create` on loopback ports, and a master with a
-- replica watched by redis-sentinel. Started and stopped here, quick
-- (cluster-node-timeout and down-after-milliseconds of one second).
--   local T = dofile("spec/support/redis_topology.lua")
--   local c = T.cluster{ tls = certs, users = {...}, password = }
--     c.nodes (spec/support/redis.lua servers; 1..3 masters), c.url (a
--     node's URL), c:owner(key) -> the node holding a Redis key,
--     c:not_owner(key), c:kill(node [, key]) (waits for its replica to take
--     over),
--     c:stop()
--   local s = T.sentinel{ tls = certs, password = }
--     s.master, s.replica, s.sentinel, s.url ("redis+sentinel://.../mymaster/0"),
--     s:failover() (kills the master, waits until the sentinel names the
--     replica), s:stop()
local core = require "coreplus.core"
local Redis = dofile("spec/support/redis.lua")
local F = dofile("spec/support/files.lua")

local M = {}

local function wait(what, fn, seconds)
  local stop = core.monotonic() + (seconds or 20)
  while core.monotonic() < stop do
    if fn() then return end
    core.sleep(0.1)
  end
  error("gave up waiting for " .. what, 2)
end

-- ===== Cluster =====

local cluster = {}
cluster.__index = cluster

function M.cluster(o)
  o = o or {}
  local c = setmetatable({ nodes = {} }, cluster)
  local ok, err = pcall(function()
    for i = 1, 6 do
      local s = Redis.new()
      s:start{ bus = true, tls = o.tls, users = o.users, password = o.password,
        args = { "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
          "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0" } }
      c.nodes[i] = s
    end
    local addrs = {}
    for i, s in ipairs(c.nodes) do addrs[i] = "127.0.0.1:" .. s.port end
    -- 1..3 masters, 4..6 their replicas (in the order redis-cli pairs them)
    local out = F.capture(c.nodes[1]:cli("--cluster create " .. table.concat(addrs, " ")
      .. " --cluster-replicas 1 --cluster-yes 2>&1"))
    assert(out:find("All 16384 slots covered", 1, true), out)
    wait("cluster_state:ok on every node", function()
      for _, s in ipairs(c.nodes) do
        if not F.capture(s:cli("cluster info 2>/dev/null")):find("cluster_state:ok", 1, true) then
          return false
        end
      end
      return true
    end)
    c.url = c.nodes[1].url
  end)
  if not ok then
    c:stop()
    error(err, 0)
  end
  return c
end

-- The node that holds a Redis key now (a master), and one that does not.
function cluster:owner(key)
  local slot = core._private.redis_limiter_slot(key)
  for _, s in ipairs(self.nodes) do
    if s.pid then
      local out = F.capture(s:cli("cluster nodes 2>/dev/null"))
      for line in out:gmatch("[^\n]+") do
        local addr, flags, ranges = line:match("^%S+ (%S+) (%S+) %S+ %S+ %S+ %S+ %S+ (.*)$")
        if addr and flags:find("master", 1, true) and not flags:find("fail", 1, true) then
          for a, b in (ranges or ""):gmatch("(%d+)%-?(%d*)") do
            if slot >= tonumber(a) and slot <= tonumber(b ~= "" and b or a) then
              local port = tonumber(addr:match(":(%d+)"))
              for _, n in ipairs(self.nodes) do
                if n.port == port then return n end
              end
            end
          end
        end
      end
      return nil
    end
  end
end

function cluster:not_owner(key)
  local owner = self:owner(key)
  for i = 1, 3 do
    if self.nodes[i] ~= owner and self.nodes[i].pid then return self.nodes[i] end
  end
end

-- Kills node (a master) and waits until its replica holds its slots (the
-- cluster says ok again, and names another owner of key when given).
function cluster:kill(node, key)
  local port = node.port
  node:kill()
  wait("a replica to take over", function()
    if key then
      local owner = self:owner(key)
      return owner ~= nil and owner ~= node
    end
    for _, s in ipairs(self.nodes) do
      if s.pid then
        local nodes = F.capture(s:cli("cluster nodes 2>/dev/null"))
        local mine = nodes:match("127%.0%.0%.1:" .. port .. "@%d+ (%S+)")
        return mine ~= nil and mine:find("fail", 1, true) ~= nil and not mine:find("fail?", 1, true)
          and F.capture(s:cli("cluster info 2>/dev/null")):find("cluster_state:ok", 1, true) ~= nil
      end
    end
  end, 40)
end

function cluster:stop()
  for _, s in ipairs(self.nodes) do s:stop() end
end

-- ===== Sentinel =====

local sentinel = {}
sentinel.__index = sentinel

function M.sentinel(o)
  o = o or {}
  local s = setmetatable({}, sentinel)
  local ok, err = pcall(function()
    s.master = Redis.new()
    -- (no 5 s wait before the full sync a replica starts with)
    local margs = { "--repl-diskless-sync-delay", "0" }
    if o.password then margs[#margs + 1] = "--masterauth"; margs[#margs + 1] = o.password end
    s.master:start{ tls = o.tls, password = o.password, args = margs }
    s.replica = Redis.new()
    local args = { "--replicaof", "127.0.0.1", tostring(s.master.port), "--repl-diskless-sync-delay", "0" }
    if o.password then args[#args + 1] = "--masterauth"; args[#args + 1] = o.password end
    s.replica:start{ tls = o.tls, password = o.password, args = args }
    wait("the replica to sync", function()
      return F.capture(s.replica:cli("info replication 2>/dev/null")):find("master_link_status:up", 1, true)
    end)
    -- redis-sentinel rewrites its configuration file: one of its own
    s.sentinel = Redis.new()
    local dir = F.tmpdir()
    s.conf_dir = dir
    local conf = { "sentinel monitor mymaster 127.0.0.1 " .. s.master.port .. " 1",
      "sentinel down-after-milliseconds mymaster 1000",
      "sentinel failover-timeout mymaster 4000", "sentinel parallel-syncs mymaster 1" }
    if o.password then conf[#conf + 1] = "sentinel auth-pass mymaster " .. o.password end
    if o.tls then
      conf[#conf + 1] = "tls-replication yes"
    end
    F.write(dir .. "/sentinel.conf", table.concat(conf, "\n") .. "\n")
    s.sentinel:start{ binary = "redis-sentinel " .. F.q(dir .. "/sentinel.conf"), tls = o.tls }
    s.url = ("%s://%s127.0.0.1:%d/mymaster/0"):format(o.tls and "rediss+sentinel" or "redis+sentinel",
      o.password and (":" .. o.password .. "@") or "", s.sentinel.port)
  end)
  if not ok then
    s:stop()
    error(err, 0)
  end
  return s
end

-- The master the sentinel names now: its port.
function sentinel:master_port()
  local out = F.capture(self.sentinel:cli("sentinel get-master-addr-by-name mymaster 2>/dev/null"))
  return tonumber(out:match("\n(%d+)"))
end

-- Kills the master and waits until the sentinel names the replica.
function sentinel:failover()
  local old = self.master
  wait("the sentinel to see the replica", function()
    return F.capture(self.sentinel:cli("sentinel replicas mymaster 2>/dev/null")):find(
      tostring(self.replica.port), 1, true)
  end)
  old:kill()
  wait("the sentinel to promote the replica", function()
    return self:master_port() == self.replica.port
      and F.capture(self.replica:cli("role 2>/dev/null")):find("^master")
  end, 30)
  self.master, self.replica = self.replica, old
end

function sentinel:stop()
  for _, x in ipairs{ self.sentinel, self.master, self.replica } do
    if x then x:stop() end
  end
  if self.conf_dir then F.sh("rm -rf " .. F.q(self.conf_dir)) end
end

return M
