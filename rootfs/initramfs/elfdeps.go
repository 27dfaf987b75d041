package initramfs

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// librarySearchPath is where the dynamic loader looks for a library when
// no /etc/ld.so.cache exists, as Debian's glibc is built (`ld.so --help`
// lists these "system search path" directories). The image ships no
// cache, so libraries must be in one of these.
var librarySearchPath = []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib"}

// rootFS resolves paths inside an unpacked package tree, following
// symlinks (absolute ones relative to the tree) the way the target system
// will.
type rootFS struct{ dir string }

// add puts the image path p into t as the tree holds it: each symlink on
// the way as a symlink, then the file it ends at. It returns the host path
// of that file.
func (r rootFS) add(t *Tree, p string) (string, error) {
	p = clean(p)
	for range 40 { // the kernel's limit on nested symlinks
		resolved, err := r.resolveDir(path.Dir(p))
		if err != nil {
			return "", err
		}
		p = path.Join(resolved, path.Base(p))
		host := filepath.Join(r.dir, filepath.FromSlash(p))
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			t.File(p, host, fi.Mode().Perm())
			return host, nil
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		t.Symlink(p, target)
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(p), target)
		}
		p = clean(target)
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

// resolveDir follows symlinks among the directories of p.
func (r rootFS) resolveDir(p string) (string, error) {
	out := ""
	for _, c := range strings.Split(clean(p), "/") {
		if c == "" || c == "." {
			continue
		}
		next := path.Join(out, c)
		fi, err := os.Lstat(filepath.Join(r.dir, next))
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(filepath.Join(r.dir, next))
			if err != nil {
				return "", err
			}
			if !strings.HasPrefix(target, "/") {
				target = path.Join(out, target)
			}
			if next, err = r.resolveDir(target); err != nil {
				return "", err
			}
		}
		out = next
	}
	return out, nil
}

// addProgram adds the dynamically linked program p, its loader (PT_INTERP)
// and the shared libraries it needs, recursively (DT_NEEDED), found in the
// loader's default search path.
func (r rootFS) addProgram(t *Tree, p string) error {
	host, err := r.add(t, p)
	if err != nil {
		return err
	}
	return r.addNeeded(t, host, map[string]bool{})
}

func (r rootFS) addNeeded(t *Tree, host string, seen map[string]bool) error {
	f, err := elf.Open(host)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLibrary, err)
	}
	defer f.Close()
	if interp := interpreter(f); interp != "" && !seen[interp] {
		seen[interp] = true
		if _, err := r.add(t, interp); err != nil {
			return fmt.Errorf("%w: loader %s: %w", ErrLibrary, interp, err)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrLibrary, host, err)
	}
	for _, lib := range libs {
		if seen[lib] {
			continue
		}
		seen[lib] = true
		libHost, err := r.addLibrary(t, lib)
		if err != nil {
			return err
		}
		if err := r.addNeeded(t, libHost, seen); err != nil {
			return err
		}
	}
	return nil
}

func (r rootFS) addLibrary(t *Tree, lib string) (string, error) {
	for _, d := range librarySearchPath {
		p := path.Join(d, lib)
		if _, err := os.Stat(filepath.Join(r.dir, p)); err == nil {
			return r.add(t, p)
		}
	}
	return "", fmt.Errorf("%w: %s is in none of %s of the unpacked packages", ErrLibrary, lib, strings.Join(librarySearchPath, ", "))
}

// interpreter returns the program's PT_INTERP, or "" for a static one.
func interpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "?"
		}
		return strings.TrimRight(string(b), "\x00")
	}
	return ""
}

// checkStatic fails unless the file is a static executable.
func checkStatic(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotStatic, err)
	}
	defer f.Close()
	if interp := interpreter(f); interp != "" {
		return fmt.Errorf("%w: %s asks for the loader %s (build it with CGO_ENABLED=0)", ErrNotStatic, file, interp)
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%w: %s needs %s", ErrNotStatic, file, strings.Join(libs, ", "))
	}
	return nil
}
