package network

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSetHostnameInOwnUTSNamespace sets the hostname inside a UTS namespace
// private to one locked thread, so the machine's hostname is never touched.
func TestSetHostnameInOwnUTSNamespace(t *testing.T) {
	testutil.RequireRoot(t, "network and UTS namespaces")
	before, err := os.Hostname()
	require.NoError(t, err)

	type result struct {
		name string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// unshare(CLONE_NEWUTS) moves this thread only; it stays locked and
		// is discarded when the goroutine returns.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			ch <- result{err: err}
			return
		}
		if err := SetHostname("cairn-test-node"); err != nil {
			ch <- result{err: err}
			return
		}
		name, err := Hostname()
		ch <- result{name, err}
	}()
	r := <-ch
	require.NoError(t, r.err)
	require.Equal(t, "cairn-test-node", r.name)

	after, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, before, after, "the host's UTS namespace is untouched")
}

func TestSetHostnameRejectsInvalid(t *testing.T) {
	require.ErrorIs(t, SetHostname(""), ErrInvalidHostname)
	require.ErrorIs(t, SetHostname(strings.Repeat("a", 65)), ErrInvalidHostname)
}
