package statedisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
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
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	require.NoError(t, err)
	defer ctl.Close()
	// Another process may take the free device first: ask again.
	for range 10 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		require.NoError(t, err)
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := os.OpenFile(path, os.O_RDWR, 0)
		require.NoError(t, err)
		cfg := unix.LoopConfig{Fd: uint32(f.Fd()), Info: unix.LoopInfo64{Flags: unix.LO_FLAGS_PARTSCAN}}
		copy(cfg.Info.File_name[:], "cairn-statedisk-test")
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) {
			dev.Close()
			continue
		}
		require.NoError(t, err, "LOOP_CONFIGURE")
		require.NoError(t, f.Close())
		t.Cleanup(func() {
			_ = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
			dev.Close()
		})
		return path, file
	}
	t.Fatal("no free loop device")
	return "", ""
}

// inMountNS runs f on a thread of its own in a new, private mount
// namespace, so nothing it mounts is seen outside, and all of it goes with
// the thread (never unlocked, so it ends with f).
func inMountNS(t *testing.T, f func() error) {
	t.Helper()
	testutil.RequireRoot(t, "loop devices and mounts")
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
