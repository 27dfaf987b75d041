package controllers

import (
	"context"
	"errors"

	"github.com/cairn-project/cairn/node/runtime"
)

// SysctlSpecs produces a SysctlSpec per kernel parameter this node's entry
// of the cluster config sets (kernel.sysctls; ID = the dotted name). It
// only translates; Sysctls writes them.
type SysctlSpecs struct {
	// NodeName selects this node's entry in the config.
	NodeName string
}

// Name implements runtime.Controller.
func (c *SysctlSpecs) Name() string { return "sysctl-spec" }

// Inputs implements runtime.Controller.
func (c *SysctlSpecs) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}}
}

// Outputs implements runtime.Controller.
func (c *SysctlSpecs) Outputs() []string { return []string{TypeSysctlSpec} }

// Run implements runtime.Controller.
func (c *SysctlSpecs) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	_, n, _, err := nodeEntry(r, c.NodeName)
	if err != nil || n == nil {
		return err
	}
	var errs []error
	for name, value := range n.Kernel.Sysctls {
		errs = append(errs, w.Put(TypeSysctlSpec, name, SysctlSpecSpec{Value: value}, nil))
	}
	return errors.Join(errs...)
}
