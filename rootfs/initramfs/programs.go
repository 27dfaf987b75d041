package initramfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// NftPackages are Debian's nft and what it links against: kube-proxy
// (nftables mode) programs Services with it on every Kubernetes node. No
// static nft is packaged (libnftables and libmnl ship no archives), so the
// node image carries it as the initramfs carries mkfs.ext4: the program,
// its loader and its libraries, chosen by their ELF headers.
var NftPackages = []string{"nftables", "libnftables1", "libnftnl11", "libmnl0", "libjansson4", "libgmp10",
	"libxtables12", "libedit2", "libbsd0", "libmd0", "libtinfo6", "libc6"}

// NftPath is nft in the tree Programs writes for NftPackages.
const NftPath = "usr/sbin/nft"

// Programs fetches packages with apt (into cacheDir/debs; nothing is
// installed), unpacks them under cacheDir, and writes programs (paths in
// the packages) with their loader and libraries into outDir as a root
// tree (files, and the packages' symlinks as symlinks), replacing what was
// there. It returns the tree's paths and the packages' "name version".
func Programs(ctx context.Context, cacheDir string, packages, programs []string, outDir string, log io.Writer) ([]string, []string, error) {
	if log == nil {
		log = io.Discard
	}
	a := apt{cache: filepath.Join(cacheDir, "debs"), log: log}
	names := slices.Sorted(slices.Values(packages))
	var debs, versions []string
	for _, n := range slices.Compact(names) {
		out, err := a.run(ctx, "", "apt-cache", "show", "--no-all-versions", n)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrPackage, err)
		}
		p, err := parseShow(n, out)
		if err != nil {
			return nil, nil, err
		}
		f, err := a.fetch(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		debs = append(debs, f)
		versions = append(versions, p.Name+" "+p.Version)
	}
	root, err := unpack(ctx, cacheDir, debs)
	if err != nil {
		return nil, nil, err
	}
	r, t := rootFS{dir: root}, NewTree()
	for _, p := range programs {
		if err := r.addProgram(t, p); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := os.RemoveAll(outDir); err != nil {
		return nil, nil, err
	}
	if err := t.WriteDir(outDir); err != nil {
		return nil, nil, err
	}
	return t.Paths(), versions, nil
}

// WriteDir writes the tree under dir: directories, files (copied, with
// their modes) and symlinks.
func (t *Tree) WriteDir(dir string) error {
	for _, p := range t.Paths() {
		e, host := t.entries[p], filepath.Join(dir, filepath.FromSlash(p))
		var err error
		switch {
		case e.mode.IsDir():
			err = os.MkdirAll(host, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, host)
		case e.data != nil:
			err = os.WriteFile(host, e.data, e.mode.Perm())
		default:
			err = copyFileMode(e.src, host, e.mode.Perm())
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func copyFileMode(src, dst string, perm os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, perm)
}
