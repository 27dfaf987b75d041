package controllers

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-project/cairn/node/runtime"
)

// ConfigStatus produces ConfigStatus/applied: the cluster config revision
// this node has applied, once every controller that acts on the config has
// converged for it. Report is called with each new revision (the node puts
// it in gossip metadata, which is what Members shows).
type ConfigStatus struct {
	Report func(revision uint64)
}

// Name implements runtime.Controller.
func (c *ConfigStatus) Name() string { return "config-status" }

// Inputs implements runtime.Controller.
func (c *ConfigStatus) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}}
}

// Outputs implements runtime.Controller.
func (c *ConfigStatus) Outputs() []string { return []string{TypeConfigStatus} }

// Run implements runtime.Controller.
func (c *ConfigStatus) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	res, err := r.Get(TypeClusterConfig, IDCluster)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil // no config yet; nothing applied
	}
	if err != nil {
		return err
	}
	spec, ok := res.Spec.(ClusterConfigSpec)
	if !ok {
		return fmt.Errorf("cluster config resource holds %T", res.Spec)
	}
	if err := w.Put(TypeConfigStatus, IDApplied, ConfigStatusSpec{Revision: spec.Revision}, nil); err != nil {
		return fmt.Errorf("write config status: %w", err)
	}
	if c.Report != nil {
		c.Report(spec.Revision)
	}
	return nil
}
