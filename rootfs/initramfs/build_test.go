package initramfs

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/require"
)

// requireDebianTools skips outside CI when apt or dpkg-deb is missing; in
// CI the build must run.
func requireDebianTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing; CI runs on Debian", tool)
			}
			t.Skipf("needs %s (runs in CI)", tool)
		}
	}
}

// buildCairnd builds a static cairnd for /init.
func buildCairnd(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cairnd")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/cairn-project/cairn/cmd/cairnd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// TestBuildIsReproducibleAndMinimal builds the real image twice, the
// second time from a cache of its own (packages downloaded and unpacked
// again), and requires the same digest; then checks what the image holds
// and, as root, that its mkfs.ext4 formats a disk with nothing but the
// image's own loader and libraries.
func TestBuildIsReproducibleAndMinimal(t *testing.T) {
	requireDebianTools(t)
	ctx := context.Background()
	cairnd := buildCairnd(t)
	// Any static binary stands in for etcd here: the image only carries
	// it (tools/etcd's test runs the real one).
	etcd := filepath.Join(t.TempDir(), "etcd")
	require.NoError(t, os.Link(cairnd, etcd))
	first, err := Build(ctx, Options{Cairnd: cairnd, Etcd: etcd, OutDir: t.TempDir()})
	require.NoError(t, err)
	second, err := Build(ctx, Options{Cairnd: cairnd, Etcd: etcd, OutDir: t.TempDir(), CacheDir: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, first.SHA256, second.SHA256, "same packages and cairnd, different initramfs")
	require.Equal(t, first.Paths, second.Paths)
	k1, err := os.ReadFile(first.Kernel)
	require.NoError(t, err)
	k2, err := os.ReadFile(second.Kernel)
	require.NoError(t, err)
	require.Equal(t, k1, k2)

	data, err := os.ReadFile(first.Initramfs)
	require.NoError(t, err)
	entries := readArchive(t, data)
	byName := map[string]archived{}
	for _, e := range entries {
		byName[e.hdr.Name] = e
	}
	mdir := path.Join("lib/modules", first.KernelVersion)
	want := []string{"init", EtcdPath, "sbin/mkfs.ext4", "sbin/mke2fs", "etc/mke2fs.conf", "lib64/ld-linux-x86-64.so.2",
		mdir + "/modules.dep", mdir + "/modules.builtin", mdir + "/modules.order"}
	for _, m := range DefaultModules {
		want = append(want, modulePath(t, byName, mdir, m))
	}
	for _, w := range want {
		require.Contains(t, byName, w)
	}
	for _, d := range mountPoints {
		require.True(t, byName[d].hdr.Mode&cpio.TypeDir != 0, "/%s is a directory", d)
	}
	init, err := os.ReadFile(cairnd)
	require.NoError(t, err)
	require.Equal(t, init, byName["init"].data)
	require.Equal(t, cpio.FileMode(0o755), byName[EtcdPath].hdr.Mode.Perm(), "etcd is executable")
	// Nothing else: every regular file is /init, etcd, a module or its
	// index, mkfs.ext4's program and configuration, or a shared object.
	for _, e := range entries {
		n := e.hdr.Name
		if !e.hdr.Mode.IsRegular() {
			continue
		}
		ok := n == "init" || n == EtcdPath || n == "sbin/mke2fs" || n == "etc/mke2fs.conf" ||
			strings.HasPrefix(n, mdir+"/") || strings.Contains(path.Base(n), ".so")
		require.True(t, ok, "unexpected file /%s in the image", n)
	}
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "sbin/modprobe"} {
		require.NotContains(t, byName, shell)
	}

	if os.Geteuid() != 0 {
		t.Log("not root: mkfs.ext4 in a chroot of the image not tried")
		return
	}
	root := t.TempDir()
	extract(t, entries, root)
	disk := filepath.Join(root, "tmp", "disk.img")
	require.NoError(t, os.WriteFile(disk, nil, 0o600))
	require.NoError(t, os.Truncate(disk, 64<<20))
	out, err := exec.Command("chroot", root, "/sbin/mkfs.ext4", "-q", "-F", "-L", "cairn-test", "/tmp/disk.img").CombinedOutput()
	require.NoError(t, err, "mkfs.ext4 in the image: %s", out)
	sb := make([]byte, 2048)
	f, err := os.Open(disk)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.ReadAt(sb, 0)
	require.NoError(t, err)
	require.Equal(t, []byte{0x53, 0xef}, sb[1024+0x38:1024+0x3a], "ext4 superblock magic")
	require.Equal(t, "cairn-test", strings.TrimRight(string(sb[1024+0x78:1024+0x88]), "\x00"))
}

// modulePath finds module m's file among the image's entries.
func modulePath(t *testing.T, byName map[string]archived, mdir, m string) string {
	t.Helper()
	for n := range byName {
		if strings.HasPrefix(n, mdir+"/kernel/") && moduleName(n) == m {
			return n
		}
	}
	t.Fatalf("module %s is not in the image", m)
	return ""
}

// extract writes the archive's entries under dir.
func extract(t *testing.T, entries []archived, dir string) {
	t.Helper()
	slices.SortFunc(entries, func(a, b archived) int { return strings.Compare(a.hdr.Name, b.hdr.Name) })
	for _, e := range entries {
		p := filepath.Join(dir, e.hdr.Name)
		switch m := e.hdr.Mode; {
		case m&^cpio.ModePerm == cpio.TypeDir:
			require.NoError(t, os.MkdirAll(p, 0o755))
		case m&^cpio.ModePerm == cpio.TypeSymlink:
			require.NoError(t, os.Symlink(e.hdr.Linkname, p))
		default:
			require.NoError(t, os.WriteFile(p, e.data, os.FileMode(m.Perm())))
		}
	}
}
