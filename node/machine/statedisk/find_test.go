package statedisk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// fakeSys writes a sysfs tree: name → attribute path → value.
func fakeSys(t *testing.T, disks map[string]map[string]string) Sysfs {
	t.Helper()
	root := t.TempDir()
	for name, attrs := range disks {
		for p, v := range attrs {
			f := filepath.Join(root, "sys", "block", name, p)
			require.NoError(t, os.MkdirAll(filepath.Dir(f), 0o755))
			require.NoError(t, os.WriteFile(f, []byte(v+"\n"), 0o644))
		}
	}
	return Sysfs{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
}

func TestFindMatchesSerialModelSize(t *testing.T) {
	s := fakeSys(t, map[string]map[string]string{
		"vda":     {"size": "2097152"},                                      // 1 GiB, virtio, no serial
		"vdb":     {"size": "20971520", "serial": "cairn-state-cp1"},        // 10 GiB
		"sda":     {"size": "41943040", "device/model": "QEMU HARDDISK   "}, // 20 GiB
		"nvme0n1": {"size": "41943040", "device/serial": "S123", "device/model": "Samsung SSD"},
		"loop0":   {"size": "41943040", "serial": "cairn-state-cp1"}, // virtual: never matched
	})
	disks, err := s.Disks()
	require.NoError(t, err)
	var names []string
	for _, d := range disks {
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{"nvme0n1", "sda", "vda", "vdb"}, names)

	for _, tc := range []struct {
		sel  config.StateDisk
		want string
	}{
		{config.StateDisk{Serial: "cairn-state-cp1"}, "vdb"},
		{config.StateDisk{Serial: "S123"}, "nvme0n1"},
		{config.StateDisk{Model: "QEMU HARDDISK"}, "sda"},
		{config.StateDisk{MinSize: "5GiB"}, "nvme0n1"},
		{config.StateDisk{MinSize: "5GiB", MaxSize: "15GiB"}, "vdb"},
		{config.StateDisk{MaxSize: "1GiB"}, "vda"},
		{config.StateDisk{Model: "Samsung SSD", MinSize: "10GiB"}, "nvme0n1"},
	} {
		d, err := s.Find(tc.sel)
		require.NoError(t, err, "%+v", tc.sel)
		assert.Equal(t, tc.want, d.Name, "%+v", tc.sel)
		assert.Equal(t, filepath.Join(s.Dev, tc.want), d.Path)
	}
	d, err := s.Find(config.StateDisk{Serial: "cairn-state-cp1"})
	require.NoError(t, err)
	assert.Equal(t, uint64(10<<30), d.Size)

	for _, sel := range []config.StateDisk{
		{Serial: "nope"}, {Model: "QEMU HARDDISK", MinSize: "30GiB"}, {MaxSize: "512MiB"},
	} {
		_, err := s.Find(sel)
		require.ErrorIs(t, err, ErrNoDisk, "%+v", sel)
	}
	_, err = s.Find(config.StateDisk{Path: "/dev/vdz"})
	require.ErrorIs(t, err, ErrNoDisk)
}
