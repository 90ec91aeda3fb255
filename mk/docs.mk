# The API reference, generated with LDoc (Debian: lua-ldoc) from the comments
# in lua/coreplus/ into docs/api/ (config.ld says what is read).
#   make docs             docs/api/index.html
.PHONY: docs
docs:
	@command -v ldoc >/dev/null || { echo "docs: ldoc is missing (make deps installs lua-ldoc)" >&2; exit 1; }
	@rm -rf docs/api
	@ldoc -q -c config.ld . >/dev/null
	@echo "docs: API reference in docs/api/index.html"
