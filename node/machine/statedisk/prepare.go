package statedisk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// Options configures Prepare.
type Options struct {
	// Selector is this node's stateDisk entry; the zero value means none.
	Selector config.StateDisk
	// ClusterID and ClusterName go into the marker, and a marker must
	// carry the same ID for the disk to be mounted.
	ClusterID, ClusterName string
	// Node is this node's name, recorded in a new marker.
	Node string
	// MountPoint is where the state filesystem is mounted: /var.
	MountPoint string
	// Sysfs locates disks and partitions; zero means /sys and /dev.
	Sysfs Sysfs
	// Mkfs is the mkfs.ext4 program; "" means /sbin/mkfs.ext4, else
	// mkfs.ext4 on PATH.
	Mkfs string
	// Exec runs a program to completion; nil means cmd.Run. As PID 1 it
	// must be the reaper's (pid1.Reaper.Exec), which would otherwise reap
	// mkfs.ext4 before its Wait.
	Exec func(*exec.Cmd) error
	Log  *slog.Logger
}

// State is the outcome of Prepare.
type State string

// States of the state disk.
const (
	// None: the config names no state disk; state lives in memory.
	None State = "none"
	// Mounted: the disk held this cluster's state and is mounted.
	Mounted State = "mounted"
	// Formatted: the disk was blank, and is now partitioned, formatted,
	// marked and mounted.
	Formatted State = "formatted"
	// Refused: the disk holds something else and was not touched.
	Refused State = "refused"
	// Failed: no disk matched, or an operation failed.
	Failed State = "failed"
)

// Status is what Prepare did, as StateDiskStatus reports it.
type Status struct {
	State      State  `json:"state"`
	Disk       string `json:"disk,omitempty"`
	Partition  string `json:"partition,omitempty"`
	MountPoint string `json:"mountPoint,omitempty"`
	// Reason says why a disk was refused or what failed.
	Reason string `json:"reason,omitempty"`
}

func (o *Options) defaults() {
	if o.Sysfs == (Sysfs{}) {
		o.Sysfs = Sysfs{Sys: "/sys", Dev: "/dev"}
	}
	if o.MountPoint == "" {
		o.MountPoint = "/var"
	}
	if o.Exec == nil {
		o.Exec = func(c *exec.Cmd) error { return c.Run() }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Prepare finds the state disk, and mounts it at MountPoint if it holds
// this cluster's state; partitions, formats and marks it first if it is
// blank. A disk with anything else on it is refused (ErrRefused) and
// never written. The returned Status is meaningful with any error.
//
// A disk whose cairn-state partition is already mounted at MountPoint
// (LoadSaved ran) is checked and left mounted.
func Prepare(ctx context.Context, o Options) (Status, error) {
	o.defaults()
	if o.Selector == (config.StateDisk{}) {
		return Status{State: None}, nil
	}
	disk, err := o.Sysfs.Find(o.Selector)
	if err != nil {
		return Status{State: Failed, Reason: err.Error()}, err
	}
	st := Status{Disk: disk.Path, MountPoint: o.MountPoint}
	fail := func(state State, err error) (Status, error) {
		st.State, st.Reason = state, err.Error()
		o.Log.Error("state disk not usable", "disk", disk.Path, "state", state, "reason", err)
		return st, err
	}
	content, sectorSize, err := inspectDisk(disk.Path)
	if err != nil {
		return fail(Failed, err)
	}
	formatted := false
	switch content.Kind {
	case Foreign:
		return fail(Refused, fmt.Errorf("%w: %s holds %s; it is never formatted (wipe it or `cairnctl reset` the node)", ErrRefused, disk.Path, content.What))
	case Blank:
		o.Log.Info("state disk is blank: partitioning", "disk", disk.Path, "size", disk.Size)
		if content.Partition, err = partition(disk.Path, sectorSize); err != nil {
			return fail(Failed, err)
		}
	}
	part, err := o.Sysfs.ensurePartition(disk, content.Partition, sectorSize)
	if err != nil {
		return fail(Failed, err)
	}
	st.Partition = part
	fs, err := inspectPartition(part)
	if err != nil {
		return fail(Failed, err)
	}
	switch fs {
	case "ext4":
	case "":
		o.Log.Info("formatting state partition", "partition", part)
		if err := o.mkfs(ctx, part); err != nil {
			return fail(Failed, err)
		}
		formatted = true
	default:
		return fail(Refused, fmt.Errorf("%w: partition %s holds %s", ErrRefused, part, fs))
	}
	mark := formatted
	if !formatted {
		// Check the marker before anything can write: another cluster's
		// disk must not even get a mount count or a journal replay.
		if mark, err = o.inspectMarker(part); err != nil {
			if errors.Is(err, ErrRefused) {
				return fail(Refused, err)
			}
			return fail(Failed, err)
		}
	}
	if err := o.mount(part, false); err != nil {
		return fail(Failed, err)
	}
	if mark {
		if err := o.writeMarker(); err != nil {
			return fail(Failed, err)
		}
	}
	st.State = Mounted
	if formatted {
		st.State = Formatted
	}
	o.Log.Info("state disk ready", "disk", disk.Path, "partition", part, "state", st.State, "mount_point", o.MountPoint)
	return st, nil
}

// inspectDisk opens the disk read-only and says what it holds.
func inspectDisk(path string) (Content, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Content{}, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	size, sectorSize, err := geometry(f)
	if err != nil {
		return Content{}, 0, err
	}
	c, err := Inspect(f, size, sectorSize)
	return c, sectorSize, err
}

// geometry is a disk's size (seeking to its end) and logical sector size
// (BLKSSZGET; 512 for what is not a block device).
func geometry(f *os.File) (size, sectorSize int64, err error) {
	size, err = f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, 0, fmt.Errorf("size of %s: %w", f.Name(), err)
	}
	sectorSize = 512
	if n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && n > 0 {
		sectorSize = int64(n)
	}
	return size, sectorSize, nil
}

// partition writes the GPT and makes the kernel reread it (BLKRRPART),
// so the partition's device appears (ensurePartition makes sure).
func partition(path string, sectorSize int64) (Partition, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		return Partition{}, fmt.Errorf("open %s for writing: %w", path, err)
	}
	defer f.Close()
	size, _, err := geometry(f)
	if err != nil {
		return Partition{}, err
	}
	p, err := WriteGPT(f, size, sectorSize)
	if err != nil {
		return Partition{}, err
	}
	if err := f.Sync(); err != nil {
		return Partition{}, fmt.Errorf("sync %s: %w", path, err)
	}
	_ = rereadPartitions(f) // ensurePartition adds it if the kernel did not
	return p, nil
}

// inspectPartition says which filesystem a partition holds: "ext4" (any
// ext2/3/4 superblock: mounted with the ext4 driver), "" for zeros (our
// partition before mkfs ran, as after an interrupted first boot), or a
// description of anything else.
func inspectPartition(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, headBytes)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	switch what := signature(head); {
	case what == "an ext2/3/4 filesystem":
		return "ext4", nil
	case what != "":
		return what, nil
	case zero(head):
		return "", nil
	}
	return "unrecognized data", nil
}

// mkfs formats the partition with Debian's mkfs.ext4 (e2fsprogs, shipped
// in the initramfs with its libraries): no pure-Go ext4 writer is mature
// enough to hold Raft's and etcd's data. -F because the partition was
// checked blank already (and mkfs would ask a terminal that is not
// there); lazy init so formatting a large disk takes seconds.
func (o *Options) mkfs(ctx context.Context, part string) error {
	prog := o.Mkfs
	if prog == "" {
		prog = "/sbin/mkfs.ext4"
		if _, err := os.Stat(prog); err != nil {
			if prog, err = exec.LookPath("mkfs.ext4"); err != nil {
				return fmt.Errorf("mkfs.ext4 not found in /sbin or PATH: %w", err)
			}
		}
	}
	cmd := exec.CommandContext(ctx, prog, "-q", "-F", "-L", PartitionName, "-E", "lazy_itable_init=1,lazy_journal_init=1", part)
	cmd.Env = []string{"PATH=/sbin:/usr/sbin:/bin:/usr/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := o.Exec(cmd); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", part, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// mount mounts the partition at MountPoint unless it is mounted there:
// read-write, or read-only without replaying the journal ("noload"), so
// that a look at a disk writes nothing to it.
func (o *Options) mount(part string, look bool) error {
	if err := os.MkdirAll(o.MountPoint, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.MountPoint, err)
	}
	if same, err := mountedFrom(o.MountPoint, part); err != nil || same {
		return err
	}
	flags, data := uintptr(unix.MS_NOATIME|unix.MS_NOSUID|unix.MS_NODEV), ""
	if look {
		flags, data = flags|unix.MS_RDONLY, "noload"
	}
	if err := unix.Mount(part, o.MountPoint, "ext4", flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", part, o.MountPoint, err)
	}
	return nil
}

// inspectMarker checks the marker of an existing state filesystem, read
// through a read-only look mount that it unmounts again, and reports
// whether the filesystem still needs a marker. When the filesystem is
// mounted at MountPoint already (LoadSaved), it reads it there and
// leaves it mounted.
func (o *Options) inspectMarker(part string) (needMarker bool, err error) {
	already, err := mountedFrom(o.MountPoint, part)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if !already {
		if err := o.mount(part, true); err != nil {
			return false, err
		}
		defer func() {
			if uerr := unix.Unmount(o.MountPoint, 0); uerr != nil {
				err = errors.Join(err, fmt.Errorf("unmount after the look: %w", uerr))
			}
		}()
	}
	return o.checkMarker()
}

// mountedFrom reports whether dir is the root of a mount of device dev.
func mountedFrom(dir, dev string) (bool, error) {
	var d, p unix.Stat_t
	if err := unix.Stat(dev, &d); err != nil {
		return false, fmt.Errorf("stat %s: %w", dev, err)
	}
	if err := unix.Stat(dir, &p); err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	return p.Dev == d.Rdev, nil
}
