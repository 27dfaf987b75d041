package statedisk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
)

// loopDisk backs a loop device with a file of size bytes in a temporary
// directory, with partition scanning on (so BLKRRPART makes loopNp1), and
// detaches it when the test ends. It returns the device's path and the
// backing file.
func loopDisk(t *testing.T, size int64) (string, string) {
	t.Helper()
	testutil.RequireRoot(t, "loop devices and mounts")
	file := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())
	return testutil.AttachLoop(t, file, true), file
}

// inMountNS runs f in a private mount namespace (testutil.InMountNS).
func inMountNS(t *testing.T, f func() error) {
	t.Helper()
	testutil.RequireRoot(t, "loop devices and mounts")
	testutil.InMountNS(t, f)
}
