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
# tools/etcd, tools/containerd and tools/coredns are modules of their own (etcd's, the
# container runtime's and CoreDNS's dependency graphs), outside ./... tools/kube is
# vetted by its build only: vet would compile Kubernetes a second time
# (without -trimpath), some 13 minutes on 2 cores; gofmt above covers it.
(cd tools/etcd && go vet ./...)
(cd tools/containerd && go vet ./...)
(cd tools/coredns && go vet ./...)
if [ -x scripts/check-generated.sh ]; then
  ./scripts/check-generated.sh
fi
echo "lint ok"
