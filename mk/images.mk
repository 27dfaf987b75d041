# The workload images (rootfs/images): the pod sandbox image
# registry.k8s.io/pause:3.10.2 (our own pause), cairn.local/echo:VERSION
# (the test application) and registry.k8s.io/<component>:v1.37.2 for
# kube-apiserver, kube-controller-manager, kube-scheduler and kube-proxy
# (the `make kube` binary, one shared layer), FROM scratch, in one OCI
# archive _out/images/all.tar that containerd imports at boot; and
# Debian's nft with its libraries in _out/bin/nft-root (kube-proxy's
# nftables backend execs it), which the node image carries. Included by
# the root Makefile; SOURCE_DATE_EPOCH comes from mk/image.mk.

IMAGES_DIR := _out/images

.PHONY: images
images: kube coredns ## build the workload images (pause, echo, the Kubernetes components) FROM scratch into _out/images/all.tar, an OCI archive for containerd import
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./rootfs/cmd/mkimages --out $(IMAGES_DIR) --kube $(OUT)/kube --version $(VERSION) --nft $(OUT)/nft-root --coredns $(OUT)/coredns
