package sysctl

import (
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// onThread runs f on a locked OS thread, in a fresh network namespace
// when unshare is set. /proc/sys/net answers for the network namespace of
// the thread that opens the file, so f reads and writes that namespace's
// parameters. The unshared thread is never unlocked: it dies with its
// goroutine and never runs other code.
func onThread(t *testing.T, unshare bool, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unshare {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				errc <- err
				return
			}
		} else {
			defer runtime.UnlockOSThread()
		}
		errc <- f()
	}()
	require.NoError(t, <-errc)
}

// A namespaced parameter is written and read back in a throwaway network
// namespace, the host's value untouched; a value the kernel refuses fails
// with EINVAL, and a parameter the kernel lacks with ErrNoParameter.
func TestRealNamespacedSysctl(t *testing.T) {
	testutil.RequireRoot(t, "a network namespace")
	const name = "net.ipv4.ip_forward"
	var host string
	onThread(t, false, func() (err error) {
		host, err = Get(DefaultRoot, name)
		return err
	})
	want := map[string]string{"0": "1", "1": "0"}[host]
	require.NotEmpty(t, want, "host value %q", host)

	var got, after string
	var setErr, badErr, missingErr error
	onThread(t, true, func() error {
		setErr = Set(DefaultRoot, name, want)
		var err error
		if got, err = Get(DefaultRoot, name); err != nil {
			return err
		}
		badErr = Set(DefaultRoot, name, "not-a-number")
		if after, err = Get(DefaultRoot, name); err != nil {
			return err
		}
		missingErr = Set(DefaultRoot, "net.ipv4.conf.cairn-absent0.forwarding", "1")
		return nil
	})
	require.NoError(t, setErr)
	assert.Equal(t, want, got, "read back in the namespace")
	require.ErrorIs(t, badErr, unix.EINVAL)
	assert.Contains(t, badErr.Error(), "invalid argument")
	assert.Equal(t, want, after, "a refused value changes nothing")
	require.ErrorIs(t, missingErr, ErrNoParameter)

	onThread(t, false, func() error {
		now, err := Get(DefaultRoot, name)
		assert.Equal(t, host, now, "the host's namespace is untouched")
		return err
	})
}
