package pid1

import (
	"os"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"
)

// mountsIn reads this thread's mount table (its mount namespace).
func mountsIn() ([]MountInfo, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMountInfo(f)
}

// inMountNS runs f in a private mount namespace (testutil.InMountNS).
func inMountNS(t *testing.T, f func() error) {
	t.Helper()
	testutil.RequireRoot(t, "mounts and namespaces")
	testutil.InMountNS(t, f)
}
