package controllers

import (
	"context"
	"errors"

	"github.com/cairn-project/cairn/node/runtime"
)

// BootReport is what cairnd's boot steps before node.Run did (pid1 mode:
// mounts, image modules, the host NIC, where the config came from, the
// state disk), handed to the node as a value so that `cairnctl get
// bootstatus` and `get statediskstatus` show it.
type BootReport struct {
	Boot BootStatusSpec
	// StateDisk is the state disk's outcome; nil where the mode has none.
	StateDisk *StateDiskStatusSpec
}

// BootStage is one step of the boot before the node ran.
type BootStage struct {
	// Name is the step: "mount /proc", "module virtio_net", "hostnet",
	// "root read-only", "config".
	Name string `json:"name"`
	// State is "ok", "failed" or "skipped".
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Boot stage states.
const (
	StageOK      = "ok"
	StageFailed  = "failed"
	StageSkipped = "skipped"
)

// BootStatusSpec is the spec of BootStatus/machine.
type BootStatusSpec struct {
	Mode string `json:"mode"`
	// ConfigSource says where the cluster config came from: "fwcfg",
	// "/dev/vdb:cluster.yaml", "saved on /dev/vda1", "maintenance".
	ConfigSource string      `json:"configSource,omitempty"`
	Stages       []BootStage `json:"stages,omitempty"`
	// Failed counts the failed stages.
	Failed int `json:"failed"`
}

// StateDiskStatusSpec is the spec of StateDiskStatus/var.
type StateDiskStatusSpec struct {
	// State is "none" (no disk configured: state in memory), "mounted",
	// "formatted" (first boot), "refused" (holds something else: never
	// written; the node runs with its state in memory until reset), or
	// "failed" (no disk matched, or an error).
	State      string `json:"state"`
	Disk       string `json:"disk,omitempty"`
	Partition  string `json:"partition,omitempty"`
	MountPoint string `json:"mountPoint,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// IDVar is the state disk's resource ID: its mount point.
const IDVar = "var"

// BootStatus publishes a BootReport once: BootStatus/machine and, when
// the report has one, StateDiskStatus/var. Its facts are fixed at boot,
// like MachineStatus's.
type BootStatus struct {
	Report BootReport
}

// Name implements runtime.Controller.
func (c *BootStatus) Name() string { return "boot-status" }

// Inputs implements runtime.Controller: none, the report is fixed.
func (c *BootStatus) Inputs() []runtime.Input { return nil }

// Outputs implements runtime.Controller.
func (c *BootStatus) Outputs() []string { return []string{TypeBootStatus, TypeStateDiskStatus} }

// Run implements runtime.Controller.
func (c *BootStatus) Run(_ context.Context, _ runtime.Reader, w runtime.Writer) error {
	b := c.Report.Boot
	b.Failed = 0
	for _, s := range b.Stages {
		if s.State == StageFailed {
			b.Failed++
		}
	}
	err := w.Put(TypeBootStatus, IDMachine, b, nil)
	if c.Report.StateDisk != nil {
		err = errors.Join(err, w.Put(TypeStateDiskStatus, IDVar, *c.Report.StateDisk, nil))
	}
	return err
}
