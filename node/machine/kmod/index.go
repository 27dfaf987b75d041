// Package kmod resolves and loads kernel modules for cairnd as PID 1: it
// reads the modules directory's modules.dep and modules.builtin, orders
// the requested modules after their dependencies, and loads each with
// finit_module. There is no modprobe on a Cairn machine (DESIGN.md).
package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Index is a parsed modules directory: where each module's file is, what
// it depends on, and which modules are built into the kernel.
type Index struct {
	// Root is the modules directory; module paths are relative to it.
	Root    string
	modules map[string]module
	builtin map[string]bool
}

type module struct {
	path string   // as modules.dep names it
	deps []string // normalized names, as modules.dep lists them
}

// DefaultRoot returns the running kernel's modules directory,
// /lib/modules/$(uname -r).
func DefaultRoot() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:])), nil
}

// Open reads root's modules.dep and, if present, modules.builtin (a kernel
// built without modules.builtin has no built-in modules to report).
func Open(root string) (*Index, error) {
	ix := &Index{Root: root}
	f, err := os.Open(filepath.Join(root, "modules.dep"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNoIndex, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open modules index: %w", err)
	}
	defer f.Close()
	if ix.modules, err = ParseDep(f); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	b, err := os.Open(filepath.Join(root, "modules.builtin"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ix.builtin = map[string]bool{}
		return ix, nil
	case err != nil:
		return nil, fmt.Errorf("open modules index: %w", err)
	}
	defer b.Close()
	if ix.builtin, err = ParseBuiltin(b); err != nil {
		return nil, fmt.Errorf("read %s: %w", b.Name(), err)
	}
	return ix, nil
}

// Normalize returns the name modules are known by: modprobe treats dashes
// and underscores alike, and the kernel names modules with underscores.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// nameOf returns the module name of a module file path:
// kernel/drivers/net/foo-bar.ko.zst is foo_bar.
func nameOf(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return Normalize(base)
}

// ParseDep parses modules.dep: one line per module, "path: dep dep …",
// paths relative to the modules directory. It returns the modules by
// normalized name.
func ParseDep(r io.Reader) (map[string]module, error) {
	out := map[string]module{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, deps, ok := strings.Cut(line, ":")
		path = strings.TrimSpace(path)
		if !ok || path == "" {
			return nil, fmt.Errorf("%w: line %d: %q", ErrMalformed, n, line)
		}
		m := module{path: path}
		for _, d := range strings.Fields(deps) {
			m.deps = append(m.deps, nameOf(d))
		}
		out[nameOf(path)] = m
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return out, nil
}

// ParseBuiltin parses modules.builtin: one module path per line. It returns
// the set of normalized names.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out[nameOf(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return out, nil
}
