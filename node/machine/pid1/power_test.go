package pid1

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

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
		if err := UnmountAll(slog.New(slog.DiscardHandler), "/proc/thread-self/mountinfo", dir, dir); err != nil {
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

// TestUnmountAllRemountsABusyStateDiskReadOnly: an ext4 filesystem on a
// loop device under the state directory, held busy by an open file, is
// remounted read-only (flushed, and safe to cut power to); the same disk
// mounted outside the state directory is left as it is.
func TestUnmountAllRemountsABusyStateDiskReadOnly(t *testing.T) {
	testutil.RequireRoot(t, "mounts and namespaces")
	mkfs, err := exec.LookPath("mkfs.ext4")
	require.NoError(t, err, "mkfs.ext4 (e2fsprogs)")
	dir := t.TempDir()
	disk := func(name string) string {
		img := filepath.Join(dir, name+".img")
		f, err := os.Create(img)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(16<<20))
		require.NoError(t, f.Close())
		out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return testutil.AttachLoop(t, img, false)
	}
	state, other := filepath.Join(dir, "var"), filepath.Join(dir, "elsewhere")
	devs := map[string]string{state: disk("state"), other: disk("other")}
	inMountNS(t, func() error {
		for _, d := range []string{state, other} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return err
			}
			if err := unix.Mount(devs[d], d, "ext4", 0, ""); err != nil {
				return err
			}
			held := filepath.Join(d, "held")
			if err := os.WriteFile(held, nil, 0o600); err != nil {
				return err
			}
			f, err := os.Open(held)
			if err != nil {
				return err
			}
			defer f.Close()
		}
		if err := UnmountAll(slog.New(slog.DiscardHandler), "/proc/thread-self/mountinfo", dir, state); err != nil {
			return err
		}
		ms, err := mountsIn()
		if err != nil {
			return err
		}
		opts := map[string]bool{}
		for _, m := range ms {
			if within(m.Target, dir) {
				opts[m.Target] = true
			}
		}
		if !opts[state] || !opts[other] {
			return fmt.Errorf("busy mounts gone: %v", opts)
		}
		if err := os.WriteFile(filepath.Join(state, "new"), nil, 0o600); !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("write to the busy state disk: %v, want EROFS", err)
		}
		return os.WriteFile(filepath.Join(other, "new"), nil, 0o600) // not ours: untouched
	})
}
