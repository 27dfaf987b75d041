package initramfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// debPackage is one Debian package as `apt-cache show` describes its
// candidate version.
type debPackage struct {
	Name     string
	Version  string
	Filename string // the pool path; its base is the cached file's name
	SHA256   string
}

// file is the package's cached .deb under dir.
func (p debPackage) file(dir string) string { return filepath.Join(dir, filepath.Base(p.Filename)) }

// kernelPackage matches the versioned kernel package the metapackage
// depends on, such as linux-image-6.1.0-57-cloud-amd64.
var kernelPackage = regexp.MustCompile(`^linux-image-[0-9][^ ]*-cloud-amd64$`)

// parseKernelDepends picks the versioned kernel package from the output of
// `apt-cache depends linux-image-cloud-amd64`.
func parseKernelDepends(out []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && strings.TrimSpace(k) == "Depends" && kernelPackage.MatchString(strings.TrimSpace(v)) {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%w: no Depends on linux-image-*-cloud-amd64 in apt-cache depends %s", ErrPackage, KernelMetapackage)
}

// parseShow reads the first stanza of `apt-cache show --no-all-versions`.
func parseShow(name string, out []byte) (debPackage, error) {
	p := debPackage{Name: name}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the end of the first stanza
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		switch v = strings.TrimSpace(v); k {
		case "Version":
			p.Version = v
		case "Filename":
			p.Filename = v
		case "SHA256":
			p.SHA256 = v
		}
	}
	if p.Version == "" || p.Filename == "" || p.SHA256 == "" {
		return p, fmt.Errorf("%w: apt-cache show %s gave no Version, Filename and SHA256 (run apt-get update?)", ErrPackage, name)
	}
	return p, nil
}

// apt resolves and fetches packages with the host's apt, into a cache
// directory; nothing is installed.
type apt struct {
	cache string // .deb files
	log   io.Writer
}

func (a apt) run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// resolve returns the candidate versions of names and of the versioned
// kernel package linux-image-cloud-amd64 depends on, sorted by name.
func (a apt) resolve(ctx context.Context, names []string) ([]debPackage, error) {
	out, err := a.run(ctx, "", "apt-cache", "depends", "--no-recommends", "--no-suggests", KernelMetapackage)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPackage, err)
	}
	kernel, err := parseKernelDepends(out)
	if err != nil {
		return nil, err
	}
	all := append(slices.Clone(names), KernelMetapackage, kernel)
	slices.Sort(all)
	all = slices.Compact(all)
	pkgs := make([]debPackage, 0, len(all))
	for _, n := range all {
		out, err := a.run(ctx, "", "apt-cache", "show", "--no-all-versions", n)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPackage, err)
		}
		p, err := parseShow(n, out)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// fetch makes sure p's .deb is in the cache with the digest apt's index
// names, downloading it with `apt-get download` if not.
func (a apt) fetch(ctx context.Context, p debPackage) (string, error) {
	path := p.file(a.cache)
	if err := checkSHA256(path, p.SHA256); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(a.cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(a.cache, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(a.log, "downloading %s %s\n", p.Name, p.Version)
	if _, err := a.run(ctx, tmp, "apt-get", "download", "-q", p.Name+"="+p.Version); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPackage, err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("%w: apt-get download %s left %d .deb files", ErrPackage, p.Name, len(debs))
	}
	if err := checkSHA256(debs[0], p.SHA256); err != nil {
		return "", err
	}
	return path, os.Rename(debs[0], path)
}

// checkSHA256 fails unless the file at path has the digest want.
func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %s has sha256 %s, apt's index says %s", ErrPackage, path, got, want)
	}
	return nil
}

// unpack extracts debs with `dpkg-deb -x` into one directory under root,
// named for their files, and reuses it when a previous build completed it.
func unpack(ctx context.Context, root string, debs []string) (string, error) {
	h := sha256.New()
	for _, d := range debs {
		fmt.Fprintln(h, filepath.Base(d))
	}
	dir := filepath.Join(root, "root-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, d := range debs {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", d, dir).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%w: dpkg-deb -x %s: %w: %s", ErrPackage, d, err, out)
		}
	}
	return dir, os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}
