package statedisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// Disk is a whole block device as sysfs describes it.
type Disk struct {
	// Name is the kernel's name (vda, sda, nvme0n1, loop0).
	Name string `json:"name"`
	// Path is its device node, Dev/Name.
	Path   string `json:"path"`
	Size   uint64 `json:"size"`
	Serial string `json:"serial,omitempty"`
	Model  string `json:"model,omitempty"`
}

// Sysfs reads disks from a sysfs tree and names their nodes in a dev
// tree: "/sys" and "/dev" on a machine, temporary directories in tests.
type Sysfs struct {
	Sys, Dev string
}

// virtual disks are never matched by serial, model or size (only by
// path): a loop device or RAM disk is no machine's state disk.
var virtual = []string{"loop", "ram", "zram", "nbd", "sr", "fd", "dm-", "md"}

// Disks lists the machine's whole disks, sorted by name (vda before vdb),
// without virtual ones.
func (s Sysfs) Disks() ([]Disk, error) {
	ents, err := os.ReadDir(filepath.Join(s.Sys, "block"))
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var out []Disk
	for _, e := range ents {
		if slices.ContainsFunc(virtual, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}
		d, err := s.Disk(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Disk reads one disk's attributes. Its size is in 512-byte units in
// sysfs whatever the sector size; its serial is a disk attribute for
// virtio (serial) and a device attribute for SCSI and NVMe.
func (s Sysfs) Disk(name string) (Disk, error) {
	dir := filepath.Join(s.Sys, "block", name)
	sectors, err := readAttr(filepath.Join(dir, "size"))
	if err != nil {
		return Disk{}, fmt.Errorf("disk %s: %w", name, err)
	}
	n, err := strconv.ParseUint(sectors, 10, 64)
	if err != nil {
		return Disk{}, fmt.Errorf("disk %s: size %q: %w", name, sectors, err)
	}
	d := Disk{Name: name, Path: filepath.Join(s.Dev, name), Size: n * 512}
	for _, p := range []string{filepath.Join(dir, "serial"), filepath.Join(dir, "device", "serial")} {
		if v, err := readAttr(p); err == nil && v != "" {
			d.Serial = v
			break
		}
	}
	d.Model, _ = readAttr(filepath.Join(dir, "device", "model"))
	return d, nil
}

func readAttr(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

// Find returns the disk the selector names: by path (any node of a whole
// disk, virtual ones included), else the first by name whose serial,
// model and size match every field given.
func (s Sysfs) Find(sel config.StateDisk) (Disk, error) {
	if sel.Path != "" {
		return s.byPath(sel.Path)
	}
	disks, err := s.Disks()
	if err != nil {
		return Disk{}, err
	}
	minSize, maxSize, err := sizes(sel)
	if err != nil {
		return Disk{}, err
	}
	var seen []string
	for _, d := range disks {
		if Matches(d, sel, minSize, maxSize) {
			return d, nil
		}
		seen = append(seen, fmt.Sprintf("%s (%d bytes, serial %q, model %q)", d.Name, d.Size, d.Serial, d.Model))
	}
	return Disk{}, fmt.Errorf("%w: none matches %s among %s", ErrNoDisk, describe(sel), strings.Join(seen, ", "))
}

// Matches reports whether d satisfies every field of sel that is set
// (sizes already parsed; 0 means no bound).
func Matches(d Disk, sel config.StateDisk, minSize, maxSize uint64) bool {
	return (sel.Serial == "" || d.Serial == sel.Serial) &&
		(sel.Model == "" || d.Model == sel.Model) &&
		(minSize == 0 || d.Size >= minSize) &&
		(maxSize == 0 || d.Size <= maxSize)
}

func sizes(sel config.StateDisk) (minSize, maxSize uint64, err error) {
	if sel.MinSize != "" {
		if minSize, err = config.ParseSize(sel.MinSize); err != nil {
			return 0, 0, err
		}
	}
	if sel.MaxSize != "" {
		if maxSize, err = config.ParseSize(sel.MaxSize); err != nil {
			return 0, 0, err
		}
	}
	return minSize, maxSize, nil
}

func describe(sel config.StateDisk) string {
	var parts []string
	for _, kv := range [][2]string{{"serial", sel.Serial}, {"model", sel.Model}, {"minSize", sel.MinSize}, {"maxSize", sel.MaxSize}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "any disk"
	}
	return strings.Join(parts, " ")
}

// byPath finds the disk of a device node: its device number leads to
// sysfs (Sys/dev/block/MAJOR:MINOR), which must be a whole disk.
func (s Sysfs) byPath(p string) (Disk, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(s.Dev, strings.TrimPrefix(p, "/dev/")), &st); err != nil {
		return Disk{}, fmt.Errorf("%w: %s: %w", ErrNoDisk, p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return Disk{}, fmt.Errorf("%w: %s is not a block device", ErrNoDisk, p)
	}
	link := filepath.Join(s.Sys, "dev", "block", fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	target, err := filepath.EvalSymlinks(link)
	if err != nil {
		return Disk{}, fmt.Errorf("%w: %s: %w", ErrNoDisk, p, err)
	}
	if _, err := os.Stat(filepath.Join(target, "partition")); err == nil {
		return Disk{}, fmt.Errorf("%w: %s is a partition, not a whole disk", ErrNoDisk, p)
	} else if !errors.Is(err, os.ErrNotExist) {
		return Disk{}, err
	}
	return s.Disk(filepath.Base(target))
}

// partitionNode returns the device node of partition index of disk,
// creating it (mknod) when devtmpfs has not: the node's name and number
// come from sysfs (vda1, nvme0n1p1, loop0p1).
func (s Sysfs) partitionNode(disk string, index int) (string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Sys, "block", disk))
	if err != nil {
		return "", fmt.Errorf("list partitions of %s: %w", disk, err)
	}
	for _, e := range ents {
		n, err := readAttr(filepath.Join(s.Sys, "block", disk, e.Name(), "partition"))
		if err != nil || n != strconv.Itoa(index) {
			continue
		}
		node := filepath.Join(s.Dev, e.Name())
		if _, err := os.Stat(node); err == nil {
			return node, nil
		}
		devno, err := readAttr(filepath.Join(s.Sys, "block", disk, e.Name(), "dev"))
		if err != nil {
			return "", err
		}
		var major, minor uint32
		if _, err := fmt.Sscanf(devno, "%d:%d", &major, &minor); err != nil {
			return "", fmt.Errorf("partition %s: dev %q: %w", e.Name(), devno, err)
		}
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("create %s: %w", node, err)
		}
		return node, nil
	}
	return "", fmt.Errorf("%w: %s has no partition %d (did the kernel reread its table?)", ErrNoDisk, disk, index)
}
