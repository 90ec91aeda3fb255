# OpenResty / nginx (docs/openresty.md).
#   make test-openresty    lint + the nginx specs (transport, its sleeps, the example service
#                          under load, the booking page over HTTP and in headless Chromium)
#   make openresty-example the booking page and service against the mock (Ctrl-C stops both)
.PHONY: test-openresty openresty-example

test-openresty:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(MAKE) --no-print-directory build LUA=luajit
	@$(TEST_ENV) COREPLUS_TEST_STEPS="lint specs luajit" scripts/run-tests \
	    spec/transport_ngx_spec.lua spec/ngx_sleep_spec.lua spec/openresty_spec.lua \
	    spec/booking_page_spec.lua spec/browser_spec.lua

openresty-example:
	@examples/openresty/run
