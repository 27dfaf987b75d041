package pid1

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const sampleMountinfo = `1 1 0:2 / / rw - rootfs rootfs rw
20 1 0:20 / /proc rw,nosuid - proc proc rw
21 1 0:21 / /sys rw - sysfs sysfs rw
22 1 0:5 / /dev rw - devtmpfs devtmpfs rw
23 22 0:22 / /dev/pts rw - devpts devpts rw
24 1 0:23 / /run rw - tmpfs tmpfs rw
25 21 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
30 1 254:1 / /var rw,noatime - ext4 /dev/vda1 rw
31 30 0:30 / /var/lib/with\040space rw shared:1 - tmpfs tmpfs rw
`

func TestParseMountInfo(t *testing.T) {
	ms, err := ParseMountInfo(strings.NewReader(sampleMountinfo))
	require.NoError(t, err)
	require.Len(t, ms, 9)
	assert.Equal(t, MountInfo{ID: 30, Parent: 1, Target: "/var", FSType: "ext4", Source: "/dev/vda1"}, ms[7])
	assert.Equal(t, "/var/lib/with space", ms[8].Target)
	_, err = ParseMountInfo(strings.NewReader("1 2 3\n"))
	require.Error(t, err)
}

func TestUnmountOrderChildrenFirstDataOnly(t *testing.T) {
	ms, err := ParseMountInfo(strings.NewReader(sampleMountinfo))
	require.NoError(t, err)
	targets := func(ms []MountInfo) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Target)
		}
		return out
	}
	assert.Equal(t, []string{"/var/lib/with space", "/var", "/run"}, targets(UnmountOrder(ms, "/")))
	assert.Equal(t, []string{"/var/lib/with space", "/var"}, targets(UnmountOrder(ms, "/var")))
	assert.Empty(t, UnmountOrder(ms, "/va"))
}

// TestUnmountAllBelowADirectory mounts a tmpfs with another inside and
// a busy one beside, in a private mount namespace, and unmounts below the
// directory: the nested pair is gone; the busy one (a file held open) is
// memory only, so it is left mounted as it is, and that is no error.
func TestUnmountAllBelowADirectory(t *testing.T) {
	dir := t.TempDir()
	inMountNS(t, func() error {
		outer, inner, busy := filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), filepath.Join(dir, "c")
		for _, step := range []func() error{
			func() error { return os.Mkdir(outer, 0o755) },
			func() error { return unix.Mount("tmpfs", outer, "tmpfs", 0, "") },
			func() error { return os.Mkdir(inner, 0o755) },
			func() error { return unix.Mount("tmpfs", inner, "tmpfs", 0, "") },
			func() error { return os.Mkdir(busy, 0o755) },
			func() error { return unix.Mount("tmpfs", busy, "tmpfs", 0, "") },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(busy, "open"), nil, 0o600); err != nil {
			return err
		}
		f, err := os.Open(filepath.Join(busy, "open"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := UnmountAll(slog.New(slog.DiscardHandler), "/proc/thread-self/mountinfo", dir); err != nil {
			return err
		}
		ms, err := mountsIn()
		if err != nil {
			return err
		}
		var left []string
		for _, m := range ms {
			if within(m.Target, dir) {
				left = append(left, m.Target)
			}
		}
		if !slices.Equal(left, []string{busy}) {
			return fmt.Errorf("left mounted: %v, want only %s", left, busy)
		}
		return os.WriteFile(filepath.Join(busy, "new"), nil, 0o600) // untouched: still writable
	})
}
