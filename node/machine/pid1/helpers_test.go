package pid1

import (
	"os"
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// inMountNS runs f on a thread of its own in a new, private mount
// namespace: nothing f mounts is seen outside it, and all of it goes away
// with the thread, which is never unlocked and so ends with f.
func inMountNS(t *testing.T, f func() error) {
	t.Helper()
	testutil.RequireRoot(t, "mounts and namespaces")
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	require.NoError(t, <-errc)
}

// mountsIn reads this thread's mount table (its mount namespace).
func mountsIn() ([]MountInfo, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMountInfo(f)
}
