package mountcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/internal/testutil"
)

// What kubelet's mount-utils passes, and what each becomes.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Call
	}{
		{[]string{"-t", "tmpfs", "-o", "size=1024k", "tmpfs", "/v"}, Call{Source: "tmpfs", Target: "/v", FSType: "tmpfs", Data: "size=1024k"}},
		{[]string{"-t", "tmpfs", "-o", "noexec,nosuid,size=1m,mode=0755", "tmpfs", "/v"},
			Call{Source: "tmpfs", Target: "/v", FSType: "tmpfs", Flags: unix.MS_NOEXEC | unix.MS_NOSUID, Data: "size=1m,mode=0755"}},
		{[]string{"-o", "bind", "/a", "/b"}, Call{Source: "/a", Target: "/b", Flags: unix.MS_BIND}},
		{[]string{"--bind", "/a", "/b"}, Call{Source: "/a", Target: "/b", Flags: unix.MS_BIND}},
		{[]string{"-t", "none", "-o", "bind,ro", "/a", "/b"}, Call{Source: "/a", Target: "/b", Flags: unix.MS_BIND,
			Then: &Call{Source: "/a", Target: "/b", Flags: unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY}}},
		{[]string{"-o", "bind,remount,ro", "/a", "/b"}, Call{Source: "/a", Target: "/b", Flags: unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY}},
		{[]string{"--make-rshared", "/"}, Call{Source: "none", Target: "/", Flags: unix.MS_SHARED | unix.MS_REC}},
		{[]string{"-c", "-t", "ext4", "-o", "defaults", "/dev/x", "/m"}, Call{Source: "/dev/x", Target: "/m", FSType: "ext4"}},
	} {
		got, err := Parse(tc.args)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, got, tc.args)
	}
	for _, bad := range [][]string{{}, {"/a"}, {"-t"}, {"-x", "/a", "/b"}, {"/a", "/b"}, {"a", "b", "c"}} {
		_, err := Parse(bad)
		assert.ErrorIs(t, err, ErrUsage, bad)
	}
	target, flags, err := ParseUmount([]string{"-l", "/v"})
	require.NoError(t, err)
	assert.Equal(t, "/v", target)
	assert.Equal(t, unix.MNT_DETACH, flags)
	_, _, err = ParseUmount([]string{"/a", "/b"})
	assert.ErrorIs(t, err, ErrUsage)
}

// Main mounts a tmpfs, binds it read-only elsewhere, and unmounts both.
func TestMainMountsAndUnmounts(t *testing.T) {
	testutil.RequireRoot(t, "mount(2)")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.Mkdir(a, 0o755))
	require.NoError(t, os.Mkdir(b, 0o755))
	var stderr bytes.Buffer
	require.Equal(t, 0, Main("mount", []string{"-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", a}, &stderr), stderr.String())
	defer unix.Unmount(a, unix.MNT_DETACH) //nolint:errcheck // cleanup
	require.NoError(t, os.WriteFile(filepath.Join(a, "f"), []byte("x"), 0o600))
	require.Equal(t, 0, Main("mount", []string{"-o", "bind,ro", a, b}, &stderr), stderr.String())
	defer unix.Unmount(b, unix.MNT_DETACH) //nolint:errcheck // cleanup
	got, err := os.ReadFile(filepath.Join(b, "f"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(got))
	assert.Error(t, os.WriteFile(filepath.Join(b, "g"), nil, 0o600), "the bind is read-only")
	require.Equal(t, 0, Main("umount", []string{b}, &stderr), stderr.String())
	require.Equal(t, 0, Main("umount", []string{a}, &stderr), stderr.String())
	_, err = os.Stat(filepath.Join(a, "f"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the tmpfs is gone")
	assert.Equal(t, 2, Main("mount", []string{"/only-one"}, &stderr))
	assert.Equal(t, 1, Main("umount", []string{a}, &stderr), "not mounted")
}
