package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// entry is one file of the image: a directory, a symlink (link), or a
// regular file whose content is data or, when data is nil, the host file
// src.
type entry struct {
	mode fs.FileMode
	link string
	src  string
	data []byte
}

// Tree is the image's file system before it is written: paths are
// relative to the root, without a leading slash.
type Tree struct {
	entries map[string]entry
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{entries: map[string]entry{}} }

// Dir adds the directory p and its parents.
func (t *Tree) Dir(p string) {
	for p = clean(p); p != "" && p != "."; p = path.Dir(p) {
		if _, ok := t.entries[p]; ok {
			return
		}
		t.entries[p] = entry{mode: fs.ModeDir | 0o755}
	}
}

// File adds p with the content of the host file src, and its parents.
func (t *Tree) File(p, src string, perm fs.FileMode) {
	p = clean(p)
	t.Dir(path.Dir(p))
	t.entries[p] = entry{mode: perm, src: src}
}

// Bytes adds p with content data, and its parents.
func (t *Tree) Bytes(p string, data []byte, perm fs.FileMode) {
	p = clean(p)
	t.Dir(path.Dir(p))
	t.entries[p] = entry{mode: perm, data: bytes.Clone(data)}
}

// Symlink adds p pointing at target, and p's parents.
func (t *Tree) Symlink(p, target string) {
	p = clean(p)
	t.Dir(path.Dir(p))
	t.entries[p] = entry{mode: fs.ModeSymlink | 0o777, link: target}
}

// Paths returns every path in the order the archive holds them.
func (t *Tree) Paths() []string {
	ps := make([]string, 0, len(t.entries))
	for p := range t.entries {
		ps = append(ps, p)
	}
	// Sorted by byte value a parent always comes before its children
	// ("a" < "a/…"), which the kernel's unpacker needs.
	slices.Sort(ps)
	return ps
}

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// WriteCPIO writes the tree as a gzip-compressed newc archive that depends
// on nothing but the tree: entries sorted by path, every mtime 0, owner
// and group 0, inode numbers in entry order, and a gzip header without
// name or time. The same tree therefore gives the same bytes.
func (t *Tree) WriteCPIO(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := t.WriteRawCPIO(zw); err != nil {
		return err
	}
	return zw.Close()
}

// WriteRawCPIO writes the tree as WriteCPIO does, without compression:
// for an image of hundreds of megabytes, which the kernel unpacks far
// faster under TCG than it inflates a gzip stream.
func (t *Tree) WriteRawCPIO(w io.Writer) error {
	cw := cpio.NewWriter(w)
	for i, p := range t.Paths() {
		if err := t.writeEntry(cw, int64(i+1), p); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return cw.Close()
}

func (t *Tree) writeEntry(cw *cpio.Writer, ino int64, p string) error {
	e := t.entries[p]
	h := &cpio.Header{Name: p, Inode: ino, Mode: cpio.FileMode(e.mode.Perm()), Links: 1}
	var body io.Reader
	switch {
	case e.mode.IsDir():
		h.Mode |= cpio.TypeDir
		h.Links = 2
	case e.mode&fs.ModeSymlink != 0:
		h.Mode |= cpio.TypeSymlink
		h.Size = int64(len(e.link))
		body = strings.NewReader(e.link)
	case e.data != nil:
		h.Mode |= cpio.TypeReg
		h.Size = int64(len(e.data))
		body = bytes.NewReader(e.data)
	default:
		h.Mode |= cpio.TypeReg
		f, err := os.Open(e.src)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		h.Size = fi.Size()
		body = f
	}
	if err := cw.WriteHeader(h); err != nil {
		return err
	}
	if body == nil {
		return nil
	}
	n, err := io.Copy(cw, body)
	if err == nil && n != h.Size {
		err = fmt.Errorf("wrote %d of %d bytes (changed while archiving?)", n, h.Size)
	}
	return err
}
