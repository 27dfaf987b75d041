package sysctl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward", nil},
		// sysctl(8): a '/' in the dotted form is a '.' in the path.
		{"net.ipv4.conf.eth0/100.forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding", nil},
		// The first separator a '/': already a path, as procps takes it.
		{"net/ipv4/conf/eth0.100/forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding", nil},
		{"kernel.pid_max", "/proc/sys/kernel/pid_max", nil},
		{"", "", ErrInvalidName},
		{"net..ipv4", "", ErrInvalidName},
		{"net.ipv4.", "", ErrInvalidName},
		{"/net/ipv4", "", ErrInvalidName},
		{"net/../../etc/passwd", "", ErrInvalidName},
		// A segment of slashes would become "." or "..": refused.
		{"net.//.x", "", ErrInvalidName},
		{"net./.x", "", ErrInvalidName},
	} {
		got, err := Path(DefaultRoot, tc.name)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

// fakeRoot lays out a /proc/sys stand-in: files for parameters, and
// kernel/ro, a link to the kernel's read-only kernel.ostype, which every
// write fails with EACCES, root's too.
func fakeRoot(t *testing.T, params map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, v := range params {
		p, err := Path(root, name)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(v+"\n"), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "kernel"), 0o755))
	require.NoError(t, os.Symlink("/proc/sys/kernel/ostype", filepath.Join(root, "kernel", "ro")))
	return root
}

func TestSetAndGetOnAFakeRoot(t *testing.T) {
	root := fakeRoot(t, map[string]string{"kernel.core_pattern": "a much longer previous value", "net.ipv4.conf.eth0/100.forwarding": "0"})

	require.NoError(t, Set(root, "kernel.core_pattern", "core"))
	got, err := Get(root, "kernel.core_pattern")
	require.NoError(t, err)
	assert.Equal(t, "core", got, "the old value is replaced, not overwritten in place")
	b, err := os.ReadFile(filepath.Join(root, "kernel", "core_pattern"))
	require.NoError(t, err)
	assert.Equal(t, "core\n", string(b), "written with a newline, as sysctl(8) does")

	require.NoError(t, Set(root, "net.ipv4.conf.eth0/100.forwarding", "1"))
	b, err = os.ReadFile(filepath.Join(root, "net", "ipv4", "conf", "eth0.100", "forwarding"))
	require.NoError(t, err)
	assert.Equal(t, "1\n", string(b))

	err = Set(root, "net.ipv4.nope", "1")
	require.ErrorIs(t, err, ErrNoParameter)
	assert.EqualError(t, err, "write net.ipv4.nope: no such parameter")
	_, err = os.Stat(filepath.Join(root, "net", "ipv4", "nope"))
	require.ErrorIs(t, err, os.ErrNotExist, "Set never creates a parameter")
	_, err = Get(root, "net.ipv4.nope")
	require.ErrorIs(t, err, ErrNoParameter)
	// Below a file: ENOTDIR, still no such parameter.
	require.ErrorIs(t, Set(root, "kernel.core_pattern.x", "1"), ErrNoParameter)

	require.ErrorIs(t, Set(root, "net.ipv4", "1"), ErrNotParameter)
	_, err = Get(root, "net.ipv4")
	require.ErrorIs(t, err, ErrNotParameter)

	err = Set(root, "kernel.ro", "Plan9")
	require.ErrorIs(t, err, unix.EACCES)
	assert.EqualError(t, err, "write kernel.ro: permission denied")
	got, err = Get(root, "kernel.ro")
	require.NoError(t, err)
	assert.Equal(t, "Linux", got)
	assert.False(t, Transient(err))
}

func TestEqual(t *testing.T) {
	assert.True(t, Equal("4096 87380 6291456", "4096\t87380\t6291456"))
	assert.True(t, Equal("1", "1\n"))
	assert.False(t, Equal("1", "0"))
	assert.False(t, Equal("1 2", "1"))
}

func TestTransient(t *testing.T) {
	assert.True(t, Transient(&os.PathError{Op: "write", Path: "x", Err: unix.EBUSY}))
	assert.False(t, Transient(ErrNoParameter))
	assert.False(t, Transient(unix.EINVAL))
	assert.False(t, Transient(unix.EROFS))
}
