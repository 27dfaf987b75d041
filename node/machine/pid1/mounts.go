package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one filesystem PID 1 mounts.
type Mount struct {
	Source string `json:"source"`
	// Target is the mount point, absolute; it is created if missing.
	Target string  `json:"target"`
	FSType string  `json:"fstype"`
	Flags  uintptr `json:"-"`
	Data   string  `json:"data,omitempty"`
}

const (
	secure = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// BaseMounts are the filesystems every Linux kernel cairnd runs on has,
// in mount order (a parent before what is mounted below it). /proc comes
// first: what else to mount is read from it (KernelMounts).
func BaseMounts() []Mount {
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: secure},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: secure},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666"},
		{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755"},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
	}
}

// Kernel is what the running kernel offers, as /proc tells it.
type Kernel struct {
	// Filesystems are the names in /proc/filesystems.
	Filesystems map[string]bool
	// Cgroups are the enabled v1 controllers in /proc/cgroups.
	Cgroups []string
	// Dirs reports whether a directory exists (the kernel creates
	// /sys/kernel/security and /sys/fs/bpf when it has them).
	Dirs func(path string) bool
}

// KernelMounts are the filesystems that depend on the kernel: cgroup2 at
// /sys/fs/cgroup when the kernel has it, else a tmpfs there with one v1
// hierarchy per enabled controller; securityfs and bpffs where the kernel
// has them and made their mount points.
func KernelMounts(k Kernel) []Mount {
	var out []Mount
	switch {
	case k.Filesystems["cgroup2"]:
		out = append(out, Mount{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: secure, Data: "nsdelegate"})
	case k.Filesystems["cgroup"]:
		out = append(out, Mount{Source: "tmpfs", Target: "/sys/fs/cgroup", FSType: "tmpfs", Flags: secure, Data: "mode=0755"})
		for _, c := range k.Cgroups {
			out = append(out, Mount{Source: "cgroup", Target: "/sys/fs/cgroup/" + c, FSType: "cgroup", Flags: secure, Data: c})
		}
	}
	if k.Filesystems["securityfs"] && k.Dirs("/sys/kernel/security") {
		out = append(out, Mount{Source: "securityfs", Target: "/sys/kernel/security", FSType: "securityfs", Flags: secure})
	}
	if k.Filesystems["bpf"] && k.Dirs("/sys/fs/bpf") {
		out = append(out, Mount{Source: "bpffs", Target: "/sys/fs/bpf", FSType: "bpf", Flags: secure, Data: "mode=0700"})
	}
	return out
}

// ParseFilesystems reads /proc/filesystems ("nodev\tproc", "\text4").
func ParseFilesystems(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			out[f[len(f)-1]] = true
		}
	}
	return out, sc.Err()
}

// ParseCgroups reads /proc/cgroups ("#subsys_name hierarchy num_cgroups
// enabled") and returns the enabled controllers.
func ParseCgroups(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || strings.HasPrefix(f[0], "#") || f[3] != "1" {
			continue
		}
		out = append(out, f[0])
	}
	return out, sc.Err()
}

// MountResult is the outcome of one mount, as BootStatus reports it.
type MountResult struct {
	Target string `json:"target"`
	FSType string `json:"fstype"`
	// State is "mounted", "present" (already mounted: nothing done) or
	// "failed".
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// Mounter mounts below Root: "/" as PID 1, a temporary directory in
// tests (in a private mount namespace).
type Mounter struct {
	Root string
	Log  *slog.Logger
}

// Setup mounts BaseMounts, then KernelMounts from what /proc says, and
// returns one result per mount. A failed mount is reported and the rest
// still run (a kernel without devpts still boots); the error joins the
// failures.
func (m Mounter) Setup() ([]MountResult, error) {
	res, baseErr := m.All(BaseMounts())
	k := Kernel{Dirs: func(p string) bool {
		st, err := os.Stat(m.path(p))
		return err == nil && st.IsDir()
	}}
	fs, fsErr := readWith(m.path("/proc/filesystems"), ParseFilesystems)
	k.Filesystems = fs
	cgroups, cgErr := readWith(m.path("/proc/cgroups"), ParseCgroups)
	k.Cgroups = cgroups
	if fs["cgroup2"] || !fs["cgroup"] {
		cgErr = nil // the v1 controllers are not needed
	}
	more, kernelErr := m.All(KernelMounts(k))
	return append(res, more...), errors.Join(baseErr, fsErr, cgErr, kernelErr)
}

func readWith[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return parse(f)
}

// All mounts each of ms in order, creating mount points; one that is
// already a mount point is left as it is.
func (m Mounter) All(ms []Mount) ([]MountResult, error) {
	var errs []error
	out := make([]MountResult, 0, len(ms))
	for _, mt := range ms {
		r := MountResult{Target: mt.Target, FSType: mt.FSType, State: "mounted"}
		err := m.one(mt)
		switch {
		case errors.Is(err, errPresent):
			r.State = "present"
		case err != nil:
			r.State, r.Error = "failed", err.Error()
			errs = append(errs, err)
			m.log().Warn("mount failed", "target", mt.Target, "fstype", mt.FSType, "error", err)
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

var errPresent = errors.New("already a mount point")

func (m Mounter) one(mt Mount) error {
	target := m.path(mt.Target)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("mount %s: create mount point: %w", mt.Target, err)
	}
	if isMountPoint(target) {
		return errPresent
	}
	if err := unix.Mount(mt.Source, target, mt.FSType, mt.Flags, mt.Data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", mt.FSType, mt.Target, err)
	}
	return nil
}

func (m Mounter) path(p string) string { return filepath.Join(m.Root, p) }

func (m Mounter) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

// isMountPoint reports whether dir is the root of a mount: its device
// differs from its parent's, or it is its own parent.
func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Join(dir, ".."), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

// ReadOnly makes the mount at dir read-only for every process, without
// touching its filesystem: a bind remount (MS_REMOUNT|MS_BIND|MS_RDONLY)
// changes only the mount's own flags. That is what works on an initramfs
// root, which is rootfs (a tmpfs or ramfs the kernel mounted and that
// cannot be unmounted or pivoted away from): a plain MS_REMOUNT|MS_RDONLY
// would reconfigure the superblock, which ramfs does not support and
// which gains nothing here. Mounts on it, existing or new, keep their
// own flags, so make every mount point under dir before calling it.
func ReadOnly(dir string) error {
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", dir, err)
	}
	return nil
}
