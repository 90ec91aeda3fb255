-- The API reference: built with LDoc as `make docs` builds it (config.ld,
-- docs/ref/), then read as HTML. It fails when a public name is missing from
-- the pages (the modules' exports, the catalogue's rows and operations, the
-- client's options, the error kinds, the stub's and the mock's options),
-- when a private one shows, or when the Markdown did not render (plain text
-- printed `/API/Core/<version>/` as `/API/Core//` and ran code blocks into
-- one line).
local top = io.popen("pwd"):read("l")

local F = dofile("spec/support/files.lua")
local q, read = F.q, F.read

local function unescape(s)
  return (s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&"))
end

-- A Lua table constructor in a source file, as the names of its keys (the
-- one home of a list of options is the code that checks them).
local function table_keys(path, opening)
  local src = assert(read(top .. "/" .. path))
  local start = assert(src:find(opening, 1, true), opening .. " not in " .. path)
  local body = src:sub(start):match("%b{}")
  local keys = {}
  for line in body:gmatch("[^\n]+") do
    line = line:gsub("%-%-.*$", "")
    for k in line:gmatch("([%a_][%w_]*)%s*=") do keys[#keys + 1] = k end
  end
  return keys
end

describe("the API reference", function()
  local dir, output, ok, pages, config

  lazy_setup(function()
    dir = io.popen("mktemp -d"):read("l")
    local p = io.popen("cd " .. q(top) .. " && scripts/lua-env LUA_PATH=" .. q(top .. "/docs/ref/?.lua;;")
      .. " ldoc -c config.ld -d " .. q(dir) .. " . 2>&1; echo \"exit=$?\"")
    output = p:read("a")
    p:close()
    ok = output:match("exit=0\n$") ~= nil
    pages = {}
    for f in io.popen("ls " .. q(dir .. "/modules")):lines() do
      pages[f:match("^(.*)%.html$")] = read(dir .. "/modules/" .. f)
    end
    config = {}
    assert(loadfile(top .. "/config.ld", "t", config))()
  end)

  lazy_teardown(function()
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  -- Whether a page documents `name`: an item of its own (a function, field
  -- or table: `name`, `x.name`, `x:name`), a field of a documented table,
  -- or code that names it in the text.
  local function documented(page, name)
    local n = name:gsub("%p", "%%%0")
    return page:find('name = "' .. n .. '"') or page:find('name = "[%w_]+[.:]' .. n .. '"')
      or page:find('class="parameter">' .. n .. "<") or page:find("<code>" .. n .. "[<%s=(]")
      or page:find("<code>[%w_.]+[.:]" .. n .. "[<%s=(]")
  end

  local function page_of(module)
    local page = pages[module]
    assert.is_not_nil(page, "no page for " .. module)
    return page
  end

  it("builds with Markdown (lua-discount) and without errors", function()
    assert.is_true(ok, output)
    assert.is_nil(output:find("format: ", 1, true), output)
    assert.truthy(read(dir .. "/index.html"))
  end)

  it("has a page for every module but the internal ones config.ld leaves out", function()
    local excluded = {}
    for _, e in ipairs(config.file.exclude) do excluded[#excluded + 1] = e end
    local expected = { ["coreplus.core"] = true }   -- docs/ref/core.luadoc
    for f in io.popen("cd " .. q(top) .. " && find lua/coreplus -name '*.lua'"):lines() do
      local skip = false
      for _, e in ipairs(excluded) do
        if f == e or f:sub(1, #e + 1) == e .. "/" then skip = true end
      end
      if not skip then
        expected[f:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")] = true
      end
    end
    for module in pairs(expected) do assert.is_not_nil(pages[module], "no page for " .. module) end
    for module in pairs(pages) do assert.is_true(expected[module], "a page for " .. module) end
    for _, internal in ipairs{ "coreplus.engine", "coreplus.misuse", "coreplus.pager",
      "coreplus.testing.mock.server", "coreplus.cli" } do
      assert.is_nil(pages[internal], internal .. " is internal")
    end
  end)

  -- What each module returns, every key of it documented; names starting
  -- with "_" are private. `internal` lists exports kept out on purpose.
  local internal = {
    ["coreplus.resource"] = { new = "the client binds each catalogue row itself" },
  }
  local needs_nginx = { ["coreplus.transport.ngx"] = true }

  it("documents every export of every module it has a page for", function()
    require "luassert"
    for module, page in pairs(pages) do
      if not needs_nginx[module] then
        local exports = require(module)
        assert.equal("table", type(exports), module)
        for k in pairs(exports) do
          if type(k) == "string" and k:sub(1, 1) ~= "_" and not (internal[module] or {})[k] then
            assert.truthy(documented(page, k), module .. "." .. k .. " is not in the reference")
          end
        end
      end
    end
  end)

  it("documents the methods of a mock and of the ngx transport's pipelines", function()
    local launcher = assert(read(top .. "/lua/coreplus/testing/launcher.lua"))
    local n = 0
    for name in launcher:gmatch("\nfunction mock:([%w_]+)") do
      n = n + 1
      assert.truthy(pages["coreplus.testing.launcher"]:find('name = "mock:' .. name .. '"'), "mock:" .. name)
    end
    assert.is_true(n >= 8)
    for _, name in ipairs{ "request", "pipeline", "limiter", "dict_name", "dict_size", "check_dict",
      "keepalive_timeout", "pool_size", "margin" } do
      assert.truthy(documented(page_of("coreplus.transport.ngx"), name), "ngx " .. name)
    end
  end)

  it("documents each resource operation", function()
    local page = page_of("coreplus.resource")
    for _, op in ipairs{ "list", "each", "pages", "all", "get", "create", "book", "update", "cancel" } do
      assert.truthy(page:find('name = "resource:' .. op .. '"'), "resource:" .. op)
    end
  end)

  it("documents every catalogue row with its path, operations and required fields", function()
    local page = page_of("coreplus.catalogue")
    for name, row in pairs(require "coreplus.catalogue") do
      local entry = page:match('class="parameter">' .. name .. "</span>(.-)</li>")
      assert.is_not_nil(entry, "row " .. name)
      entry = unescape(entry:gsub("<[^>]*>", ""))
      assert.truthy(entry:find(row.path, 1, true), name .. ": path " .. row.path)
      for _, op in ipairs{ "list", "get", "create", "book", "update", "cancel", "upload", "send",
        "changed_since", "next_free", "find_or_create" } do
        if row[op] then
          assert.truthy(entry:find("%f[%w]" .. op .. "%f[^%w]"), name .. ": " .. op)
          for _, field in ipairs(row[op].required or {}) do
            assert.truthy(entry:find(field, 1, true), name .. ":" .. op .. " requires " .. field)
          end
        end
      end
      if row.list then
        for _, op in ipairs{ "each", "pages", "all" } do assert.truthy(entry:find(op, 1, true), name .. ": " .. op) end
      end
    end
  end)

  it("documents every option of coreplus.new", function()
    local page = page_of("coreplus")
    local keys = {}
    for k in pairs(require("coreplus.config").option_names()) do keys[#keys + 1] = k end
    assert.is_true(#keys >= 25, #keys .. " options")
    for _, option in ipairs(keys) do
      assert.truthy(page:find("<code>" .. option .. "[<%s]"), "option " .. option)
    end
  end)

  it("documents every error kind", function()
    local page = page_of("coreplus.errors")
    for kind in pairs(require("coreplus.errors").kinds) do
      assert.truthy(page:find("<code>" .. kind .. "</code>", 1, true), "kind " .. kind)
    end
  end)

  it("documents every option of testing.server and testing.stub", function()
    for _, case in ipairs{
      { "coreplus.testing.launcher", "lua/coreplus/testing/launcher.lua", "local DEFAULTS = {" },
      { "coreplus.testing.stub", "lua/coreplus/testing/stub.lua", "local OPTIONS = {" },
    } do
      local page = page_of(case[1])
      for _, option in ipairs(table_keys(case[2], case[3])) do
        assert.truthy(page:find("<code>" .. option .. "[<%s]") or page:find(">" .. option .. "</a>"),
          case[1] .. " option " .. option)
      end
    end
  end)

  it("shows no private function", function()
    for module, page in pairs(pages) do
      for name in page:gmatch('name = "([^"]*)"') do
        assert.is_nil(name:match("^_") or name:match("[.:]_"), module .. " shows " .. name)
      end
    end
  end)

  it("keeps <version> in /API/Core/<version>/, code blocks on their lines and -- as two dashes", function()
    local all = {}
    for _, page in pairs(pages) do all[#all + 1] = page end
    all = table.concat(all, "\n")
    assert.truthy(all:find("/API/Core/&lt;version&gt;/", 1, true))
    assert.is_nil(all:find("/API/Core//", 1, true))
    assert.is_nil(all:find("<code>[^<]*&ndash;"))
    local example = page_of("coreplus.resource"):match('name = "resource:pages".-<pre[^>]*>(.-)</pre>')
    assert.is_not_nil(example)
    local _, lines = example:gsub("\n", "")
    assert.is_true(lines >= 3, example)
  end)
end)

describe("the README and docs/*.md", function()
  local function md_files()
    local out = { "README.md" }
    for f in io.popen("cd " .. q(top) .. " && ls docs/*.md"):lines() do out[#out + 1] = f end
    return out
  end

  it("link only to files that exist", function()
    for _, f in ipairs(md_files()) do
      local text = assert(read(top .. "/" .. f))
      local dir = f:match("^(.*)/[^/]*$") or "."
      for target in text:gmatch("%]%(([^)%s]+)%)") do
        if not target:match("^%a[%w+.-]*:") and not target:match("^#") then
          local path = target:gsub("#.*$", "")
          local ok = os.execute("test -e " .. q(top .. "/" .. dir .. "/" .. path))
          assert.truthy(ok, f .. " links to " .. target .. ", which does not exist")
        end
      end
    end
  end)
end)
