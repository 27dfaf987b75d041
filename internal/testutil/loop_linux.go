package testutil

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// AttachLoop backs a free loop device with file and detaches it when the
// test ends; it returns the device's path. With partscan the kernel scans
// the device's partition table (BLKRRPART then makes loopNp1). Root only:
// call RequireRoot first.
func AttachLoop(t testing.TB, file string, partscan bool) string {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	require.NoError(t, err)
	defer ctl.Close()
	cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
	if partscan {
		cfg.Info.Flags = unix.LO_FLAGS_PARTSCAN
	}
	copy(cfg.Info.File_name[:], "cairn-test")
	for range 10 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		require.NoError(t, err)
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := os.OpenFile(path, os.O_RDWR, 0)
		require.NoError(t, err)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) {
			dev.Close()
			continue
		}
		require.NoError(t, err, "LOOP_CONFIGURE")
		t.Cleanup(func() {
			_ = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
			dev.Close()
		})
		return path
	}
	t.Fatal("no free loop device")
	return ""
}

// InMountNS runs f on a thread of its own in a new, private mount
// namespace: nothing f mounts is seen outside it, and all of it goes away
// with the thread, which is never unlocked and so ends with f. Root only:
// call RequireRoot first.
func InMountNS(t testing.TB, f func() error) {
	t.Helper()
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
