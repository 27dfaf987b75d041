package controllers

import (
	"context"
	"errors"
	"fmt"
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
	res, err := r.Get(TypeClusterConfig, IDCluster)
	if errors.Is(err, runtime.ErrNotFound) {
		return errors.Join(errs...)
	}
	if err != nil {
		return err
	}
	spec, ok := res.Spec.(ClusterConfigSpec)
	if !ok {
		return fmt.Errorf("cluster config resource holds %T", res.Spec)
	}
	for _, n := range spec.Config.Nodes {
		if n.Name != c.NodeName {
			continue
		}
		for _, m := range n.Kernel.Modules {
			put(m.Name, "config")
		}
	}
	return errors.Join(errs...)
}
