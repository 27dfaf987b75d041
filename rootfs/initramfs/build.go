// Package initramfs builds the kernel and initramfs that Cairn VMs boot:
// Debian's cloud kernel and the modules cairnd needs for QEMU's virtio
// devices, cairnd as /init, etcd (static, /usr/bin/etcd) for control
// planes, and mkfs.ext4 with its libraries for the state disk — nothing
// else (DESIGN.md). Packages come from the host's
// apt into a cache and are unpacked there with dpkg-deb; nothing is
// installed on the host.
package initramfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// KernelMetapackage is Debian's package that depends on the current cloud
// kernel.
const KernelMetapackage = "linux-image-cloud-amd64"

// userPackages hold the non-Go programs of the image and their libraries:
// e2fsprogs's mke2fs (the state disk's mkfs.ext4) and what it links
// against. Which files are taken is decided by the ELF headers, not this
// list; the list only says where to find them.
var userPackages = []string{"e2fsprogs", "libblkid1", "libc6", "libcom-err2", "libext2fs2", "libuuid1"}

// EtcdPath is etcd in the initramfs (tools/etcd, `make etcd`), where the
// container image has it too; cairnd's supervisor execs it.
const EtcdPath = "usr/bin/etcd"

// mountPoints are the empty directories cairnd mounts over as PID 1.
var mountPoints = []string{"proc", "sys", "dev", "run", "tmp", "var", "etc"}

// Options says what to build.
type Options struct {
	// Cairnd is the static cairnd binary that becomes /init.
	Cairnd string
	// Etcd is the static etcd binary that becomes /usr/bin/etcd; none when
	// empty.
	Etcd string
	// OutDir receives vmlinuz and initramfs.cpio.gz.
	OutDir string
	// CacheDir holds downloaded and unpacked packages between builds;
	// DefaultCacheDir when empty.
	CacheDir string
	// Modules are loaded by cairnd at boot; DefaultModules when nil. Their
	// dependencies are added.
	Modules []string
	// Log receives progress lines; discarded when nil.
	Log io.Writer
}

// Result is what Build wrote.
type Result struct {
	Kernel        string // OutDir/vmlinuz
	Initramfs     string // OutDir/initramfs.cpio.gz
	KernelVersion string // the modules directory's name, uname -r
	// Packages are the Debian packages used, as "name version".
	Packages []string
	// Paths are the initramfs's entries, in archive order.
	Paths []string
	// SHA256 is the initramfs's digest.
	SHA256 string
}

// DefaultCacheDir is $XDG_CACHE_HOME/cairn/initramfs, else
// ~/.cache/cairn/initramfs.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cairn", "initramfs"), nil
}

// Build downloads (or reuses) the packages and writes the kernel and the
// initramfs. The same packages and cairnd give the same files.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Modules == nil {
		o.Modules = DefaultModules
	}
	if o.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		o.CacheDir = d
	}
	if err := checkStatic(o.Cairnd); err != nil {
		return nil, err
	}
	if o.Etcd != "" {
		if err := checkStatic(o.Etcd); err != nil {
			return nil, err
		}
	}
	a := apt{cache: filepath.Join(o.CacheDir, "debs"), log: o.Log}
	pkgs, err := a.resolve(ctx, userPackages)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	debs := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		f, err := a.fetch(ctx, p)
		if err != nil {
			return nil, err
		}
		debs = append(debs, f)
		res.Packages = append(res.Packages, p.Name+" "+p.Version)
	}
	root, err := unpack(ctx, o.CacheDir, debs)
	if err != nil {
		return nil, err
	}
	t, kver, err := assemble(rootFS{dir: root}, o.Cairnd, o.Etcd, o.Modules)
	if err != nil {
		return nil, err
	}
	res.KernelVersion = kver
	res.Paths = t.Paths()
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	res.Kernel = filepath.Join(o.OutDir, "vmlinuz")
	if err := copyFile(filepath.Join(root, "boot", "vmlinuz-"+kver), res.Kernel); err != nil {
		return nil, err
	}
	res.Initramfs = filepath.Join(o.OutDir, "initramfs.cpio.gz")
	if res.SHA256, err = writeArchive(t, res.Initramfs); err != nil {
		return nil, err
	}
	return res, nil
}

// assemble lays out the image from the unpacked packages; etcd is
// optional.
func assemble(r rootFS, cairnd, etcd string, modules []string) (*Tree, string, error) {
	t := NewTree()
	t.File("init", cairnd, 0o755)
	if etcd != "" {
		t.File(EtcdPath, etcd, 0o755)
	}
	for _, d := range mountPoints {
		t.Dir(d)
	}
	kver, err := kernelVersion(r.dir)
	if err != nil {
		return nil, "", err
	}
	mdir := path.Join("lib/modules", kver)
	km, err := openModules(filepath.Join(r.dir, mdir))
	if err != nil {
		return nil, "", err
	}
	paths, index, err := km.subset(modules)
	if err != nil {
		return nil, "", err
	}
	for _, p := range paths {
		t.File(path.Join(mdir, p), filepath.Join(km.dir, p), 0o644)
	}
	for name, data := range index {
		t.Bytes(path.Join(mdir, name), data, 0o644)
	}
	// mkfs.ext4 formats the state disk (node/machine/statedisk).
	if _, err := r.add(t, "sbin/mkfs.ext4"); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrPackage, err)
	}
	if err := r.addProgram(t, "sbin/mkfs.ext4"); err != nil {
		return nil, "", err
	}
	if _, err := r.add(t, "etc/mke2fs.conf"); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrPackage, err)
	}
	return t, kver, nil
}

// kernelVersion names the one kernel the packages hold, by its modules
// directory.
func kernelVersion(root string) (string, error) {
	ds, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrModules, err)
	}
	var vs []string
	for _, d := range ds {
		if d.IsDir() {
			vs = append(vs, d.Name())
		}
	}
	if len(vs) != 1 {
		return "", fmt.Errorf("%w: want one kernel in lib/modules, found %q", ErrModules, strings.Join(vs, " "))
	}
	return vs[0], nil
}

// writeArchive writes t to file (through a temporary file, so a failed
// build leaves no half archive) and returns its sha256.
func writeArchive(t *Tree, file string) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".initramfs-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if err := t.WriteCPIO(io.MultiWriter(tmp, h)); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), os.Rename(tmp.Name(), file)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
