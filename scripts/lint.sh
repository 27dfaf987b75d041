#!/usr/bin/env bash
# Static checks: gofmt, go vet, and (when the proto toolchain is present)
# buf lint plus a check that generated code is fresh.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=$(gofmt -l $(git ls-files '*.go' | grep -v '^proto/gen/') 2>/dev/null || true)
if [ -n "$bad" ]; then
  echo "gofmt would change:"; echo "$bad"; exit 1
fi
go vet ./...
# tools/etcd is a module of its own (etcd's dependency graph), outside ./...
(cd tools/etcd && go vet ./...)
if [ -x scripts/check-generated.sh ]; then
  ./scripts/check-generated.sh
fi
echo "lint ok"
