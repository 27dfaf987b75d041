// Package image builds the Cairn node's container image: FROM scratch,
// cairnd, the static programs cairnd execs (etcd), and the directories a
// container needs, nothing else. The same
// inputs give the same image, byte for byte: entries sorted, owners root,
// mtimes fixed (SOURCE_DATE_EPOCH, else the Unix epoch), the config
// written by go-containerregistry from a fixed value. See rootfs/DESIGN.md.
package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/rootfs/internal/oci"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entrypoint is the image's: cairnd's boot stage (cmd/cairnd, "boot"), the
// container's PID 1, which runs cairnd from the A/B slots on the state
// volume (STATE/slots) and falls back to the confirmed one, so a container
// node upgrades in place and its image stays what it was created from.
// Arguments after it are cairnd's flags, passed on to the node.
var Entrypoint = []string{CairndPath, "boot"}

// Where things are in the image.
const (
	// CairndPath is cairnd in the image; the entrypoint runs its boot
	// stage (Entrypoint).
	CairndPath = "/usr/bin/cairnd"
	// EtcdPath is etcd in the image (tools/etcd, `make etcd`); cairnd's
	// supervisor execs it on control planes.
	EtcdPath = "/usr/bin/etcd"
	// StateDir is the node's state directory, a volume's mount point.
	StateDir = "/var/lib/cairn"
)

// The labels (in the config, shown by docker inspect) and annotations (in
// the manifest) the image carries.
const (
	// LabelVersion carries the version cairnd reports in Version.
	LabelVersion = "org.opencontainers.image.version"
	// LabelTitle names the image.
	LabelTitle = "org.opencontainers.image.title"
)

// dirs are the image's directories, with their modes: mount points for
// the volume (/var/lib/cairn) and the tmpfs mounts (/run, /tmp) of a
// read-only root, and the parents of cairnd.
var dirs = map[string]int64{
	"etc": 0o755, "run": 0o755, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
	"var": 0o755, "var/lib": 0o755, "var/lib/cairn": 0o700,
}

// ErrNotStatic is returned for a cairnd (or another binary of
// Options.Binaries) that needs a dynamic loader: an image FROM scratch has
// none. Build it with CGO_ENABLED=0. It is oci.ErrNotStatic, which
// rootfs/images returns too.
var ErrNotStatic = oci.ErrNotStatic

// ErrBinaryPath is returned for a binary of Options.Binaries whose path is
// not absolute and clean, or is cairnd's, or one of the image's
// directories.
var ErrBinaryPath = errors.New("bad binary path")

// Options are the inputs of Build; the same Options give the same image.
type Options struct {
	// Cairnd is the cairnd binary, statically linked.
	Cairnd []byte
	// Binaries are further static programs, by their absolute path in the
	// image (EtcdPath for etcd), each mode 0755 and root's; their parent
	// directories are added (0755). Optional.
	Binaries map[string][]byte
	// Version is the version the binary reports (cairnd --version), for
	// the image's label and annotation.
	Version string
	// Files are further entries that are not programs of their own:
	// links (to the Kubernetes multi-call binary, to cairnd as mount),
	// data (the workload images archive, /etc/passwd). Optional.
	Files map[string]File
	// Created is the image's creation time and every entry's mtime; the
	// Unix epoch when zero. SourceDateEpoch reads it from the environment.
	Created time.Time
}

// File is one entry of Options.Files: a symbolic link (Link) or a file
// (Data, mode Mode, 0644 when zero).
type File struct {
	Data []byte
	Mode int64
	Link string
}

// Build returns the image for o.
func Build(o Options) (v1.Image, error) {
	if o.Version == "" {
		return nil, errors.New("build image: no version")
	}
	if err := oci.CheckStatic(o.Cairnd); err != nil {
		return nil, fmt.Errorf("%s: %w", CairndPath, err)
	}
	for p, data := range o.Binaries {
		if err := checkBinaryPath(p); err != nil {
			return nil, err
		}
		if err := oci.CheckStatic(data); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	for p := range o.Files {
		if err := checkBinaryPath(p); err != nil {
			return nil, err
		}
		if _, ok := o.Binaries[p]; ok {
			return nil, fmt.Errorf("%w: %s is both a binary and a file", ErrBinaryPath, p)
		}
	}
	files := map[string]File{"/etc/os-release": {Data: version.OSRelease(o.Version)}}
	for p, f := range o.Files {
		files[p] = f
	}
	l, err := oci.Layer(tree(o.Cairnd, o.Binaries, files), created)
	if errors.Is(err, oci.ErrPath) {
		return nil, fmt.Errorf("%w: %w", ErrBinaryPath, err)
	}
	if err != nil {
		return nil, fmt.Errorf("build image layer: %w", err)
	}
	labels := map[string]string{LabelVersion: o.Version, LabelTitle: "cairnd"}
	return oci.Image([]mutate.Addendum{{
		Layer:   l,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "cairn rootfs/image: " + strings.Join(binaryPaths(o.Binaries), " "), Comment: o.Version},
	}}, oci.Config{
		Arch:    "amd64",
		Created: created,
		Config: v1.Config{
			Entrypoint: Entrypoint,
			Cmd:        []string{"--state-dir", StateDir},
			Labels:     labels,
			StopSignal: "SIGTERM",
			WorkingDir: "/",
			ExposedPorts: map[string]struct{}{
				"6440/tcp": {}, "6441/tcp": {}, "6441/udp": {}, "6442/tcp": {},
			},
		},
		Annotations: labels,
	})
}

// binaryPaths are cairnd's path and the other binaries', sorted.
func binaryPaths(bins map[string][]byte) []string {
	ps := []string{CairndPath}
	for p := range bins {
		ps = append(ps, p)
	}
	sort.Strings(ps[1:])
	return ps
}

// checkBinaryPath refuses a path for a further binary that could not be
// laid out as a file of its own.
func checkBinaryPath(p string) error {
	rel := strings.TrimPrefix(p, "/")
	switch {
	case !path.IsAbs(p) || path.Clean(p) != p || rel == "":
		return fmt.Errorf("%w: %q is not an absolute, clean path", ErrBinaryPath, p)
	case p == CairndPath:
		return fmt.Errorf("%w: %s is cairnd's", ErrBinaryPath, p)
	}
	if _, ok := dirs[rel]; ok {
		return fmt.Errorf("%w: %s is a directory of the image", ErrBinaryPath, p)
	}
	return nil
}

// tree is the image's one layer: the directories, cairnd and the other
// binaries (0755), whose missing parents oci.Tar adds.
func tree(cairnd []byte, bins map[string][]byte, files map[string]File) map[string]oci.Entry {
	t := map[string]oci.Entry{CairndPath: {Data: cairnd}}
	for d, mode := range dirs {
		t["/"+d] = oci.Entry{Dir: true, Mode: mode}
	}
	for p, data := range bins {
		t[p] = oci.Entry{Data: data}
	}
	for p, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		t[p] = oci.Entry{Data: f.Data, Mode: mode, Link: f.Link}
	}
	return t
}

// Write writes img as a 'docker load' archive tagged tag.
func Write(w io.Writer, img v1.Image, tag string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q: %w", tag, err)
	}
	if err := tarball.Write(ref, img, w); err != nil {
		return fmt.Errorf("write image archive: %w", err)
	}
	return nil
}

// ID is the image ID Docker gives img once loaded: its config's digest.
func ID(img v1.Image) (string, error) {
	h, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Load builds the archive of img tagged tag and loads it into Docker with
// 'docker load' (no registry involved), returning the image ID.
func Load(img v1.Image, tag string) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(Write(pw, img, tag)) }()
	cmd := exec.Command("docker", "load", "--quiet")
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	_ = pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return "", fmt.Errorf("docker load: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return ID(img)
}

// BinaryVersion asks a cairnd binary its version ("cairnd V" from
// --version).
func BinaryVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "cairnd" {
		return "", fmt.Errorf("%s --version printed %q, not \"cairnd VERSION\"", bin, out)
	}
	return f[1], nil
}

// FromFile builds the image of the cairnd at bin, asking it its version,
// with the further binaries of binaries (image path → host file, as
// Options.Binaries; nil for none); created as in Options.
func FromFile(bin string, binaries map[string]string, files map[string]File, created time.Time) (v1.Image, string, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, "", fmt.Errorf("read cairnd: %w", err)
	}
	if err := oci.CheckStatic(data); err != nil {
		return nil, "", fmt.Errorf("%s: %w", bin, err)
	}
	v, err := BinaryVersion(bin)
	if err != nil {
		return nil, "", err
	}
	bins := make(map[string][]byte, len(binaries))
	for p, file := range binaries {
		if bins[p], err = os.ReadFile(file); err != nil {
			return nil, "", fmt.Errorf("read %s for %s: %w", file, p, err)
		}
	}
	img, err := Build(Options{Cairnd: data, Binaries: bins, Files: files, Version: v, Created: created})
	return img, v, err
}

// SourceDateEpoch returns $SOURCE_DATE_EPOCH as a time, zero when unset
// (reproducible-builds.org's convention for a build's fixed timestamp).
func SourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	var sec int64
	if _, err := fmt.Sscanf(v, "%d", &sec); err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", v, err)
	}
	return time.Unix(sec, 0), nil
}

// Size is the sum of the image's uncompressed layer sizes: what the image
// takes once loaded.
func Size(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
