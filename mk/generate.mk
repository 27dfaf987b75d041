# API code generation and checks, included by the root Makefile. The tools
# are pinned in tools/go.mod and run with `go tool`: nothing to install.

BUF ?= go tool -modfile=tools/go.mod buf

.PHONY: generate lint-proto

generate: ## format the .proto files and regenerate proto/gen
	$(BUF) format -w
	$(BUF) generate

lint-proto: ## buf lint, format and breaking checks; fail if proto/gen is stale
	./scripts/check-generated.sh
