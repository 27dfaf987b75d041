package controllers

import (
	"context"
	"errors"
	"strings"

	"github.com/cairn-project/cairn/node/runtime"
)

// KernelModuleSpecs produces a KernelModuleSpec per kernel module this
// node's entry of the cluster config lists (ID = the module name, dashes as
// underscores, as the kernel names modules), plus those the image needs
// for its own devices (Image). It only translates; KernelModules loads.
type KernelModuleSpecs struct {
	// NodeName selects this node's entry in the config.
	NodeName string
	// Image lists modules the boot image needs (its virtio drivers); none
	// in process and container modes.
	Image []string
}

// Name implements runtime.Controller.
func (c *KernelModuleSpecs) Name() string { return "kernel-module-spec" }

// Inputs implements runtime.Controller.
func (c *KernelModuleSpecs) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}}
}

// Outputs implements runtime.Controller.
func (c *KernelModuleSpecs) Outputs() []string { return []string{TypeKernelModuleSpec} }

// Run implements runtime.Controller.
func (c *KernelModuleSpecs) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	var errs []error
	put := func(name, source string) {
		errs = append(errs, w.Put(TypeKernelModuleSpec, strings.ReplaceAll(name, "-", "_"), KernelModuleSpecSpec{Source: source}, nil))
	}
	for _, m := range c.Image {
		put(m, "image")
	}
	_, n, _, err := nodeEntry(r, c.NodeName)
	if err != nil {
		return err
	}
	if n != nil {
		for _, m := range n.Kernel.Modules {
			put(m.Name, "config")
		}
	}
	return errors.Join(errs...)
}
