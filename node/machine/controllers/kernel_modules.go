package controllers

import (
	"context"
	"errors"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/kmod"
	"github.com/cairn-project/cairn/node/runtime"
)

// KernelModules loads the kernel modules the KernelModuleSpec resources
// name, dependencies first, and reports each as KernelModuleStatus (ID =
// the spec's ID): loaded, builtin, failed with why, or skipped with the
// reason where the machine lacks capability.KernelModules (a container's
// modules belong to its host; a process may not touch the kernel).
//
// Every pass loads the whole list again; a module already loaded is
// success (EEXIST), so that costs one syscall per module and keeps no
// memory of earlier passes.
//
// Which failures fail the pass: one that will recur until the image or
// the specs change (an unknown module, a dependency cycle, a compressed
// file, a module the kernel rejects, a modules directory without
// modules.dep) is reported in the statuses only and the pass returns nil,
// so the runtime does not retry what cannot pass and one missing module
// never holds up the rest. A transient one (kmod.Transient: the kernel
// busy or short of memory, or the index unreadable for another reason)
// is reported too, and the pass returns it so the runtime retries with
// backoff; the statuses written stay, and the retry reloads the others
// as no-ops.
type KernelModules struct {
	Capabilities capability.Set
	// Root is the modules directory; "" means /lib/modules/$(uname -r).
	Root string
	// Loader loads one module file; nil means kmod.Finit (finit_module).
	Loader kmod.Loader
}

// Name implements runtime.Controller.
func (c *KernelModules) Name() string { return "kernel-modules" }

// Inputs implements runtime.Controller.
func (c *KernelModules) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeKernelModuleSpec}}
}

// Outputs implements runtime.Controller.
func (c *KernelModules) Outputs() []string { return []string{TypeKernelModuleStatus} }

// Run implements runtime.Controller.
func (c *KernelModules) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	specs, err := r.List(TypeKernelModuleSpec)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return nil
	}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.ID)
	}
	if !c.Capabilities.Has(capability.KernelModules) {
		return putAll(w, names, KernelModuleStatusSpec{
			State: "skipped", Error: "skipped: " + c.Capabilities.Reason(capability.KernelModules),
		})
	}
	ix, err := c.index()
	if err != nil {
		failed := KernelModuleStatusSpec{State: string(kmod.Failed), Error: err.Error()}
		if errors.Is(err, kmod.ErrNoIndex) {
			return putAll(w, names, failed)
		}
		return errors.Join(putAll(w, names, failed), err)
	}
	loader := c.Loader
	if loader == nil {
		loader = kmod.Finit{}
	}
	var errs []error
	for _, res := range kmod.Load(loader, ix.Resolve(names)) {
		st := KernelModuleStatusSpec{State: string(res.State)}
		if res.Err != nil {
			st.Error = res.Err.Error()
			if kmod.Transient(res.Err) {
				errs = append(errs, res.Err)
			}
		}
		errs = append(errs, w.Put(TypeKernelModuleStatus, res.Name, st, nil))
	}
	return errors.Join(errs...)
}

func (c *KernelModules) index() (*kmod.Index, error) {
	root := c.Root
	if root == "" {
		var err error
		if root, err = kmod.DefaultRoot(); err != nil {
			return nil, err
		}
	}
	return kmod.Open(root)
}

func putAll(w runtime.Writer, names []string, st KernelModuleStatusSpec) error {
	var errs []error
	for _, n := range names {
		errs = append(errs, w.Put(TypeKernelModuleStatus, n, st, nil))
	}
	return errors.Join(errs...)
}
