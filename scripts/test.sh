#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, unit and multi-node package
# tests, then the black-box integration suite against the built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

echo "== lint"
./scripts/lint.sh

echo "== package tests"
go test -count=1 -timeout 15m $(go list ./... | grep -v /integration)

if [ -d integration ]; then
  echo "== integration"
  make build
  go test -count=1 -timeout 20m ./integration/...
fi
