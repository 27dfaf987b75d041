package bootcfg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	loop := testutil.AttachLoop(t, img, false)

	// The root holds the disk's node, as /dev would.
	root := filepath.Join(dir, "root")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(loop, &st))
	require.NoError(t, unix.Mknod(filepath.Join(root, "dev", "vdb"), unix.S_IFBLK|0o600, int(st.Rdev)))

	// In a private mount namespace, so a mount left behind dies with it.
	testutil.InMountNS(t, func() error {
		data, err := Source{Kind: Disk, Device: "/dev/vdb", Path: "cairn/cluster.yaml"}.Read(root)
		switch {
		case err != nil:
			return err
		case string(data) != "from: disk\n":
			return fmt.Errorf("read %q", data)
		}
		var a, b unix.Stat_t
		mnt := filepath.Join(root, "run", "cairn", "config")
		if unix.Stat(mnt, &a) == nil && unix.Stat(filepath.Dir(mnt), &b) == nil && a.Dev != b.Dev {
			return errors.New("config disk left mounted")
		}
		return nil
	})
}
