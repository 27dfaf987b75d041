// Package images builds the container images Cairn's workloads run —
// the pod sandbox (pause), the Kubernetes components of the static pods,
// a test application (echo) — FROM scratch and reproducibly, and writes
// them as one archive that containerd imports at boot: no registry is
// involved anywhere. See rootfs/DESIGN.md.
package images

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cairn-project/cairn/rootfs/internal/oci"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// The labels (in the config) and annotations (on the manifest) every
// image carries.
const (
	// LabelVersion is the image's version: the Cairn version for our own
	// programs, the upstream version for the Kubernetes components.
	LabelVersion = "org.opencontainers.image.version"
	// LabelTitle is the image's short name (pause, echo, kube-apiserver).
	LabelTitle = "org.opencontainers.image.title"
)

// File is one entry of an image: exactly one of Data, Source or Link.
type File struct {
	// Data is the file's content.
	Data []byte
	// Source is a host file read at build time for the content.
	Source string
	// Link makes the entry a symbolic link to Link.
	Link string
	// Mode is the permission bits; 0755 when zero.
	Mode int64
	// Static requires the content to be an ELF binary without a dynamic
	// loader (ErrNotStatic otherwise): set it for every program.
	Static bool
}

// Spec says what one image is.
type Spec struct {
	// Ref is the full reference the image is imported as
	// ("registry.k8s.io/pause:3.10.2"): kubelet and containerd find it by
	// this name, so it is the name they would pull.
	Ref string
	// Title is the image's short name, for its label.
	Title string
	// Version is the image's version, for its label and annotation.
	Version string
	// Base are layers below Files' layer, built once and shared by
	// several images (the Kubernetes binary): the same layer, the same
	// digest, stored once.
	Base []v1.Layer
	// Files are the image's own layer, by absolute image path; missing
	// parent directories are added (0755). No layer when empty.
	Files map[string]File
	// Entrypoint, Cmd, Env ("K=V"), User and WorkingDir ("/" when empty)
	// are the runtime configuration.
	Entrypoint, Cmd, Env []string
	User, WorkingDir     string
	// ExposedPorts are "PORT/PROTO" ("8080/tcp"), for documentation.
	ExposedPorts []string
}

// Options are the inputs every image of a build shares.
type Options struct {
	// Created is the config's creation time and every entry's mtime; the
	// Unix epoch when zero (SOURCE_DATE_EPOCH in mkimages).
	Created time.Time
	// Arch is the images' architecture; amd64 when empty.
	Arch string
}

func (o Options) created() time.Time {
	if o.Created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return o.Created.UTC()
}

// Build returns the image of s. The same s and o give the same image,
// byte for byte.
func Build(s Spec, o Options) (v1.Image, error) {
	if _, err := name.NewTag(s.Ref, name.StrictValidation); err != nil {
		return nil, fmt.Errorf("%w: reference %q: %w", ErrSpec, s.Ref, err)
	}
	created := o.created()
	adds := make([]mutate.Addendum, 0, len(s.Base)+1)
	for _, l := range s.Base {
		adds = append(adds, mutate.Addendum{Layer: l, History: history(created, s, "shared layer")})
	}
	if len(s.Files) > 0 {
		l, err := FilesLayer(s.Files, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Ref, err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: history(created, s, strings.Join(sortedKeys(s.Files), " "))})
	}
	if len(adds) == 0 {
		return nil, fmt.Errorf("%w: %s has no files", ErrSpec, s.Ref)
	}
	labels := map[string]string{LabelVersion: s.Version, LabelTitle: s.Title}
	cfg := v1.Config{
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		Env:        s.Env,
		User:       s.User,
		WorkingDir: s.WorkingDir,
		Labels:     labels,
		StopSignal: "SIGTERM",
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = "/"
	}
	if len(s.ExposedPorts) > 0 {
		cfg.ExposedPorts = make(map[string]struct{}, len(s.ExposedPorts))
		for _, p := range s.ExposedPorts {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	img, err := oci.Image(adds, oci.Config{Arch: o.Arch, Created: created, Config: cfg, Annotations: labels})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Ref, err)
	}
	return img, nil
}

func history(created time.Time, s Spec, what string) v1.History {
	return v1.History{Created: v1.Time{Time: created}, CreatedBy: "cairn rootfs/images: " + what, Comment: s.Title + " " + s.Version}
}

// FilesLayer is files as one layer (what Build makes of Spec.Files), for
// a layer several images share through Spec.Base.
func FilesLayer(files map[string]File, o Options) (v1.Layer, error) {
	tree := make(map[string]oci.Entry, len(files))
	for p, f := range files {
		e, err := f.entry()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		tree[p] = e
	}
	return oci.Layer(tree, o.created())
}

func (f File) entry() (oci.Entry, error) {
	n := 0
	for _, set := range []bool{f.Data != nil, f.Source != "", f.Link != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return oci.Entry{}, fmt.Errorf("%w: a file needs exactly one of Data, Source or Link", ErrSpec)
	}
	if f.Link != "" {
		return oci.Entry{Link: f.Link}, nil
	}
	data := f.Data
	if f.Source != "" {
		var err error
		if data, err = os.ReadFile(f.Source); err != nil {
			return oci.Entry{}, err
		}
	}
	if f.Static {
		if err := oci.CheckStatic(data); err != nil {
			return oci.Entry{}, err
		}
	}
	return oci.Entry{Data: data, Mode: f.Mode}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// BuildAll builds every spec, by its Ref; two specs with one Ref are an
// error.
func BuildAll(specs []Spec, o Options) (map[string]v1.Image, error) {
	imgs := make(map[string]v1.Image, len(specs))
	var errs []error
	for _, s := range specs {
		if _, dup := imgs[s.Ref]; dup {
			errs = append(errs, fmt.Errorf("%w: %s twice", ErrSpec, s.Ref))
			continue
		}
		img, err := Build(s, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		imgs[s.Ref] = img
	}
	return imgs, errors.Join(errs...)
}
