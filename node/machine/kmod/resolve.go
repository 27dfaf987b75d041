package kmod

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Module is one module file to load.
type Module struct {
	// Name is the module's normalized name.
	Name string
	// Path is its file, joined to the index's root.
	Path string
	// Deps are the modules it needs loaded first (normalized names; built-in
	// ones left out).
	Deps []string
}

// Request is the resolution of one requested module.
type Request struct {
	// Name is the name as requested.
	Name string
	// Builtin is true for a module built into the kernel: nothing to load.
	Builtin bool
	// Err is why the module cannot be loaded (ErrUnknownModule, ErrCycle);
	// it fails only this request.
	Err error
	// Needs is the request's closure, in load order: its dependencies, then
	// the module itself (normalized names).
	Needs []string
}

// Plan is a resolved list of requested modules.
type Plan struct {
	// Order is every module to load, each once, every dependency before
	// its dependents.
	Order []Module
	// Requests is one entry per requested name, in request order.
	Requests []Request
}

// Resolve orders the requested modules after their dependencies. A
// request that cannot be resolved is reported in its Request and adds
// nothing to Order, so the others still load.
func (ix *Index) Resolve(names []string) Plan {
	var p Plan
	placed := map[string]bool{}
	for _, name := range names {
		req := Request{Name: name}
		n := Normalize(name)
		if ix.builtin[n] {
			req.Builtin = true
			p.Requests = append(p.Requests, req)
			continue
		}
		r := resolver{ix: ix, placed: placed, state: map[string]int{}}
		if err := r.visit(n, nil); err != nil {
			req.Err = fmt.Errorf("module %s: %w", name, err)
		} else {
			for _, m := range r.order {
				placed[m.Name] = true
			}
			p.Order = append(p.Order, r.order...)
			req.Needs = r.needs
		}
		p.Requests = append(p.Requests, req)
	}
	return p
}

const (
	visiting = 1
	done     = 2
)

// resolver is a depth-first walk of one request: a module is appended
// after all its dependencies (post-order), which is a topological order.
type resolver struct {
	ix     *Index
	placed map[string]bool // placed by earlier requests
	state  map[string]int
	order  []Module // new modules this request adds
	needs  []string // the request's whole closure
}

func (r *resolver) visit(n string, path []string) error {
	switch r.state[n] {
	case done:
		return nil
	case visiting:
		return fmt.Errorf("%w: %s", ErrCycle, strings.Join(append(path, n), " -> "))
	}
	if r.ix.builtin[n] {
		// A built-in dependency is already in the kernel.
		r.state[n] = done
		return nil
	}
	m, ok := r.ix.modules[n]
	if !ok {
		if len(path) > 0 {
			return fmt.Errorf("%w: %s (needed by %s)", ErrUnknownModule, n, path[len(path)-1])
		}
		return fmt.Errorf("%w: %s", ErrUnknownModule, n)
	}
	r.state[n] = visiting
	var deps []string
	for _, d := range m.deps {
		if err := r.visit(d, append(path, n)); err != nil {
			return err
		}
		if !r.ix.builtin[d] {
			deps = append(deps, d)
		}
	}
	r.state[n] = done
	r.needs = append(r.needs, n)
	if !r.placed[n] {
		p := m.path
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.ix.Root, p)
		}
		r.order = append(r.order, Module{Name: n, Path: p, Deps: deps})
	}
	return nil
}
