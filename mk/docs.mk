# make docs: the API reference, generated with LDoc (Debian: lua-ldoc) from
# the comments in lua/coreplus/ and docs/ref/ into docs/api/ (config.ld says
# what is read). Comments are Markdown, rendered by lua-discount through
# docs/ref/ldoc_discount.lua: without it LDoc falls back to plain text, where
# `/API/Core/<version>/` loses its `<version>` and code blocks run together,
# so its absence (LDoc then prints "format: ...") is an error.
# ldoc runs under Lua 5.1 in an environment of its own (scripts/lua-env), so
# that it works after `eval "$(luarocks path)"` for either Lua.
# spec/docs_spec.lua builds the reference the same way and checks it.
#   make docs             docs/api/index.html (DOCS_DIR=dir: elsewhere)
DOCS_DIR ?= docs/api
.PHONY: docs
docs:
	@command -v ldoc >/dev/null || { echo "docs: ldoc is missing (make deps installs lua-ldoc)" >&2; exit 1; }
	@rm -rf $(DOCS_DIR)
	@out=$$(scripts/lua-env LUA_PATH="$(CURDIR)/docs/ref/?.lua;;" ldoc -c config.ld -d $(DOCS_DIR) . 2>&1); \
	  status=$$?; \
	  if [ $$status -ne 0 ] || printf '%s\n' "$$out" | grep -q '^format: '; then \
	    printf '%s\n' "$$out" >&2; \
	    echo "docs: LDoc failed, or could not load lua-discount (make deps installs it)" >&2; exit 1; \
	  fi; \
	  printf '%s\n' "$$out" | grep -v '^reading configuration\|^output written' >&2 || true
	@echo "docs: API reference in $(DOCS_DIR)/index.html"
