package controllers

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-project/cairn/node/runtime"
)

// ConfigStatus produces ConfigStatus/applied: the cluster config revision
// this node has applied, once every controller that acts on the config has
// converged for it: the network (applied or, in process mode, planned
// without error) and, on a control plane, etcd (EtcdSpec's pass for the
// revision, with any new cluster.etcd settings running: during a rollout a
// member that waits for its turn has not applied the revision yet). Report is called with each new revision (the node
// puts it in gossip metadata, which is what Members shows).
type ConfigStatus struct {
	Report func(revision uint64)
}

// Name implements runtime.Controller.
func (c *ConfigStatus) Name() string { return "config-status" }

// Inputs implements runtime.Controller.
func (c *ConfigStatus) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}, {Type: TypeNetworkStatus, ID: IDStatus}, {Type: TypeEtcdPhase, ID: IDEtcd}}
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
	etcdBehind, err := etcdBehind(r, spec.Revision)
	if err != nil {
		return err
	}
	if ns.Revision != spec.Revision || ns.Error != "" || etcdBehind {
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

// etcdBehind reports whether this node's etcd has not followed revision
// yet: its spec controller's last pass saw an older one, or new settings
// wait for the leader's turn. A node without etcd is never behind.
func etcdBehind(r runtime.Reader, revision uint64) (bool, error) {
	phase, ok, err := getSpec[EtcdPhaseSpec](r, TypeEtcdPhase, IDEtcd)
	if err != nil || !ok {
		return false, err
	}
	return phase.Revision != revision || phase.Pending != "", nil
}
