#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, unit and multi-node package
# tests, then the black-box integration suite against the built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# The network tests need iproute2 (ip netns) and run as root (CI is root).
if ! command -v ip >/dev/null 2>&1; then
  echo "== installing iproute2"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq iproute2 >/dev/null; fi
fi

# The qemu provisioner's tests boot VMs (qemu-system-x86_64, TCG) from a
# kernel that rootfs/initramfs downloads with apt-get download, which needs
# apt's package lists.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! apt-cache show --no-all-versions linux-image-cloud-amd64 >/dev/null 2>&1; then
  echo "== apt-get update (package lists for the VM kernel)"
  as_root apt-get update -qq
fi
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "== installing qemu-system-x86"
  as_root apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi

echo "== lint"
./scripts/lint.sh

echo "== package tests"
go test -count=1 -timeout 15m $(go list ./... | grep -v /integration)

# Every Go fuzzer for a fixed 10 s (scripts/fuzz.sh): the config parser
# and validator, the FSM's log entries, gossip metadata, CSR signing and
# the API's request handling. About 2.5 minutes, most of it compiling.
echo "== fuzzers"
FUZZTIME=10s ./scripts/fuzz.sh

# tools/etcd is a module of its own, outside ./...: its tests build etcd
# (about 50 s with a cold Go build cache, a second warm) and run it on
# loopback.
echo "== etcd build module (tools/etcd)"
(cd tools/etcd && go test -count=1 -timeout 10m ./...)

# tools/containerd pins containerd, runc and the CNI plugins; its tests
# build them (about 2.5 minutes cold, seconds warm), check each is static
# and reports its pin, and as root run a container and a CRI pod sandbox.
echo "== container runtime build module (tools/containerd)"
(cd tools/containerd && go test -count=1 -timeout 10m ./...)

# tools/coredns pins CoreDNS; its test builds it (about 1.5 minutes cold)
# and checks the plugins compiled in.
echo "== cluster DNS build module (tools/coredns)"
(cd tools/coredns && go test -count=1 -timeout 10m ./...)

if [ -d integration ]; then
  # The Kubernetes components (tools/kube): a cold build compiles for
  # about 15 minutes on 2 cores and prints its progress; the integration
  # tests of Kubernetes then only link them.
  echo "== Kubernetes build (tools/kube)"
  make kube
  echo "== integration"
  make build
  # The Kubernetes-in-containers suite writes and then removes about 2 GB
  # of container images and volumes; it runs after the rest, on its own, so
  # that the disk work Docker does after it cannot slow the fsync-bound Raft
  # and etcd of the QEMU suite's VMs. The Kubernetes VM runs last: under TCG
  # it takes both cores for several minutes.
  go test -count=1 -timeout 30m -skip '^(TestKubernetesDockerMode|TestKubernetesQEMUMode)$' ./integration/...
  echo "== integration: Kubernetes nodes in containers"
  go test -count=1 -timeout 20m -run '^TestKubernetesDockerMode$' ./integration/
  echo "== integration: a Kubernetes node as a VM (pid1 mode)"
  go test -count=1 -timeout 25m -run '^TestKubernetesQEMUMode$' ./integration/
fi
