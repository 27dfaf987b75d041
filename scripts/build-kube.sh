#!/usr/bin/env bash
# Builds the Kubernetes components (tools/kube: one multi-call binary) into
# $1 (a directory), with links named after each component, and shows its
# progress: a cold build compiles some 2,000 packages, about 15 minutes on
# 2 cores; the Go build cache makes the next one take seconds.
set -euo pipefail
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/../tools/kube"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ -n $version ]] || { echo "build-kube: no k8s.io/kubernetes version in tools/kube/go.mod" >&2; exit 1; }
minor=$(cut -d. -f2 <<<"$version")
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
export CGO_ENABLED=0
total=$(go list -deps . | wc -l)
echo "kube: building Kubernetes $version ($total packages; a first build takes about 15 minutes on 2 cores, later ones seconds)" >&2
start=$SECONDS
go build -v -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/kube" . 2>&1 | awk -v total="$total" -v start="$start" '
	/^#|: / { print; failed = 1; next }   # compiler errors pass through
	{ n++; if (n % 100 == 0) { printf "kube: %d/%d packages compiled\n", n, total > "/dev/stderr" } }'
status=${PIPESTATUS[0]}
[[ $status -eq 0 ]] || exit "$status"
for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl; do
	ln -sf kube "$out/$c"
done
echo "kube: $out/kube ready in $((SECONDS - start)) s (links: kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl)" >&2
