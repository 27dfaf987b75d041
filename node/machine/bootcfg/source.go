package bootcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FwCfgName is the QEMU fw_cfg item the qemu provisioner passes the
// config in: qemu -fw_cfg name=opt/cairn/config,file=cluster.yaml.
const FwCfgName = "opt/cairn/config"

// FwCfgPath is where the qemu_fw_cfg module shows that item.
const FwCfgPath = "/sys/firmware/qemu_fw_cfg/by_name/" + FwCfgName + "/raw"

// Modules are the kernel modules reading a boot config needs, to load
// before Source.Read: fw_cfg is a module in Debian's cloud kernel.
var Modules = []string{"qemu_fw_cfg"}

// Kind is a kind of config source.
type Kind string

// Source kinds.
const (
	// FwCfg is QEMU's firmware config device (FwCfgPath).
	FwCfg Kind = "fwcfg"
	// File is a file in the image or an already mounted filesystem.
	File Kind = "file"
	// Disk is a file on a config disk, mounted read-only to read it.
	Disk Kind = "disk"
)

// Source is where the cluster config is read from.
type Source struct {
	Kind Kind `json:"kind,omitempty"`
	// Device is the config disk (Disk), such as /dev/vdb.
	Device string `json:"device,omitempty"`
	// Path is the file (File), or the file's path inside the disk's
	// filesystem (Disk).
	Path string `json:"path,omitempty"`
}

// String is the source as cairn.config= takes it.
func (s Source) String() string {
	switch s.Kind {
	case FwCfg:
		return "fwcfg"
	case Disk:
		return s.Device + ":" + s.Path
	}
	return s.Path
}

// ParseSource parses cairn.config=: "fwcfg", an absolute file path, or
// "/dev/NAME:path/in/fs" for a file on a config disk.
func ParseSource(s string) (Source, error) {
	if s == "fwcfg" {
		return Source{Kind: FwCfg}, nil
	}
	if dev, p, ok := strings.Cut(s, ":"); ok {
		p = strings.TrimPrefix(p, "/")
		if !strings.HasPrefix(dev, "/dev/") || strings.Contains(dev, "..") || p == "" || !fs.ValidPath(p) {
			return Source{}, fmt.Errorf("%w: %s=%q: want /dev/NAME:path/in/fs", ErrBadArgument, ArgConfig, s)
		}
		return Source{Kind: Disk, Device: dev, Path: p}, nil
	}
	if !path.IsAbs(s) || path.Clean(s) != s {
		return Source{}, fmt.Errorf("%w: %s=%q: want fwcfg, an absolute file path, or /dev/NAME:path/in/fs", ErrBadArgument, ArgConfig, s)
	}
	return Source{Kind: File, Path: s}, nil
}

// DeviceWait bounds how long Read waits for a source's device or file to
// appear: the kernel creates fw_cfg's sysfs files and virtio disks while
// probing, which may finish after the module's load returned.
var DeviceWait = 5 * time.Second

// Read reads the config below root ("/" as PID 1; a temporary directory
// in tests). A config disk is mounted read-only on root/run/cairn/config
// (tried as ext4, vfat, iso9660), read and unmounted.
func (s Source) Read(root string) ([]byte, error) {
	switch s.Kind {
	case FwCfg:
		p := filepath.Join(root, FwCfgPath)
		if err := waitFor(p, DeviceWait); err != nil {
			return nil, fmt.Errorf("read config from fw_cfg (is qemu_fw_cfg loaded and -fw_cfg name=%s given?): %w", FwCfgName, err)
		}
		return readFile(p)
	case File:
		return readFile(filepath.Join(root, s.Path))
	case Disk:
		return s.readDisk(root)
	}
	return nil, ErrNoSource
}

func (s Source) readDisk(root string) ([]byte, error) {
	dev := filepath.Join(root, s.Device)
	if err := waitFor(dev, DeviceWait); err != nil {
		return nil, fmt.Errorf("config disk: %w", err)
	}
	dir := filepath.Join(root, "run", "cairn", "config")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("config disk: %w", err)
	}
	var errs []error
	for _, fstype := range []string{"ext4", "vfat", "iso9660"} {
		err := unix.Mount(dev, dir, fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fstype, err))
			continue
		}
		data, rerr := readFile(filepath.Join(dir, filepath.FromSlash(s.Path)))
		if uerr := unix.Unmount(dir, 0); uerr != nil && rerr == nil {
			rerr = fmt.Errorf("unmount config disk: %w", uerr)
		}
		return data, rerr
	}
	return nil, fmt.Errorf("mount config disk %s: %w", s.Device, errors.Join(errs...))
}

func readFile(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read cluster config: %w", err)
	}
	return data, nil
}

// waitFor waits until p exists, polling: devices have no event to wait
// on before udev, which a Cairn machine does not run.
func waitFor(p string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := os.Stat(p)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
