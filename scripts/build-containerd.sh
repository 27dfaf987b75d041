#!/usr/bin/env bash
# Builds the container runtime the images ship into $1 (a directory):
# containerd, containerd-shim-runc-v2, ctr and runc in $1, and the CNI
# plugins bridge, host-local, loopback and portmap in $1/cni. Every binary
# is static (the image is FROM scratch: no libc, no loader); the script
# refuses one that is not.
#
# The versions are pinned in tools/containerd/go.mod. Each binary is built
# with `go install PKG@VERSION`, that is in its own upstream module's
# dependency graph, the one upstream tests and releases: in one graph of
# ours, the CNI plugins' hcsshim would move runc's and containerd's
# cilium/ebpf from v0.17.3 to v0.22.0 (tools/containerd/README.md).
#
# runc needs cgo (libcontainer/nsenter is C) and links libseccomp and glibc
# statically; the script installs libseccomp-dev (which has libseccomp.a)
# with apt-get when it is missing. A cold build takes about 2.5 minutes on
# 2 cores; the Go build cache makes the next one take seconds.
set -euo pipefail
mkdir -p "$1/cni"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/../tools/containerd"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [[ ! -e /usr/lib/x86_64-linux-gnu/libseccomp.a && ! -e /usr/lib/libseccomp.a ]] || ! command -v pkg-config >/dev/null; then
	echo "containerd: installing libseccomp-dev and pkg-config (runc links libseccomp statically)" >&2
	as_root apt-get install -y -qq --no-install-recommends libseccomp-dev pkg-config >/dev/null 2>&1 ||
		{ as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends libseccomp-dev pkg-config >/dev/null; }
fi

pin() {
	local v
	v=$(go list -m -f '{{.Version}}' "$1")
	[[ -n $v ]] || { echo "build-containerd: no $1 version in tools/containerd/go.mod" >&2; exit 1; }
	echo "$v"
}
ctrd_mod=github.com/containerd/containerd/v2
runc_mod=github.com/opencontainers/runc
cni_mod=github.com/containernetworking/plugins
ctrd_v=$(pin $ctrd_mod)
runc_v=$(pin $runc_mod)
cni_v=$(pin $cni_mod)

# static refuses a binary that a loader would have to start: one with a
# PT_INTERP program header or a DT_NEEDED library.
static() {
	local hdr
	hdr=$(readelf -lW "$1"; readelf -dW "$1")
	if grep -qE 'INTERP|\(NEEDED\)' <<<"$hdr"; then
		echo "build-containerd: $1 is dynamically linked (it needs a loader or a shared library), which a FROM-scratch image cannot run:" >&2
		grep -E 'interpreter|\(NEEDED\)' <<<"$hdr" >&2
		exit 1
	fi
}

# build NAME DIR PKG@VERSION go-install-flags...: one go install into a
# scratch GOBIN, with a progress line every 100 compiled packages, then the
# static check and the move into DIR.
gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
total_start=$SECONDS
build() {
	local name=$1 dir=$2 pkg=$3 start=$SECONDS status
	shift 3
	echo "containerd: building $name ($pkg, CGO_ENABLED=$CGO_ENABLED)" >&2
	GOBIN=$gobin go install -v -trimpath "$@" "$pkg" 2>&1 | awk -v name="$name" '
		/^#|: / { print; next }   # compiler errors pass through
		{ n++; if (n % 100 == 0) { printf "containerd: %s: %d packages compiled\n", name, n > "/dev/stderr" } }'
	status=${PIPESTATUS[0]}
	[[ $status -eq 0 ]] || exit "$status"
	static "$gobin/$name"
	mv -f "$gobin/$name" "$dir/$name"
	echo "containerd: $dir/$name ready in $((SECONDS - start)) s ($(du -h "$dir/$name" | cut -f1), static)" >&2
}

# containerd's own tags (Makefile, BUILDING.md): no_btrfs, no_devmapper and
# no_zfs drop the snapshotters that need C headers; osusergo, netgo and
# static_build are its STATIC=1 build; the shim adds no_grpc (it speaks
# ttrpc only).
ctrd_tags="urfave_cli_no_docs no_btrfs no_devmapper no_zfs osusergo netgo static_build"
ctrd_ldflags="-s -w -X $ctrd_mod/version.Version=$ctrd_v -X $ctrd_mod/version.Package=$ctrd_mod"
export CGO_ENABLED=0
build containerd "$out" "$ctrd_mod/cmd/containerd@$ctrd_v" -tags "$ctrd_tags" -ldflags "$ctrd_ldflags"
build containerd-shim-runc-v2 "$out" "$ctrd_mod/cmd/containerd-shim-runc-v2@$ctrd_v" -tags "$ctrd_tags no_grpc" -ldflags "$ctrd_ldflags"
build ctr "$out" "$ctrd_mod/cmd/ctr@$ctrd_v" -tags "$ctrd_tags" -ldflags "$ctrd_ldflags"

# runc's own `make static` minus libpathrs (a Rust library; without the
# tag runc uses its pure-Go pathrs-lite), and not static-pie: plain
# -static, which `readelf` shows without an interpreter.
export CGO_ENABLED=1
build runc "$out" "$runc_mod@$runc_v" -tags "seccomp urfave_cli_no_docs netgo osusergo" -ldflags "-s -w -extldflags -static"

export CGO_ENABLED=0
cni_ldflags="-s -w -X $cni_mod/pkg/utils/buildversion.BuildVersion=$cni_v"
for p in main/bridge ipam/host-local main/loopback meta/portmap; do
	build "${p#*/}" "$out/cni" "$cni_mod/plugins/$p@$cni_v" -ldflags "$cni_ldflags"
done
echo "containerd: containerd $ctrd_v, runc $runc_v, CNI plugins $cni_v ready in $out in $((SECONDS - total_start)) s" >&2
