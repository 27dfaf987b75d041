package controllers

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-project/cairn/node/runtime"
)

// ConfigStatus produces ConfigStatus/applied: the cluster config revision
// this node has applied, once every controller that acts on the config has
// converged for it (today: the network, applied or, in process mode,
// planned without error). Report is called with each new revision (the node
// puts it in gossip metadata, which is what Members shows).
type ConfigStatus struct {
	Report func(revision uint64)
}

// Name implements runtime.Controller.
func (c *ConfigStatus) Name() string { return "config-status" }

// Inputs implements runtime.Controller.
func (c *ConfigStatus) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}, {Type: TypeNetworkStatus, ID: IDStatus}}
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
	net, err := r.Get(TypeNetworkStatus, IDStatus)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil // the network has not converged yet
	}
	if err != nil {
		return err
	}
	ns, ok := net.Spec.(NetworkStatusSpec)
	if !ok {
		return fmt.Errorf("network status resource holds %T", net.Spec)
	}
	if ns.Revision != spec.Revision || ns.Error != "" {
		// Keep the last applied revision (rewriting it, since the runtime
		// removes outputs a pass leaves untouched); the network controller
		// retries with backoff and wakes this one when it converges.
		if cur, err := r.Get(TypeConfigStatus, IDApplied); err == nil {
			return w.Put(TypeConfigStatus, IDApplied, cur.Spec, nil)
		}
		return nil
	}
	if err := w.Put(TypeConfigStatus, IDApplied, ConfigStatusSpec{Revision: spec.Revision}, nil); err != nil {
		return fmt.Errorf("write config status: %w", err)
	}
	if c.Report != nil {
		c.Report(spec.Revision)
	}
	return nil
}
