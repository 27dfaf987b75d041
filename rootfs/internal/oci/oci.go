// Package oci is what rootfs's image builders (rootfs/image, the node's
// image; rootfs/images, the workload images) share: a reproducible layer
// from a file tree, an image FROM scratch from layers and a config, and
// the check that a binary can start without a dynamic loader. Everything
// here is deterministic: the same inputs give the same bytes.
package oci

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrNotStatic is returned by CheckStatic for a binary that needs a
// dynamic loader (or is no ELF binary at all): an image FROM scratch has
// none.
var ErrNotStatic = errors.New("binary is not statically linked")

// ErrPath is returned by Tar for a path that is not absolute and clean,
// or that is both a file (or link) and the parent of another entry.
var ErrPath = errors.New("bad path")

// Entry is one file, directory or symbolic link of a layer. Owners are
// always root:root.
type Entry struct {
	// Data is a regular file's content.
	Data []byte
	// Mode is the permission bits (and sticky bit); 0755 when zero.
	Mode int64
	// Dir makes the entry a directory.
	Dir bool
	// Link makes the entry a symbolic link to Link.
	Link string
}

// Tar writes tree (absolute image path → entry) as an uncompressed tar:
// entries sorted by path, every missing parent directory added (0755),
// owned by root, PAX headers, every mtime mtime. Directories are named
// with a trailing slash.
func Tar(tree map[string]Entry, mtime time.Time) ([]byte, error) {
	entries := make(map[string]Entry, len(tree))
	for p, e := range tree {
		rel := strings.TrimPrefix(p, "/")
		if !path.IsAbs(p) || path.Clean(p) != p || rel == "" {
			return nil, fmt.Errorf("%w: %q is not an absolute, clean path", ErrPath, p)
		}
		entries[rel] = e
	}
	for rel := range tree {
		for d := path.Dir(strings.TrimPrefix(rel, "/")); d != "."; d = path.Dir(d) {
			parent, ok := entries[d]
			switch {
			case !ok:
				entries[d] = Entry{Dir: true}
			case !parent.Dir:
				return nil, fmt.Errorf("%w: /%s is both a file and a directory", ErrPath, d)
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := writeEntry(tw, n, entries[n], mtime); err != nil {
			return nil, fmt.Errorf("write /%s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeEntry(tw *tar.Writer, name string, e Entry, mtime time.Time) error {
	h := &tar.Header{Name: name, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX, Mode: e.Mode}
	if h.Mode == 0 {
		h.Mode = 0o755
	}
	switch {
	case e.Dir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case e.Link != "":
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Data))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if h.Typeflag == tar.TypeReg {
		_, err := tw.Write(e.Data)
		return err
	}
	return nil
}

// Layer is tree (as Tar writes it) as an OCI layer, gzipped by
// go-containerregistry with Go's compress/gzip, which writes no timestamp
// or name: the compressed digest is as stable as the tar.
func Layer(tree map[string]Entry, mtime time.Time) (v1.Layer, error) {
	layerTar, err := Tar(tree, mtime)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("build layer: %w", err)
	}
	return l, nil
}

// Config is what an image holds besides its layers.
type Config struct {
	// Arch is the image's architecture (GOARCH spelling); amd64 when empty.
	Arch string
	// Created is the config's creation time (give the layers' mtime).
	Created time.Time
	// Config is the runtime configuration: entrypoint, environment, ….
	Config v1.Config
	// Annotations go on the manifest; none when empty.
	Annotations map[string]string
}

// Image is an OCI image FROM scratch: layers (each with its history
// entry), bottom first, and c.
func Image(layers []mutate.Addendum, c Config) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("build image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = c.Arch, "linux"
	if cf.Architecture == "" {
		cf.Architecture = "amd64"
	}
	cf.Created = v1.Time{Time: c.Created}
	cf.Config = c.Config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("build image config: %w", err)
	}
	if len(c.Annotations) == 0 {
		return img, nil
	}
	return mutate.Annotations(img, c.Annotations).(v1.Image), nil
}

// CheckStatic refuses a binary that is not an ELF executable without an
// interpreter (PT_INTERP): FROM scratch there is no dynamic loader.
func CheckStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%w: not an ELF binary: %w", ErrNotStatic, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: it needs a dynamic loader; build it with CGO_ENABLED=0", ErrNotStatic)
		}
	}
	return nil
}
