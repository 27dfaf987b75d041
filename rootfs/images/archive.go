package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The annotations on each manifest of the archive's index.json that name
// the image. containerd's importer (client.Import, `ctr images import`)
// names an image by AnnotationImageName first, then by AnnotationRefName;
// both carry the full reference, so no --base-name or ref translator is
// needed.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// WriteOCIArchive writes refs (full reference → image) as one tar of an
// OCI image layout (oci-layout, index.json, blobs/sha256/…), the format
// containerd imports natively: index.json lists one manifest per
// reference, sorted, named by both annotations above; every blob is
// written once, so a layer several images share is stored once. The same
// images give the same bytes (fixed mtimes, sorted entries).
//
// go-containerregistry writes an OCI layout only as a directory
// (pkg/v1/layout); this streams the same layout into a tar, with its
// types for every JSON document.
func WriteOCIArchive(w io.Writer, refs map[string]v1.Image) error {
	if len(refs) == 0 {
		return errors.New("write OCI archive: no images")
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	var blobs []blob
	seen := map[v1.Hash]bool{}
	add := func(b blob) {
		if !seen[b.digest] {
			seen[b.digest] = true
			blobs = append(blobs, b)
		}
	}
	for _, ref := range sortedKeys(refs) {
		desc, imgBlobs, err := imageBlobs(ref, refs[ref])
		if err != nil {
			return fmt.Errorf("write OCI archive: %s: %w", ref, err)
		}
		index.Manifests = append(index.Manifests, desc)
		for _, b := range imgBlobs {
			add(b)
		}
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	files := []blob{
		{path: "oci-layout", size: int64(len(ociLayout)), open: bytesOpener(ociLayout)},
		{path: "index.json", size: int64(len(indexJSON)), open: bytesOpener(indexJSON)},
	}
	for _, b := range blobs {
		b.path = "blobs/" + b.digest.Algorithm + "/" + b.digest.Hex
		files = append(files, b)
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := f.write(tw); err != nil {
			return fmt.Errorf("write OCI archive: %s: %w", f.path, err)
		}
	}
	return tw.Close()
}

var ociLayout = []byte(`{"imageLayoutVersion":"1.0.0"}`)

// blob is one file of the archive: a layout file or a content blob.
type blob struct {
	path   string
	digest v1.Hash
	size   int64
	open   func() (io.ReadCloser, error)
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func (b blob) write(tw *tar.Writer) error {
	h := &tar.Header{Name: b.path, Typeflag: tar.TypeReg, Mode: 0o644, Size: b.size, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	rc, err := b.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(tw, rc)
	if err == nil && n != b.size {
		err = fmt.Errorf("wrote %d bytes, expected %d", n, b.size)
	}
	return err
}

// imageBlobs are img's index descriptor and its blobs: the layers
// (compressed, as the manifest names them), the config and the manifest.
func imageBlobs(ref string, img v1.Image) (v1.Descriptor, []blob, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	var blobs []blob
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return v1.Descriptor{}, nil, err
		}
		size, err := l.Size()
		if err != nil {
			return v1.Descriptor{}, nil, err
		}
		blobs = append(blobs, blob{digest: d, size: size, open: l.Compressed})
	}
	blobs = append(blobs,
		blob{digest: cfgName, size: int64(len(cfg)), open: bytesOpener(cfg)},
		blob{digest: digest, size: int64(len(manifest)), open: bytesOpener(manifest)})
	desc := v1.Descriptor{
		MediaType:   mt,
		Size:        int64(len(manifest)),
		Digest:      digest,
		Platform:    &v1.Platform{OS: cf.OS, Architecture: cf.Architecture},
		Annotations: map[string]string{AnnotationImageName: ref, AnnotationRefName: ref},
	}
	return desc, blobs, nil
}

// WriteDockerArchive writes refs as one `docker load` archive
// (manifest.json with RepoTags), go-containerregistry's tarball format,
// for a Docker daemon that predates OCI layout loading (Docker < 25).
// Its content is stable but, with several images, not its entry order.
func WriteDockerArchive(w io.Writer, refs map[string]v1.Image) error {
	tagged := make(map[name.Reference]v1.Image, len(refs))
	for ref, img := range refs {
		t, err := name.NewTag(ref, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("%w: reference %q: %w", ErrSpec, ref, err)
		}
		tagged[t] = img
	}
	if err := tarball.MultiRefWrite(tagged, w); err != nil {
		return fmt.Errorf("write docker archive: %w", err)
	}
	return nil
}
