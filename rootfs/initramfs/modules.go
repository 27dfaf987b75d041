package initramfs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultModules are the modules cairnd as PID 1 loads for its own devices
// under QEMU with Debian's cloud kernel, where all of them are modules
// (node/machine/pid1 loads them in this order; their dependencies come in
// with them).
var DefaultModules = []string{
	"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"failover", "net_failover", "virtio_net", "virtio_blk", "qemu_fw_cfg",
}

// moduleName is the kernel's name of a module file:
// kernel/drivers/net/foo-bar.ko is foo_bar.
func moduleName(p string) string {
	base := path.Base(p)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// kernelModules is a kernel's modules directory as the package ships it:
// modules.order (every loadable module, in build order) and
// modules.builtin, but no modules.dep, which depmod writes at install
// time. The dependencies are read from each module's .modinfo instead.
type kernelModules struct {
	dir         string            // lib/modules/VERSION on the host
	order       []string          // module paths relative to dir
	byName      map[string]string // name → path
	builtin     map[string]bool
	builtinFile []byte
}

func openModules(dir string) (*kernelModules, error) {
	km := &kernelModules{dir: dir, byName: map[string]string{}, builtin: map[string]bool{}}
	order, err := os.ReadFile(filepath.Join(dir, "modules.order"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModules, err)
	}
	for _, l := range strings.Fields(string(order)) {
		km.order = append(km.order, l)
		km.byName[moduleName(l)] = l
	}
	if km.builtinFile, err = os.ReadFile(filepath.Join(dir, "modules.builtin")); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModules, err)
	}
	for _, l := range strings.Fields(string(km.builtinFile)) {
		km.builtin[moduleName(l)] = true
	}
	return km, nil
}

// depends reads the "depends=" entry of a module file's .modinfo section:
// the names of the modules it needs, which is what depmod reads too.
func depends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModules, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("%w: %s has no .modinfo", ErrModules, file)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrModules, file, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var out []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					out = append(out, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return out, nil
		}
	}
	return nil, nil
}

// moduleSet is the closure of the requested modules over their
// dependencies: each loadable module with its direct dependencies.
type moduleSet map[string][]string

// closure resolves names (built-ins are skipped, as modprobe does) and
// their dependencies with deps, which reads a module's direct ones.
func closure(names []string, loadable map[string]string, builtin map[string]bool,
	deps func(path string) ([]string, error)) (moduleSet, error) {
	set := moduleSet{}
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		n = strings.ReplaceAll(n, "-", "_")
		if _, done := set[n]; done || builtin[n] {
			return nil
		}
		p, ok := loadable[n]
		if !ok {
			return fmt.Errorf("%w: %s is neither in modules.order nor built in (%s)",
				ErrModules, n, strings.Join(append(chain, n), " -> "))
		}
		ds, err := deps(p)
		if err != nil {
			return err
		}
		set[n] = ds
		for _, d := range ds {
			if err := visit(d, append(chain, n)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// transitive returns every loadable module n needs, depmod's way: the
// module's dependencies before theirs, so that loading the list from the
// end loads each module after what it needs.
func (s moduleSet) transitive(n string) []string {
	var post []string
	seen := map[string]bool{n: true}
	var walk func(string)
	walk = func(m string) {
		for _, d := range s[m] {
			if _, loadable := s[d]; !loadable || seen[d] {
				continue
			}
			seen[d] = true
			walk(d)
			post = append(post, d)
		}
	}
	walk(n)
	slices.Reverse(post)
	return post
}

// subset returns the requested modules' closure and its index files:
// modules.dep and modules.order for the subset (in the kernel's build
// order) and modules.builtin as shipped.
func (km *kernelModules) subset(names []string) (paths []string, index map[string][]byte, err error) {
	set, err := closure(names, km.byName, km.builtin, func(p string) ([]string, error) {
		return depends(filepath.Join(km.dir, p))
	})
	if err != nil {
		return nil, nil, err
	}
	var dep, order bytes.Buffer
	w := bufio.NewWriter(&dep)
	for _, p := range km.order {
		n := moduleName(p)
		if _, ok := set[n]; !ok {
			continue
		}
		paths = append(paths, p)
		fmt.Fprintln(&order, p)
		var ds []string
		for _, d := range set.transitive(n) {
			ds = append(ds, km.byName[d])
		}
		fmt.Fprintf(w, "%s:", p)
		for _, d := range ds {
			fmt.Fprintf(w, " %s", d)
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		return nil, nil, err
	}
	return paths, map[string][]byte{
		"modules.dep":     dep.Bytes(),
		"modules.order":   order.Bytes(),
		"modules.builtin": km.builtinFile,
	}, nil
}
