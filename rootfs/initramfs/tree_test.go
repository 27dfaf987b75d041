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

// Extra entries join the tree as links, data or host files (0644 unless
// told); one over a file the image has, or without a content, is refused.
// The raw archive holds the same entries as the compressed one.
func TestExtraEntriesAndRawCPIO(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "kube")
	require.NoError(t, os.WriteFile(src, []byte("kube binary"), 0o600))
	tr := NewTree()
	tr.File("init", src, 0o755)
	require.NoError(t, addExtra(tr, map[string]Entry{
		"/usr/bin/kube":    {Src: src, Mode: 0o755},
		"/usr/bin/kubelet": {Link: "kube"},
		"/etc/machine-id":  {Data: []byte{}, Mode: 0o444},
		"/etc/passwd":      {Data: []byte("root:x:0:0::/:/sbin/nologin\n")},
	}))
	var gz, raw bytes.Buffer
	require.NoError(t, tr.WriteCPIO(&gz))
	require.NoError(t, tr.WriteRawCPIO(&raw))
	entries := readArchive(t, gz.Bytes())
	r := cpio.NewReader(bytes.NewReader(raw.Bytes()))
	for _, want := range entries {
		h, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want.hdr.Name, h.Name)
		require.Equal(t, want.hdr.Mode, h.Mode)
	}
	byName := map[string]archived{}
	for _, e := range entries {
		byName[e.hdr.Name] = e
	}
	require.Equal(t, []byte("kube binary"), byName["usr/bin/kube"].data)
	require.Equal(t, cpio.FileMode(0o755), byName["usr/bin/kube"].hdr.Mode.Perm())
	require.Equal(t, "kube", byName["usr/bin/kubelet"].hdr.Linkname)
	require.Equal(t, cpio.FileMode(0o644), byName["etc/passwd"].hdr.Mode.Perm(), "0644 when not told")
	require.Equal(t, cpio.FileMode(0o444), byName["etc/machine-id"].hdr.Mode.Perm())
	require.Empty(t, byName["etc/machine-id"].data, "an empty file, not a missing one")
	require.True(t, byName["usr/bin"].hdr.Mode&cpio.TypeDir != 0, "parents are made")

	require.ErrorIs(t, addExtra(tr, map[string]Entry{"/init": {Data: []byte("x")}}), ErrPackage, "cairnd is /init")
	require.NoError(t, addExtra(tr, map[string]Entry{"/init": {Data: []byte("kube binary")}}), "the same file twice is kept once")
	require.NoError(t, addExtra(tr, map[string]Entry{"/usr/bin/kubelet": {Link: "kube"}}))
	require.ErrorIs(t, addExtra(tr, map[string]Entry{"/usr/bin/kubelet": {Link: "other"}}), ErrPackage)
	require.ErrorIs(t, addExtra(tr, map[string]Entry{"relative": {Data: []byte("x")}}), ErrPackage)
	require.ErrorIs(t, addExtra(tr, map[string]Entry{"/empty": {}}), ErrPackage)
}
