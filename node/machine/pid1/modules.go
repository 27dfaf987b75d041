package pid1

// ImageModules are the kernel modules the boot image needs for its own
// devices under QEMU with Debian's cloud kernel, loaded in dependency
// order (node/machine/kmod, modules.dep) before the boot config and the
// state disk are read: the virtio transport and its PCI glue, the NIC
// (virtio_net with the failover pair it depends on), the disk
// (virtio_blk), QEMU's fw_cfg (the config source), and ext4 for the state
// disk (a module in Debian's kernels; jbd2, mbcache and crc16 come
// through modules.dep, crc32c_generic is a soft dependency there, so it
// is listed). The initramfs must carry each with its dependencies
// (rootfs/); one that is missing or built in is reported in BootStatus
// and KernelModuleStatus, never fatal.
var ImageModules = []string{
	"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"failover", "net_failover", "virtio_net", "virtio_blk",
	"qemu_fw_cfg",
	"crc32c_generic", "ext4",
}
