package statedisk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The marker and the saved config live in MarkerDir at the state
// filesystem's root (/var/cairn), outside /var/lib/cairn, which a reset
// wipes: a reset node keeps its disk and its claim to it.
const (
	MarkerDir  = "cairn"
	markerFile = "marker.json"
	configFile = "config.yaml"
	nodeFile   = "node"
)

// Marker says which cluster a state disk belongs to.
type Marker struct {
	ClusterID   string    `json:"clusterID"`
	ClusterName string    `json:"clusterName"`
	Node        string    `json:"node,omitempty"`
	Created     time.Time `json:"created"`
}

// ReadMarker reads the marker of the state filesystem mounted at dir.
func ReadMarker(dir string) (Marker, error) {
	var m Marker
	data, err := os.ReadFile(filepath.Join(dir, MarkerDir, markerFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("marker: %w", err)
	}
	return m, nil
}

// checkMarker accepts the filesystem at MountPoint for this cluster: its
// marker names this cluster's ID; or it has none and is empty (a first
// boot interrupted after mkfs), and needs one.
func (o *Options) checkMarker() (needMarker bool, err error) {
	if o.ClusterID == "" {
		return false, errors.New("state disk: no cluster ID to check the marker against")
	}
	m, err := ReadMarker(o.MountPoint)
	switch {
	case err == nil && m.ClusterID == o.ClusterID:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%w: it holds the state of cluster %q (id %s), not %q (id %s)", ErrRefused, m.ClusterName, m.ClusterID, o.ClusterName, o.ClusterID)
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("%w: unreadable marker: %w", ErrRefused, err)
	}
	empty, err := onlyLostFound(o.MountPoint)
	if err != nil {
		return false, err
	}
	if !empty {
		return false, fmt.Errorf("%w: a %s filesystem without a marker that is not empty", ErrRefused, PartitionName)
	}
	return true, nil
}

// writeMarker marks the filesystem at MountPoint as this cluster's.
func (o *Options) writeMarker() error {
	data, err := json.MarshalIndent(Marker{ClusterID: o.ClusterID, ClusterName: o.ClusterName, Node: o.Node, Created: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	return writeDurable(filepath.Join(o.MountPoint, MarkerDir), markerFile, append(data, '\n'))
}

func onlyLostFound(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if e.Name() != "lost+found" {
			return false, nil
		}
	}
	return true, nil
}

// SaveConfig keeps the cluster config and the node name it was booted
// with on the state filesystem mounted at dir (dir/cairn/config.yaml and
// dir/cairn/node), so a later boot with no config source finds them
// (LoadSaved): a name that came from maintenance mode is on no kernel
// command line. The node's current config lives in Raft; this one only
// has to be good enough to rejoin.
func SaveConfig(dir string, data []byte, name string) error {
	// The name first: a config is read back only with its name.
	if err := writeDurable(filepath.Join(dir, MarkerDir), nodeFile, []byte(name+"\n")); err != nil {
		return err
	}
	return writeDurable(filepath.Join(dir, MarkerDir), configFile, data)
}

// writeDurable writes name in dir atomically: a temporary file, fsync,
// rename, fsync of the directory.
func writeDurable(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadSaved is the boot with no config source: it looks for a disk with
// a cairn-state partition, mounts it at mountPoint and returns the config
// and node name saved there (SaveConfig), leaving it mounted (Prepare then
// finds it in place). With none it returns ErrNoSaved and leaves nothing
// mounted.
func LoadSaved(s Sysfs, mountPoint string) (Saved, error) {
	disks, err := s.Disks()
	if err != nil {
		return Saved{}, err
	}
	var errs []error
	for _, d := range disks {
		c, sectorSize, err := inspectDisk(d.Path)
		if err != nil || c.Kind != Ours {
			continue
		}
		part, err := s.ensurePartition(d, c.Partition, sectorSize)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o := Options{MountPoint: mountPoint}
		if err := o.mount(part, false); err != nil {
			errs = append(errs, err)
			continue
		}
		saved, err := readSaved(mountPoint)
		if err == nil {
			saved.Status = Status{State: Mounted, Disk: d.Path, Partition: part, MountPoint: mountPoint}
			return saved, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", part, err))
		if err := unix.Unmount(mountPoint, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return Saved{}, errors.Join(append([]error{ErrNoSaved}, errs...)...)
}

// Saved is what LoadSaved found.
type Saved struct {
	Config []byte
	// Node is the node name the config was booted with ("" if it was
	// found by match rules).
	Node string
	// Status is the disk it is on, now mounted.
	Status Status
}

func readSaved(dir string) (Saved, error) {
	name, err := os.ReadFile(filepath.Join(dir, MarkerDir, nodeFile))
	if err != nil {
		return Saved{}, err
	}
	data, err := os.ReadFile(filepath.Join(dir, MarkerDir, configFile))
	if err != nil {
		return Saved{}, err
	}
	return Saved{Config: data, Node: strings.TrimSpace(string(name))}, nil
}

// Wipe makes a disk blank again for the next boot to format: zeros over
// the head and the tail that Inspect reads (partition tables, superblocks,
// the backup GPT), then BLKRRPART. It is how `reset` frees a refused disk;
// the caller must have unmounted everything on it.
func Wipe(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	size, _, err := geometry(f)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, min(size, headBytes)), 0); err != nil {
		return fmt.Errorf("wipe %s: %w", path, err)
	}
	if tail := max(size-tailBytes, 0); tail > 0 {
		if _, err := f.WriteAt(make([]byte, size-tail), tail); err != nil {
			return fmt.Errorf("wipe %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	_ = rereadPartitions(f) // a file, or a kernel that keeps the partitions: the next boot reads the disk anyway
	return nil
}
