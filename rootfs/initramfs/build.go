// Package initramfs builds the kernel and initramfs that Cairn VMs boot:
// Debian's cloud kernel and the modules cairnd needs for QEMU's virtio
// devices, cairnd as /init, etcd (static, /usr/bin/etcd) for control
// planes, and mkfs.ext4 with its libraries for the state disk — nothing
// else (DESIGN.md). Packages come from the host's
// apt into a cache and are unpacked there with dpkg-deb; nothing is
// installed on the host.
package initramfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
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
	// Extra are further entries by their absolute path in the image: the
	// Kubernetes node's files (rootfs/image.KubernetesFiles), which
	// mkinitramfs --kubernetes adds. Optional.
	Extra map[string]Entry
	// Name is the archive's file name in OutDir: DefaultName when empty.
	// A name that does not end in ".gz" is written uncompressed
	// (WriteRawCPIO).
	Name string
	// Log receives progress lines; discarded when nil.
	Log io.Writer
}

// Entry is one of Options.Extra: a symbolic link (Link), a file with
// content Data, or the host file Src; Mode is its permissions (0644 when
// zero).
type Entry struct {
	Src  string
	Data []byte
	Link string
	Mode fs.FileMode
}

// DefaultName is the initramfs's file name in OutDir;
// KubernetesName the one with the Kubernetes node's files
// (mkinitramfs --kubernetes), uncompressed.
const (
	DefaultName    = "initramfs.cpio.gz"
	KubernetesName = "initramfs-kubernetes.cpio"
)

// KubernetesModules are the kernel modules a Kubernetes node loads
// (node/machine/kube.KernelModules, which a test compares with this):
// overlayfs, bridge, veth, br_netfilter and nf_tables with kube-proxy's
// expressions. mkinitramfs --kubernetes adds them to Modules.
var KubernetesModules = []string{
	"overlay", "bridge", "veth", "br_netfilter",
	"nf_conntrack", "nf_nat", "nf_tables", "nft_ct", "nft_nat", "nft_chain_nat", "nft_masq",
	"nft_redir", "nft_reject", "nft_reject_inet", "nft_reject_ipv4", "nft_reject_ipv6", "nft_fib", "nft_fib_inet", "nft_fib_ipv4", "nft_fib_ipv6",
	"nft_numgen", "nft_limit", "nft_hash", "nft_compat",
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
	if err := addExtra(t, o.Extra); err != nil {
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
	if o.Name == "" {
		o.Name = DefaultName
	}
	res.Initramfs = filepath.Join(o.OutDir, o.Name)
	if res.SHA256, err = writeArchive(t, res.Initramfs, strings.HasSuffix(o.Name, ".gz")); err != nil {
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

// addExtra adds Options.Extra to t, refusing one that is not absolute or
// would replace a file the image has (cairnd, etcd, a module) with other
// content; the same file twice (a library both mkfs.ext4 and nft link
// against, from the same package) is kept once.
func addExtra(t *Tree, extra map[string]Entry) error {
	for p, e := range extra {
		if !path.IsAbs(p) || path.Clean(p) != p {
			return fmt.Errorf("%w: extra entry %q: not an absolute, clean path", ErrPackage, p)
		}
		if old, ok := t.entries[clean(p)]; ok && !old.mode.IsDir() {
			if same, err := sameEntry(old, e); err != nil || !same {
				return fmt.Errorf("%w: extra entry %s: the image has it already, with other content (%v)", ErrPackage, p, err)
			}
			continue
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		switch {
		case e.Link != "":
			t.Symlink(p, e.Link)
		case e.Data != nil:
			t.Bytes(p, e.Data, mode)
		case e.Src != "":
			t.File(p, e.Src, mode)
		default:
			return fmt.Errorf("%w: extra entry %s: no link, data or source", ErrPackage, p)
		}
	}
	return nil
}

// sameEntry reports whether e has old's content (a link's target, a
// file's bytes).
func sameEntry(old entry, e Entry) (bool, error) {
	if old.link != "" || e.Link != "" {
		return old.link == e.Link, nil
	}
	read := func(data []byte, src string) ([]byte, error) {
		if data != nil {
			return data, nil
		}
		return os.ReadFile(src)
	}
	a, err := read(old.data, old.src)
	if err != nil {
		return false, err
	}
	b, err := read(e.Data, e.Src)
	if err != nil {
		return false, err
	}
	return bytes.Equal(a, b), nil
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

// writeArchive writes t to file, gzip-compressed or not (through a
// temporary file, so a failed build leaves no half archive) and returns
// its sha256.
func writeArchive(t *Tree, file string, compress bool) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".initramfs-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	write := t.WriteRawCPIO
	if compress {
		write = t.WriteCPIO
	}
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
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
