package initramfs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/require"
)

// archived is one entry read back from an archive.
type archived struct {
	hdr  cpio.Header
	data []byte
}

// readArchive reads a gzip-compressed newc archive.
func readArchive(t *testing.T, data []byte) []archived {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	r := cpio.NewReader(zr)
	var out []archived
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		out = append(out, archived{hdr: *h, data: b})
	}
}

func TestWriteCPIOIsDeterministicAndOrdered(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(src, []byte("#!binary"), 0o700))
	paths := []string{"sbin/prog", "lib/x/libz.so.1", "a-b/c", "a/b/c", "etc/conf"}
	build := func(order []string) []byte {
		tr := NewTree()
		for _, p := range order {
			switch p {
			case "sbin/prog":
				tr.File(p, src, 0o755)
			case "lib/x/libz.so.1":
				tr.Symlink(p, "libz.so.1.2")
			default:
				tr.Bytes(p, []byte(p), 0o644)
			}
		}
		tr.Dir("proc")
		var buf bytes.Buffer
		require.NoError(t, tr.WriteCPIO(&buf))
		return buf.Bytes()
	}
	first := build(paths)
	for range 5 {
		shuffled := append([]string(nil), paths...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		require.Equal(t, first, build(shuffled), "insertion order %v changed the archive", shuffled)
	}

	seen := map[string]bool{}
	var names []string
	for _, e := range readArchive(t, first) {
		h := e.hdr
		names = append(names, h.Name)
		if d := filepath.Dir(h.Name); d != "." {
			require.True(t, seen[d], "%s comes before its directory %s", h.Name, d)
		}
		seen[h.Name] = true
		require.Zero(t, h.ModTime.Unix(), h.Name)
		require.Zero(t, h.Uid, h.Name)
		require.Zero(t, h.Guid, h.Name)
		switch h.Name {
		case "sbin/prog":
			require.Equal(t, cpio.FileMode(cpio.TypeReg|0o755), h.Mode)
			require.Equal(t, "#!binary", string(e.data))
		case "lib/x/libz.so.1":
			require.Equal(t, cpio.FileMode(cpio.TypeSymlink|0o777), h.Mode)
			require.Equal(t, "libz.so.1.2", h.Linkname)
		case "proc", "a", "lib":
			require.Equal(t, cpio.FileMode(cpio.TypeDir|0o755), h.Mode)
		}
	}
	require.Equal(t, []string{"a", "a-b", "a-b/c", "a/b", "a/b/c", "etc", "etc/conf", "lib", "lib/x",
		"lib/x/libz.so.1", "proc", "sbin", "sbin/prog"}, names)
}

func TestRootFSFollowsSymlinksInsideTheTree(t *testing.T) {
	root := t.TempDir()
	mk := func(p, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o755))
	}
	mk("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "loader")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lib64"), 0o755))
	// An absolute link, as libc6 ships it: it must resolve inside root,
	// never on the host.
	require.NoError(t, os.Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(root, "lib64", "ld-linux-x86-64.so.2")))
	mk("sbin/mke2fs", "mke2fs")
	require.NoError(t, os.Symlink("mke2fs", filepath.Join(root, "sbin", "mkfs.ext4")))

	tr := NewTree()
	r := rootFS{dir: root}
	host, err := r.add(tr, "/lib64/ld-linux-x86-64.so.2")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), host)
	host, err = r.add(tr, "sbin/mkfs.ext4")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "sbin/mke2fs"), host)
	require.Equal(t, []string{"lib", "lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"lib64", "lib64/ld-linux-x86-64.so.2", "sbin", "sbin/mke2fs", "sbin/mkfs.ext4"}, tr.Paths())
	require.Equal(t, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", tr.entries["lib64/ld-linux-x86-64.so.2"].link)

	_, err = r.add(tr, "sbin/missing")
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "missing"))
}
