-- The limiter's room (issue 25): src/limiter/ is reached through its front
-- header, its headers include only headers below them (the layers that
-- limiter.h describes), no C include cycle anywhere, no source file over 600
-- lines.
local F = dofile("spec/support/files.lua")

-- Lower layers first; a header may include headers of lower layers only.
local LAYERS = {
  { "config.h", "manual_clock.h", "redis_url.h", "redis_tls.h", "redis_conn.h", "redis_reply.h" },
  { "ring.h", "redis.h", "limiter.h", "redis_link.h" },
  { "file.h", "redis_link_priv.h" },
  { "path.h", "window.h", "file_layout.h" },
}
-- What the rest of src/ may include from the limiter: its front, and the
-- configuration that coreplus.h passes on to req_lua.c.
local FRONT = { ["limiter/limiter.h"] = true, ["limiter/config.h"] = true }

local function files(pattern)
  local out = {}
  for path in F.capture("ls " .. pattern .. " 2>/dev/null"):gmatch("[^\n]+") do out[#out + 1] = path end
  return out
end

-- Local includes of path, as paths relative to src/.
local function includes(path)
  local dir = path:match("^src/(.*/)") or ""
  local out = {}
  for name in F.read(path):gmatch('\n#include "([^"]+)"') do
    local rel = dir .. name
    while rel:find("[^/]+/%.%./") do rel = rel:gsub("[^/]+/%.%./", "", 1) end
    out[#out + 1] = rel
  end
  return out
end

describe("the C core's layout", function()
  local all = files("src/*.[ch] src/limiter/*.[ch]")

  it("finds the sources", function()
    assert.is_true(#all > 30, #all .. " files")
  end)

  it("has no source file over 600 lines", function()
    for _, path in ipairs(all) do
      local _, lines = F.read(path):gsub("\n", "")
      assert.is_true(lines <= 600, path .. " has " .. lines .. " lines")
    end
  end)

  it("has no include cycle", function()
    local graph = {}
    for _, path in ipairs(all) do graph[path:sub(5)] = includes(path) end
    local state = {}
    local function visit(node, trail)
      if state[node] == "done" then return end
      assert.is_nil(state[node] == "open" or nil, "cycle: " .. table.concat(trail, " -> "))
      state[node] = "open"
      for _, to in ipairs(graph[node] or {}) do
        trail[#trail + 1] = to
        visit(to, trail)
        trail[#trail] = nil
      end
      state[node] = "done"
    end
    for node in pairs(graph) do visit(node, { node }) end
  end)

  it("keeps the limiter's headers in layers: each includes only headers below it", function()
    local layer = {}
    for i, names in ipairs(LAYERS) do
      for _, name in ipairs(names) do layer[name] = i end
    end
    for _, path in ipairs(files("src/limiter/*.h")) do
      local name = path:match("[^/]+$")
      assert.is_number(layer[name], name .. " is in no layer of this spec")
      for _, inc in ipairs(includes(path)) do
        local below = inc:match("^limiter/(.*)$")
        if below then
          assert.is_true(layer[below] < layer[name], name .. " includes " .. below)
        end
      end
    end
  end)

  it("is reached from the rest of src/ through the limiter's front header only", function()
    for _, path in ipairs(files("src/*.[ch]")) do
      for _, inc in ipairs(includes(path)) do
        if inc:match("^limiter/") then
          assert.is_true(FRONT[inc] or false, path .. " includes " .. inc)
        end
      end
    end
  end)

  it("lists every part of the limiter in limiter.h's walk", function()
    local front = F.read("src/limiter/limiter.h")
    for _, path in ipairs(files("src/limiter/*.c")) do
      local name = path:match("[^/]+$")
      assert.truthy(front:find(name, 1, true), name .. " is not in limiter.h")
    end
  end)
end)
