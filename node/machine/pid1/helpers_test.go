package pid1

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// requireRoot skips a test that needs root (mounts, namespaces), except
// in CI, where the suite runs as root and a skip would hide a regression.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root, and CI=true forbids skipping")
	}
	t.Skip("needs root (CI runs as root and does not skip)")
}

// inMountNS runs f on a thread of its own in a new, private mount
// namespace: nothing f mounts is seen outside it, and all of it goes away
// with the thread, which is never unlocked and so ends with f.
func inMountNS(t *testing.T, f func() error) {
	t.Helper()
	requireRoot(t)
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
