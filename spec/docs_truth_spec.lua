-- Docs that tell the truth: decisions have identifiers that survive merges,
-- every reference to one names one that exists, nothing points outside the
-- repository (a clone has only what is committed), and the README and the
-- CHANGELOG do not contradict each other or the Makefile.
local F = dofile("spec/support/files.lua")
local read, capture = F.read, F.capture

-- Every committed text file (and those about to be), by path.
local function tracked()
  local out = {}
  for path in capture("git ls-files --cached --others --exclude-standard"):gmatch("[^\n]+") do
    if not path:match("%.png$") and not path:match("%.dat$") and not path:match("^spec/fixtures/") then
      local text = read(path)
      if text and not text:find("%z") then out[path] = text end
    end
  end
  return out
end

describe("docs/decisions.md", function()
  local text = assert(read("docs/decisions.md"))

  local function slugs()
    local set, n = {}, 0
    for line in text:gmatch("[^\n]+") do
      if line:match("^## ") then
        local slug = line:match("^## ([a-z0-9][a-z0-9-]*): %S")
        assert.is_string(slug, "a heading without a slug: " .. line)
        assert.is_nil(set[slug], "slug twice: " .. slug)
        set[slug], n = true, n + 1
      end
    end
    return set, n
  end

  it("heads every decision `## <slug>: <title>`, each slug once", function()
    local _, n = slugs()
    assert.is_true(n >= 79, n .. " decisions")
    assert.matches("\n## default%-issuer: .- %(was 1%)\n", text)
    assert.matches("\n## window%-size: .- %(was 76%)\n", text)
  end)

  it("is referred to by slug only, and every slug referred to exists", function()
    local set = slugs()
    local n = 0
    for path, body in pairs(tracked()) do
      for slug in body:gmatch("docs/decisions%.md#([%w-]+)") do
        n = n + 1
        assert.is_true(set[slug] == true, path .. " refers to docs/decisions.md#" .. slug .. ", which does not exist")
      end
      -- the old forms: "decision 44", "decision #17", "decisions.md #21", "(#69)" inside the file
      if path == "spec/docs_truth_spec.lua" then body = "" end
      assert.is_nil(body:match("[Dd]ecisions?%s+#?%d+"), path .. ": " .. tostring(body:match("[Dd]ecisions?%s+#?%d+")))
      assert.is_nil(body:match("decisions%.md,? #%d+"), path)
      assert.is_nil(body:match("decisions%.md, \""), path .. " names a decision by its title")
    end
    assert.is_nil(text:match("%(#%d+%)"), "a numbered reference inside docs/decisions.md")
    assert.is_true(n >= 15, n .. " references")
  end)
end)

describe("the repository", function()
  it("refers to no file outside itself", function()
    for path, body in pairs(tracked()) do
      if path ~= "spec/docs_truth_spec.lua" then
        for _, outside in ipairs{ "../shared", "/work/shared", "design.md", "coreplus-api.md" } do
          assert.is_nil(body:find(outside, 1, true), path .. " refers to " .. outside)
        end
      end
    end
  end)
end)

describe("README and CHANGELOG", function()
  local readme, changelog = assert(read("README.md")), assert(read("CHANGELOG.md"))

  it("agree that the shared limit file is read and written, never mapped", function()
    assert.matches("never mapped", readme, 1, true)
    for _, t in ipairs{ readme, changelog } do
      assert.is_nil(t:lower():find("memory%-mapped"))
      assert.is_nil(t:find("mmap", 1, true))
    end
  end)

  it("name only make targets that exist", function()
    local _, db = nil, capture("make -p -q help 2>/dev/null")
    local phony = assert(db:match("\n%.PHONY: ([^\n]*)"))
    local targets = {}
    for t in phony:gmatch("%S+") do targets[t] = true end
    for _, t in ipairs{ readme, changelog } do
      for target in t:gmatch("`make ([%w-]+)") do
        if not target:match("^[A-Z]") then assert.is_true(targets[target] == true, "make " .. target) end
      end
    end
  end)
end)
