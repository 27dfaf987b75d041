# The kernel + initramfs pair QEMU VMs boot (rootfs/initramfs), included by
# the root Makefile. Packages are downloaded with apt-get into
# $XDG_CACHE_HOME/cairn/initramfs (or ~/.cache/cairn/initramfs); nothing is
# installed on the host.

.PHONY: initramfs

initramfs: etcd ## _out/vmlinuz + _out/initramfs.cpio.gz: Debian's cloud kernel, cairnd as /init and etcd (static), mkfs.ext4
	@mkdir -p _out/initramfs
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o _out/initramfs/cairnd ./cmd/cairnd
	$(GO) run ./rootfs/initramfs/mkinitramfs --cairnd _out/initramfs/cairnd --etcd $(ETCD) --out _out

# The same with a Kubernetes node in it (rootfs/image.KubernetesFiles: kube
# and its links, containerd, runc, the CNI plugins, nft, the workload
# images) and the kernel modules they need, uncompressed (the kernel
# unpacks it far faster under TCG than it inflates gzip):
# _out/initramfs-kubernetes.cpio, which `cluster create --provisioner qemu
# --kubernetes` boots.
.PHONY: initramfs-kubernetes
initramfs-kubernetes: etcd kube containerd images ## _out/initramfs-kubernetes.cpio: the initramfs with kube, the container runtime, CNI, nft and the workload images (qemu --kubernetes)
	@mkdir -p _out/initramfs
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o _out/initramfs/cairnd ./cmd/cairnd
	$(GO) run ./rootfs/initramfs/mkinitramfs --cairnd _out/initramfs/cairnd --etcd $(ETCD) --out _out --kubernetes $(OUT) --images $(IMAGES_DIR)/all.tar
