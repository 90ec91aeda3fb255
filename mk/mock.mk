# The mock coreplus server.
#   make test-mock        lint + the mock's own specs (spec/mock_*_spec.lua)
#   make mock-start       start one in the background; prints export lines
.PHONY: test-mock mock-start

test-mock: build
	@$(TEST_ENV) COREPLUS_TEST_STEPS="lint specs" scripts/run-tests $(wildcard spec/mock_*_spec.lua)

mock-start: build
	@$(TEST_ENV) bin/coreplus-mock start
