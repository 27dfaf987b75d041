package kubehost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The mounts Docker gives a node container, as mountinfo lists them.
const dockerMountInfo = `1 0 0:1 / / ro,relatime - fuse.fuse-overlayfs fuse-overlayfs rw
2 1 0:2 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
3 2 0:3 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
4 3 0:4 / /sys/fs/cgroup/cpu\040set ro,nosuid,nodev,noexec,relatime - cgroup cgroup ro,cpuset
5 1 0:5 / /var rw,relatime - ext4 /dev/sda rw
`

func TestReadMountInfo(t *testing.T) {
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "self"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "self", "mountinfo"), []byte(dockerMountInfo), 0o644))
	ms, err := readMountInfo(proc)
	require.NoError(t, err)
	require.Len(t, ms, 5)
	assert.Equal(t, "/sys/fs/cgroup/cpu set", ms[3].point, "octal escapes undone")
	assert.Equal(t, uintptr(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RELATIME), keptFlags(ms[1].opts))
}

// A machine ID is made once, kept in the state directory, and an
// /etc/machine-id that has one is left alone.
func TestMachineIDKeepsAnExistingOne(t *testing.T) {
	dir := t.TempDir()
	p := Paths{MachineID: filepath.Join(dir, "etc-machine-id"), StateDir: filepath.Join(dir, "state")}
	require.NoError(t, os.WriteFile(p.MachineID, []byte("0123456789abcdef0123456789abcdef\n"), 0o444))
	require.NoError(t, machineID(p), "nothing to do")
	_, err := os.Stat(filepath.Join(p.StateDir, "machine-id"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// On a machine's first boot the state directory does not exist yet: the
// ID is made there all the same and shown at the empty /etc/machine-id.
func TestMachineIDOnAFreshStateDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root")
		}
		t.Skip("bind-mounts: needs root (runs in CI)")
	}
	dir := t.TempDir()
	p := Paths{MachineID: filepath.Join(dir, "etc-machine-id"), StateDir: filepath.Join(dir, "var", "lib", "cairn")}
	require.NoError(t, os.WriteFile(p.MachineID, nil, 0o444))
	require.NoError(t, machineID(p))
	t.Cleanup(func() { _ = unix.Unmount(p.MachineID, 0) })
	kept, err := os.ReadFile(filepath.Join(p.StateDir, "machine-id"))
	require.NoError(t, err)
	assert.Len(t, kept, 33, "32 hex digits and a newline")
	shown, err := os.ReadFile(p.MachineID)
	require.NoError(t, err)
	assert.Equal(t, kept, shown)
}

// Each cairnd shows its own release over the image's, replacing (not
// stacking on) the last one's.
func TestShowRelease(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root")
		}
		t.Skip("bind-mounts: needs root (runs in CI)")
	}
	dir := t.TempDir()
	p := Paths{OSRelease: filepath.Join(dir, "etc-os-release"), RunDir: filepath.Join(dir, "run")}
	require.NoError(t, os.WriteFile(p.OSRelease, []byte("NAME=image\n"), 0o444))
	t.Cleanup(func() { _ = unix.Unmount(p.OSRelease, unix.MNT_DETACH) })
	require.NoError(t, ShowRelease(p, []byte("NAME=v1\n")))
	require.NoError(t, ShowRelease(p, []byte("NAME=v2\n")))
	shown, err := os.ReadFile(p.OSRelease)
	require.NoError(t, err)
	assert.Equal(t, "NAME=v2\n", string(shown))
	mounts, err := readMountInfo("/proc")
	require.NoError(t, err)
	n := 0
	for _, m := range mounts {
		if m.point == p.OSRelease {
			n++
		}
	}
	assert.Equal(t, 1, n, "one mount, not one per start")
	require.NoError(t, unix.Unmount(p.OSRelease, unix.MNT_DETACH))
	shown, err = os.ReadFile(p.OSRelease)
	require.NoError(t, err)
	assert.Equal(t, "NAME=image\n", string(shown), "the image's file under it, untouched")
}
