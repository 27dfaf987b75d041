# The container runtime the images ship (tools/containerd: containerd,
# containerd-shim-runc-v2, ctr and runc into _out/bin, the CNI plugins
# bridge, host-local, loopback and portmap into _out/bin/cni), pinned in
# tools/containerd/go.mod and built static by scripts/build-containerd.sh,
# included by the root Makefile. A cold build takes a few minutes on
# 2 cores and shows its progress; the Go build cache makes later ones take
# seconds, so the target always runs and lets the cache decide.

.PHONY: containerd
containerd: ## build containerd, its runc shim, ctr, runc and the CNI plugins (pinned in tools/containerd/go.mod) into _out/bin and _out/bin/cni, static
	@mkdir -p $(OUT)
	./scripts/build-containerd.sh $(OUT)
