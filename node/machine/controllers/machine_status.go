package controllers

import (
	"context"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/runtime"
)

// MachineStatus produces MachineStatus/machine: the mode cairnd runs in and
// every capability with whether this machine has it and, if not, why
// (`cairnctl get machinestatus`). The capabilities are decided once at start,
// so its one pass runs then.
type MachineStatus struct {
	Capabilities capability.Set
}

// Name implements runtime.Controller.
func (c *MachineStatus) Name() string { return "machine-status" }

// Inputs implements runtime.Controller: none, the capabilities are fixed.
func (c *MachineStatus) Inputs() []runtime.Input { return nil }

// Outputs implements runtime.Controller.
func (c *MachineStatus) Outputs() []string { return []string{TypeMachineStatus} }

// Run implements runtime.Controller.
func (c *MachineStatus) Run(_ context.Context, _ runtime.Reader, w runtime.Writer) error {
	return w.Put(TypeMachineStatus, IDMachine, MachineStatusSpec{
		Mode: c.Capabilities.Mode, Capabilities: c.Capabilities.Statuses(),
	}, nil)
}
