package bootcfg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSourceReadsAConfigDisk: a config disk (an ext4 image made with
// mkfs.ext4 -d, on a loop device) is mounted read-only below the root,
// read and unmounted again.
func TestSourceReadsAConfigDisk(t *testing.T) {
	testutil.RequireRoot(t, "namespaces")
	mkfs, err := exec.LookPath("mkfs.ext4")
	require.NoError(t, err, "mkfs.ext4 (e2fsprogs)")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "cairn"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "cairn", "cluster.yaml"), []byte("from: disk\n"), 0o644))
	img := filepath.Join(dir, "config.img")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(8<<20))
	require.NoError(t, f.Close())
	out, err := exec.Command(mkfs, "-q", "-F", "-d", src, img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	loop := attachLoop(t, img)

	// The root holds the disk's node, as /dev would.
	root := filepath.Join(dir, "root")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(loop, &st))
	require.NoError(t, unix.Mknod(filepath.Join(root, "dev", "vdb"), unix.S_IFBLK|0o600, int(st.Rdev)))

	errc := make(chan error, 1)
	go func() {
		// A private mount namespace on a thread of its own, never
		// unlocked, so a mount left behind dies with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- err
			return
		}
		data, err := Source{Kind: Disk, Device: "/dev/vdb", Path: "cairn/cluster.yaml"}.Read(root)
		switch {
		case err != nil:
			errc <- err
		case string(data) != "from: disk\n":
			errc <- fmt.Errorf("read %q", data)
		default:
			var a, b unix.Stat_t
			mnt := filepath.Join(root, "run", "cairn", "config")
			if unix.Stat(mnt, &a) == nil && unix.Stat(filepath.Dir(mnt), &b) == nil && a.Dev != b.Dev {
				errc <- errors.New("config disk left mounted")
				return
			}
			errc <- nil
		}
	}()
	require.NoError(t, <-errc)
}

// attachLoop backs a loop device with file until the test ends.
func attachLoop(t *testing.T, file string) string {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	require.NoError(t, err)
	defer ctl.Close()
	for range 10 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		require.NoError(t, err)
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := os.OpenFile(path, os.O_RDWR, 0)
		require.NoError(t, err)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &unix.LoopConfig{Fd: uint32(f.Fd())})
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
