package node

import (
	"context"
	"slices"

	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
)

// healthReport puts the node's failing controllers and sources (from the
// runtime's ControllerStatus), and an unhealthy etcd member (EtcdStatus),
// into its gossip health summary, so that
// `get members` shows "degraded: config-source failing" rather than "ok"
// while a loop keeps failing; and publishes the same list as
// NodeHealth/self.
type healthReport struct {
	report func(failing []string)
	// etcdSettings, when set, gets the etcd settings the healthy member
	// runs with (EtcdStatus), also for gossip: the leader's rollout of a
	// cluster.etcd change waits for it.
	etcdSettings func(string)
}

func (c *healthReport) Name() string { return "health-report" }

func (c *healthReport) Inputs() []runtime.Input {
	return []runtime.Input{{Type: runtime.TypeControllerStatus}, {Type: controllers.TypeEtcdStatus, ID: controllers.IDEtcd}}
}

func (c *healthReport) Outputs() []string { return []string{controllers.TypeNodeHealth} }

func (c *healthReport) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	all, err := r.List(runtime.TypeControllerStatus)
	if err != nil {
		return err
	}
	failing := []string{}
	for _, res := range all {
		if s, ok := res.Spec.(runtime.ControllerStatusSpec); ok && s.State == runtime.StateFailing && res.ID != c.Name() {
			failing = append(failing, res.ID)
		}
	}
	slices.Sort(failing)
	settings := ""
	if res, err := r.Get(controllers.TypeEtcdStatus, controllers.IDEtcd); err == nil {
		if s, ok := res.Spec.(controllers.EtcdStatusSpec); ok {
			if !s.Healthy {
				failing = append(failing, "etcd")
			}
			settings = s.Settings
		}
	}
	if c.etcdSettings != nil {
		c.etcdSettings(settings)
	}
	c.report(failing)
	return w.Put(controllers.TypeNodeHealth, controllers.IDSelf, controllers.NodeHealthSpec{Failing: failing}, nil)
}
