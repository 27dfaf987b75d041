package statedisk

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ensurePartition returns the device node of the state partition, and
// when the kernel has not made the partition, adds it with BLKPG (as
// `partx --add` does). The kernel parses a GPT itself on BLKRRPART and
// at boot only with CONFIG_EFI_PARTITION; Debian's kernels have it, but
// a kernel without it still gets the partition this way.
func (s Sysfs) ensurePartition(d Disk, p Partition, sectorSize int64) (string, error) {
	node, err := s.partitionNode(d.Name, p.Index)
	if !errors.Is(err, ErrNoDisk) {
		return node, err
	}
	f, oerr := os.Open(d.Path)
	if oerr != nil {
		return "", fmt.Errorf("open %s: %w", d.Path, oerr)
	}
	defer f.Close()
	if aerr := addPartition(f, p, sectorSize); aerr != nil {
		return "", errors.Join(err, fmt.Errorf("add partition %d with BLKPG: %w", p.Index, aerr))
	}
	return s.partitionNode(d.Name, p.Index)
}

// addPartition tells the kernel about p (BLKPG_ADD_PARTITION). EBUSY
// means a partition with that number exists already.
func addPartition(f *os.File, p Partition, sectorSize int64) error {
	bp := unix.BlkpgPartition{
		Start:  int64(p.First) * sectorSize,
		Length: int64(p.Last-p.First+1) * sectorSize,
		Pno:    int32(p.Index),
	}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_ADD_PARTITION, Datalen: int32(unsafe.Sizeof(bp)), Data: (*byte)(unsafe.Pointer(&bp))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 && errno != unix.EBUSY {
		return errno
	}
	return nil
}

// rereadPartitions asks the kernel to reread the disk's partition table
// (BLKRRPART). It fails on a loop device without partscan and on disks
// with a partition in use; ensurePartition then adds the partition
// itself, so the error is only logged.
func rereadPartitions(f *os.File) error {
	return unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
}
