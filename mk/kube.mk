# The Kubernetes components the images ship (tools/kube: kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy, kubelet and kubectl
# from k8s.io/kubernetes, pinned in tools/kube/go.mod, as one static
# multi-call binary with a link per component), included by the root
# Makefile. The first build on a machine compiles for about 15 minutes on
# 2 cores and shows its progress; the Go build cache makes later ones take
# seconds, so the target always runs and lets the cache decide.

.PHONY: kube
kube: ## build the Kubernetes components (k8s.io/kubernetes, pinned in tools/kube/go.mod) into _out/bin/kube, with links kube-apiserver, kubelet, kubectl, ...
	@mkdir -p $(OUT)
	./scripts/build-kube.sh $(OUT)

.PHONY: kube-flags
kube-flags: kube ## regenerate node/cluster/config/kubeflags.json (every component flag and its type, which config validation checks extraArgs against) from the built kube binary
	$(OUT)/kube flags > node/cluster/config/kubeflags.json
