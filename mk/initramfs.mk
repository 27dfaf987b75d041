# The kernel + initramfs pair QEMU VMs boot (rootfs/initramfs), included by
# the root Makefile. Packages are downloaded with apt-get into
# $XDG_CACHE_HOME/cairn/initramfs (or ~/.cache/cairn/initramfs); nothing is
# installed on the host.

.PHONY: initramfs

initramfs: etcd ## _out/vmlinuz + _out/initramfs.cpio.gz: Debian's cloud kernel, cairnd as /init and etcd (static), mkfs.ext4
	@mkdir -p _out/initramfs
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o _out/initramfs/cairnd ./cmd/cairnd
	$(GO) run ./rootfs/initramfs/mkinitramfs --cairnd _out/initramfs/cairnd --etcd $(ETCD) --out _out
